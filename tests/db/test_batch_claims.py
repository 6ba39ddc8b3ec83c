"""The batch claim (db/claims.py claim_batch, peek_batch) on Postgres and SQLite:
a batch holds only jobs with its first job's batch key (db/batches.py), chosen
by the claim policy (fair share, then priority, then age) within an image cap;
everything else stays queued; concurrent claimers never share a job."""

import uuid

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from db import jobs
from db.batches import batch_key, job_batch_key
from db.claims import QueuedBatch, claim_batch, peek_batch
from db.kinds.generate import GenerateSpec
from db.models import Job
from db.settings import Settings
from tests.db.conftest import assert_claimed_once_each

LEASE = 30.0
SHAPE = {"width": 512, "height": 512, "steps": 30, "guidance_scale": 7.5, "scheduler": "euler"}


def add_job(
    sessions, owner: str = "alice", *, model: str = "tiny-sd", kind: str = "generate", priority: int = 0, **params
) -> uuid.UUID:
    """A job with params stored as submit stores them (the spec's full dump)."""
    spec = GenerateSpec(prompt=f"a prompt of {owner}", **{**SHAPE, **params})
    with sessions.begin() as session:
        job = jobs.create_job(
            session, owner=owner, kind=kind, model=model, params=spec.model_dump(mode="json"), priority=priority
        )
        return job.id


def claim(sessions, max_images: int, worker_id: str = "w1") -> list[uuid.UUID]:
    with sessions.begin() as session:
        batch = claim_batch(
            session, kinds=["generate"], worker_id=worker_id, lease_seconds=LEASE, max_images=max_images
        )
        assert all(job.status == "running" and job.lease_owner == worker_id for job in batch)
        return [job.id for job in batch]


def peek(sessions, max_images: int) -> QueuedBatch:
    with sessions() as session:
        return peek_batch(session, kinds=["generate"], max_images=max_images)


def statuses(sessions) -> dict[uuid.UUID, str]:
    with sessions() as session:
        return {job_id: status for job_id, status in session.execute(select(Job.id, Job.status))}  # noqa: C416 (rows, not pairs)


def test_a_batch_takes_only_jobs_that_can_share_the_first_jobs_pipeline_call(sessions):
    adapter = {"id": str(uuid.uuid4()), "scale": 0.8}
    first = add_job(sessions, seed=1, adapter=adapter, negative_prompt="blurry")
    # Prompts, negative prompts, seeds and image counts may differ.
    alike = [
        add_job(sessions, "bob", seed=2, adapter=adapter, negative_prompt="text, watermark"),
        add_job(sessions, "carol", seed=3, adapter=adapter, negative_prompt="blurry", num_images=2),
    ]
    different = [
        add_job(sessions, adapter=adapter),  # no negative prompt at all
        add_job(sessions, adapter=adapter, steps=20),
        add_job(sessions, adapter=adapter, width=768),
        add_job(sessions, adapter=adapter, scheduler=None),
        add_job(sessions, adapter=adapter, guidance_scale=5.0),
        add_job(sessions, adapter={**adapter, "scale": 1.0}),
        add_job(sessions, adapter={"id": str(uuid.uuid4()), "scale": 0.8}),
        add_job(sessions),
        add_job(sessions, adapter=adapter, model="other-model"),
    ]

    batch = claim(sessions, max_images=16)

    assert batch[0] == first and set(batch[1:]) == set(alike)
    assert {statuses(sessions)[job_id] for job_id in different} == {"queued"}


def test_a_batch_takes_jobs_of_the_same_adapter_set_in_any_order(sessions):
    first_adapter, second_adapter = ({"id": str(uuid.uuid4()), "scale": 0.8} for _ in range(2))
    first = add_job(sessions, seed=1, adapters=[first_adapter, second_adapter])
    alike = [add_job(sessions, "bob", seed=2, adapters=[second_adapter, first_adapter])]
    different = [
        add_job(sessions, adapter=first_adapter),
        add_job(sessions, adapters=[first_adapter, {**second_adapter, "scale": 1.0}]),
        add_job(sessions, adapters=[first_adapter, second_adapter, {"id": str(uuid.uuid4()), "scale": 0.8}]),
        add_job(sessions),
    ]

    batch = claim(sessions, max_images=16)

    assert batch[0] == first and set(batch[1:]) == set(alike)
    assert {statuses(sessions)[job_id] for job_id in different} == {"queued"}
    with sessions() as session:
        assert len({job_batch_key(session.get(Job, job_id)) for job_id in batch}) == 1


