"""The retention sweep (db/retention.py) on Postgres with local storage and with S3
(moto's server): after it, storage holds exactly the objects rows still name;
an adapter's weights, recent results and what queued or running jobs name stay;
rounds are bounded; an owner's overrides win; one process sweeps at a time."""

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from db.accounts import ensure_owner
from db.deletion import ids_in_use
from db.models import Adapter, Artifact, Dataset, Job, JobEvent, Upload
from db.retention import Retention, owner_retention, sweep_expired
from db.session import make_session_factory
from db.settings import Settings
from db.storage import artifact_key, checkpoint_key, make_storage
from db.sweeper_lock import sweeper_lock
from migrations import upgrade_to_head
from tests.support.stored import (
    finished_job,
    referenced_keys,
    stored_dataset,
    stored_keys,
    stored_upload,
    trained_adapter,
)

DAY = timedelta(days=1)


@pytest.fixture(params=["local", "s3"])
def storage_url(request, tmp_path, settings):
    if request.param == "local":
        return f"file://{tmp_path}/objects"
    return f"{settings.storage_url}/{uuid.uuid4().hex}"  # a bucket folder of this test's own


@pytest.fixture
def retention_settings(settings, storage_url) -> Settings:
    return settings.model_copy(
        update={
            "storage_url": storage_url,
            "result_retention_days": 7.0,
            "checkpoint_retention_hours": 24.0,
            "upload_retention_days": 3.0,
            "job_retention_days": 30.0,
        }
    )


@pytest.fixture
def storage(retention_settings):
    return make_storage(retention_settings)


def sweep_until_done(sessions, storage, settings):
    while swept := sweep_expired(sessions, storage, settings):
        pass
    assert swept is not None  # no other sweeper held the lock


def test_after_the_sweep_storage_holds_exactly_the_objects_rows_name(sessions, storage, retention_settings):
    with sessions() as session:
        expired = finished_job(session, storage, finished_ago=10 * DAY, images=2, checkpoint=True, late_object=True)
        recent = finished_job(session, storage, finished_ago=2 * DAY, checkpoint=True, late_object=True)
        adapter = trained_adapter(session, storage, finished_ago=10 * DAY)
        forgotten = finished_job(session, storage, finished_ago=40 * DAY, status="failed", late_object=True)
        old_upload = stored_upload(session, storage, made_ago=5 * DAY)
        used_upload = stored_upload(session, storage, made_ago=5 * DAY)
        old_dataset = stored_dataset(session, storage, made_ago=5 * DAY)
        used_dataset = stored_dataset(session, storage, made_ago=5 * DAY)
        new_upload = stored_upload(session, storage, made_ago=DAY)
        # Queued jobs that name an upload and a dataset: those stay however old.
        session.add_all(
            [
                Job(
                    owner="alice",
                    kind="generate",
                    model="tiny-sd",
                    params={"prompt": "x", "init_image": str(used_upload.id)},
                ),
                Job(owner="alice", kind="finetune", model="tiny-sd", params={"dataset_id": str(used_dataset.id)}),
            ]
        )
        session.commit()

    sweep_until_done(sessions, storage, retention_settings)

    with sessions() as session:
        assert stored_keys(storage) == referenced_keys(session)
        # Results older than 7 days expired; the rows stay, saying so.
        assert [
            a.expired_at is not None for a in session.scalars(select(Artifact).where(Artifact.job_id == expired.id))
        ] == [True, True]
        # A 2-day-old job keeps its artifact, its checkpoint and late object are gone.
        assert stored_keys(storage) >= {recent.artifacts[0].storage_key}
        assert checkpoint_key(recent.id) not in stored_keys(storage)
        assert artifact_key(recent.id, 3, 0, "png") not in stored_keys(storage)
        # The adapter's weights outlive its job's results; its validation image does not.
        weights_key = session.get(Adapter, adapter.id).artifact.storage_key
        assert weights_key in stored_keys(storage)
        assert session.get(Adapter, adapter.id).artifact.expired_at is None
        training = session.scalars(
            select(Artifact).where(Artifact.job_id == adapter.training_job_id, Artifact.index == 1)
        ).one()
        assert training.expired_at is not None
        # A job finished 40 days ago is gone, with its events; the adapter's job stays.
        assert session.get(Job, forgotten.id) is None
        assert session.scalars(select(JobEvent).where(JobEvent.job_id == forgotten.id)).all() == []
        assert session.get(Job, adapter.training_job_id) is not None
        # Uploads and datasets older than 3 days that no queued job names are gone.
        assert {upload.id for upload in session.scalars(select(Upload))} == {used_upload.id, new_upload.id}
        assert {dataset.id for dataset in session.scalars(select(Dataset))} == {used_dataset.id}
        assert old_upload.storage_key not in stored_keys(storage)
        assert not any(key.startswith(f"datasets/{old_dataset.id}/") for key in stored_keys(storage))


