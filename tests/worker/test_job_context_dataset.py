"""What a finetune executor gets from the runner's JobContext.dataset (Postgres,
S3 on moto): the owner's images as stored, in upload order, with their captions;
a dataset that is gone, or is another owner's, fails the job `invalid_params`."""

import uuid

import pytest

from db.datasets import create_dataset
from db.jobs import create_job
from db.storage import make_storage
from db.uploads import PreparedImage
from worker.executors.interface import TrainingImage
from worker.failures import JobFailure
from worker.job_context import RunnerJobContext
from worker.runner import JobRunner


class BrokenStorage:
    """Storage that loses what it is given: the dataset's rows outlive its objects."""

    def put(self, key: str, data: bytes, content_type: str) -> None:
        pass


def store_dataset(sessions, settings, owner: str) -> uuid.UUID:
    images = [
        PreparedImage(filename="b.png", data=b"png b", width=4, height=4, sha256="0" * 64, caption="a bee"),
        PreparedImage(filename="a.png", data=b"png a", width=4, height=4, sha256="1" * 64, caption=None),
    ]
    with sessions.begin() as session:
        return create_dataset(session, make_storage(settings), owner=owner, name=None, images=images).id


def dataset_context(sessions, settings, dataset_id: uuid.UUID) -> RunnerJobContext:
    """The context a runner lends the executor of a finetune job of owner alice."""
    with sessions.begin() as session:
        job = create_job(
            session,
            owner="alice",
            kind="finetune",
            model="tiny-sd",
            params={"dataset_id": str(dataset_id), "instance_prompt": "sks"},
        )
    runner = JobRunner(settings)
    return RunnerJobContext(
        runner,
        runner.pipelines,
        job,
        text_models=runner.text_models,
        upscalers=runner.upscalers,
        speech_models=runner.speech_models,
        clip_models=runner.clip_models,
        drain=runner.drain,
    )


def test_the_executor_reads_the_owners_images_in_upload_order(sessions, settings):
    dataset_id = store_dataset(sessions, settings, owner="alice")

    images = dataset_context(sessions, settings, dataset_id).dataset(dataset_id)

    assert images == [TrainingImage("b.png", b"png b", "a bee"), TrainingImage("a.png", b"png a", None)]


@pytest.mark.parametrize("whose", ["missing", "bob's"])
def test_a_dataset_that_is_gone_or_not_the_owners_fails_the_job(sessions, settings, whose):
    dataset_id = uuid.uuid4() if whose == "missing" else store_dataset(sessions, settings, owner="bob")

    with pytest.raises(JobFailure) as failure:
        dataset_context(sessions, settings, dataset_id).dataset(dataset_id)

    assert failure.value.code == "invalid_params"
    assert str(dataset_id) in str(failure.value)


def test_an_image_missing_from_storage_fails_the_job(sessions, settings):
    with sessions.begin() as session:
        dataset_id = create_dataset(
            session,
            BrokenStorage(),
            owner="alice",
            name=None,
            images=[PreparedImage(filename="lost.png", data=b"", width=1, height=1, sha256="0" * 64, caption=None)],
        ).id

    with pytest.raises(JobFailure) as failure:
        dataset_context(sessions, settings, dataset_id).dataset(dataset_id)

    assert failure.value.code == "invalid_params" and "lost.png" in str(failure.value)