def test_the_worker_and_the_claim_agree_on_the_batch_key(sessions):
    add_job(sessions, seed=1, width=None, height=None, scheduler=None)
    add_job(sessions, "bob", seed=2, width=None, height=None, scheduler=None, num_images=3)

    batch = claim(sessions, max_images=8)

    with sessions() as session:
        keys = {job_batch_key(session.get(Job, job_id)) for job_id in batch}
    assert len(batch) == 2 and len(keys) == 1
    assert keys.pop() == batch_key("generate", "tiny-sd", {**SHAPE, "width": None, "height": None, "scheduler": None})


def test_fair_share_gives_a_second_owners_single_job_a_place_in_the_batch(sessions):
    for seed in range(10):
        add_job(sessions, "alice", seed=seed)
    bobs = add_job(sessions, "bob", seed=99)

    batch = claim(sessions, max_images=4)

    assert len(batch) == 4 and bobs in batch


def test_within_the_batch_higher_priority_first_then_older_first(sessions):
    low_old, _low_new = add_job(sessions, seed=1), add_job(sessions, seed=2)
    high_old, high_new = add_job(sessions, seed=3, priority=5), add_job(sessions, seed=4, priority=5)

    assert claim(sessions, max_images=3) == [high_old, high_new, low_old]


def test_the_images_of_a_batch_stay_within_the_cap_passing_over_jobs_too_big_for_the_room_left(sessions):
    first = add_job(sessions, seed=1, num_images=3)
    too_big = add_job(sessions, seed=2, num_images=6)
    fits = add_job(sessions, seed=3, num_images=4)
    fills_it = add_job(sessions, seed=4, num_images=1)
    add_job(sessions, seed=5, num_images=1)

    assert claim(sessions, max_images=8) == [first, fits, fills_it]
    assert statuses(sessions)[too_big] == "queued"


def test_a_first_job_bigger_than_the_cap_runs_alone(sessions):
    big = add_job(sessions, seed=1, num_images=8)
    add_job(sessions, seed=2)

    assert claim(sessions, max_images=4) == [big]


def test_a_cap_of_one_image_claims_one_job(sessions):
    first = add_job(sessions, seed=1)
    add_job(sessions, seed=2)

    assert claim(sessions, max_images=1) == [first]


def test_jobs_of_kinds_that_are_never_batched_are_claimed_one_at_a_time(sessions):
    first = add_job(sessions, kind="textgen", seed=1)
    add_job(sessions, kind="textgen", seed=1)

    with sessions.begin() as session:
        batch = claim_batch(session, kinds=["textgen"], worker_id="w1", lease_seconds=LEASE, max_images=8)

    assert [job.id for job in batch] == [first]


def test_peek_shows_what_the_next_batch_would_take_without_claiming_it(sessions):
    assert peek(sessions, max_images=8) == QueuedBatch(0, 0)
    add_job(sessions, seed=1, num_images=2)
    assert peek(sessions, max_images=8) == QueuedBatch(1, 2)

    add_job(sessions, steps=10)  # queued, but not a companion
    add_job(sessions, "bob", seed=2, num_images=3)
    add_job(sessions, "carol", seed=3, num_images=4)  # no room left for it

    assert peek(sessions, max_images=6) == QueuedBatch(2, 5)
    assert set(statuses(sessions).values()) == {"queued"}


@pytest.mark.parametrize("sessions", ["postgres"], indirect=True)  # threads against row locks
def test_concurrent_batch_claimers_never_get_the_same_job(sessions):
    all_ids = {add_job(sessions, owner, seed=seed) for owner in ("alice", "bob") for seed in range(30)}
    assert_claimed_once_each(sessions, all_ids, lambda worker: claim(sessions, max_images=4, worker_id=worker))


def test_batching_is_on_for_cuda_only_unless_max_batch_is_set(monkeypatch):
    automatic = Settings()
    assert [automatic.max_batch_images(device) for device in ("cuda", "cpu", "mps")] == [8, 1, 1]

    monkeypatch.setenv("GENQ_MAX_BATCH", "16")
    assert Settings().max_batch_images("cpu") == 16
    monkeypatch.setenv("GENQ_MAX_BATCH", "0")
    with pytest.raises(ValidationError):
        Settings()