def test_nothing_is_swept_with_retention_unset_but_leftovers(sessions, storage, settings, storage_url):
    keep_all = settings.model_copy(update={"storage_url": storage_url})
    with sessions() as session:
        job = finished_job(session, storage, finished_ago=400 * DAY, checkpoint=True, late_object=True)
        upload = stored_upload(session, storage, made_ago=400 * DAY)

    sweep_until_done(sessions, storage, keep_all)

    with sessions() as session:
        assert stored_keys(storage) == {job.artifacts[0].storage_key, upload.storage_key} == referenced_keys(session)
        assert session.get(Job, job.id).results_swept_at is None


def test_a_round_is_bounded_and_the_next_one_goes_on(sessions, storage, retention_settings):
    bounded = retention_settings.model_copy(update={"retention_batch_size": 2})
    with sessions() as session:
        for _ in range(5):
            finished_job(session, storage, finished_ago=8 * DAY)

    rounds = []
    while swept := sweep_expired(sessions, storage, bounded):
        rounds.append(swept.results)

    assert rounds == [2, 2, 1]
    with sessions() as session:
        assert stored_keys(storage) == referenced_keys(session) == set()


def test_an_owners_overrides_win_over_the_settings(sessions, storage, retention_settings):
    with sessions() as session:
        ensure_owner(session, "bob").retention = {"result_days": None, "job_days": 1.0}
        ensure_owner(session, "carol").retention = {"result_days": 1.0}
        session.commit()
        alice_job = finished_job(session, storage, finished_ago=3 * DAY)
        bob_results = finished_job(session, storage, owner="bob", finished_ago=timedelta(hours=20))
        bob_job = finished_job(session, storage, owner="bob", finished_ago=3 * DAY)
        carol_job = finished_job(session, storage, owner="carol", finished_ago=3 * DAY)

    sweep_until_done(sessions, storage, retention_settings)

    with sessions() as session:
        assert owner_retention(session, "bob", retention_settings) == Retention(None, 24.0, 3.0, 1.0)
        assert session.get(Job, alice_job.id).artifacts[0].expired_at is None  # 3 days < alice's 7
        assert session.get(Job, bob_results.id).artifacts[0].expired_at is None  # bob keeps results
        assert session.get(Job, bob_job.id) is None  # but not jobs older than a day
        assert session.get(Job, carol_job.id).artifacts[0].expired_at is not None
        assert stored_keys(storage) == referenced_keys(session)


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_one_process_sweeps_at_a_time(backend, request, tmp_path, storage, retention_settings):
    if backend == "postgres":
        url = retention_settings.database_url
    else:
        url = f"sqlite:///{tmp_path / 'genq.db'}"
        upgrade_to_head(url)
    sessions = make_session_factory(url)
    with sessions() as session:
        job = finished_job(session, storage, finished_ago=10 * DAY)
    other_process = make_session_factory(url).kw["bind"]  # another pool: another connection, another file handle

    with sweeper_lock(other_process) as held:
        assert held
        assert sweep_expired(sessions, storage, retention_settings) is None
        with sweeper_lock(sessions.kw["bind"]) as also_held:
            assert not also_held
    with sessions() as session:
        assert session.get(Job, job.id).artifacts[0].expired_at is None

    swept = sweep_expired(sessions, storage, retention_settings)

    assert swept is not None and swept.results == 1
    with sessions() as session:
        assert session.get(Job, job.id).artifacts[0].expired_at is not None
    other_process.dispose()
    sessions.kw["bind"].dispose()


def test_what_queued_and_running_jobs_name_is_in_use(sessions):
    adapter_id, second_adapter_id, dataset_id, upload_id, mask_id, idle_id = (uuid.uuid4() for _ in range(6))
    with sessions() as session:
        session.add_all(
            [
                Job(
                    owner="alice",
                    kind="generate",
                    model="tiny-sd",
                    params={
                        "prompt": "x",
                        "adapters": [
                            {"id": str(adapter_id), "scale": 1.0},
                            {"id": str(second_adapter_id), "scale": 0.5},
                        ],
                        "mask_image": str(mask_id),
                    },
                ),
                Job(
                    owner="alice",
                    kind="finetune",
                    model="tiny-sd",
                    status="running",
                    params={"dataset_id": str(dataset_id)},
                ),
                Job(
                    owner="alice",
                    kind="generate",
                    model="tiny-sd",
                    params={"prompt": "x", "init_image": str(upload_id)},
                ),
                Job(
                    owner="alice",
                    kind="generate",
                    model="tiny-sd",
                    status="succeeded",
                    params={"prompt": "x", "init_image": str(idle_id)},
                ),
            ]
        )
        session.commit()

        assert ids_in_use(session, Adapter, [adapter_id, second_adapter_id, idle_id]) == {
            adapter_id,
            second_adapter_id,
        }
        assert ids_in_use(session, Dataset, [dataset_id, adapter_id]) == {dataset_id}
        assert ids_in_use(session, Upload, [upload_id, mask_id, idle_id, adapter_id]) == {upload_id, mask_id}
        assert ids_in_use(session, Upload, []) == set()
