"""POST /api/v1/jobs of kind evaluate: only the submitter's own images (jobs,
datasets, uploads) are measured, on a clip model, within GENQ_MAX_EVAL_IMAGES;
anything else is refused naming the field, with nothing written."""

import io
import uuid

import pytest
from sqlalchemy import func, select

from db.models import Job
from tests.support.uploads import image_bytes, upload


def evaluate(client, images, **params):
    return client.post("/api/v1/jobs", json={"kind": "evaluate", "params": {"images": images, **params}})


def post_upload(client):
    data = {"file": (io.BytesIO(image_bytes()), "a.png")}
    return client.post("/api/v1/uploads", data=data, content_type="multipart/form-data")


def evaluations(session) -> int:
    return session.scalar(select(func.count()).select_from(Job).where(Job.kind == "evaluate"))


def refusal(response, status: int) -> tuple[str, list[str]]:
    assert response.status_code == status, response.json
    error = response.json["error"]
    return error["code"], [detail["field"] for detail in error.get("details", [])]


def test_an_evaluation_of_own_jobs_is_queued_on_the_default_clip_model(client, make_job):
    job = make_job("succeeded", images=2)

    response = evaluate(client, {"job_ids": [str(job.id)]})

    assert response.status_code == 202, response.json
    body = response.json
    assert (body["kind"], body["model"], body["status"], body["result"]) == ("evaluate", "tiny-clip", "queued", None)
    assert body["params"]["metrics"] == ["clip_score"]


@pytest.mark.parametrize("foreign", ["job", "dataset", "upload"])
def test_another_owners_images_answer_as_missing_ones(client, client_for, make_job, session, foreign):
    bob = client_for("bob")
    if foreign == "job":
        images = {"job_ids": [str(make_job("succeeded", owner="bob").id)]}
        missing = {"job_ids": [str(uuid.uuid4())]}
        field = "params.images.job_ids.0"
    elif foreign == "dataset":
        dataset = upload(bob, [("cat.png", image_bytes())]).json
        images, missing, field = (
            {"dataset_id": dataset["id"]},
            {"dataset_id": str(uuid.uuid4())},
            "params.images.dataset_id",
        )
    else:
        own = post_upload(bob).json
        images, missing = {"upload_ids": [own["id"]]}, {"upload_ids": [str(uuid.uuid4())]}
        field = "params.images.upload_ids.0"

    response = evaluate(client, images, prompts=["a cat"])
    unknown = evaluate(client, missing, prompts=["a cat"])

    assert refusal(response, 404) == (f"{foreign}_not_found", [field])
    assert response.json == unknown.json
    assert evaluations(session) == 0


def test_another_owners_reference_set_is_not_found(client, make_job, session):
    own, foreign = make_job("succeeded", images=2), make_job("succeeded", owner="bob", images=2)

    response = evaluate(client, {"job_ids": [str(own.id)]}, metrics=["fid"], reference={"job_ids": [str(foreign.id)]})

    assert refusal(response, 404) == ("job_not_found", ["params.reference.job_ids.0"])
    assert evaluations(session) == 0


def test_more_images_than_the_cap_is_422_naming_the_set(client_with, make_job, session):
    job = make_job("succeeded", images=3)

    response = evaluate(client_with(max_eval_images=2), {"job_ids": [str(job.id)]})

    assert refusal(response, 422) == ("validation_error", ["params.images"])
    assert "more than the 2" in response.json["error"]["message"]
    assert evaluations(session) == 0


@pytest.mark.parametrize(
    ("images", "params", "field"),
    [
        ({}, {}, "params.images"),
        ({"job_ids": []}, {}, "params.images"),
        (None, {"metrics": ["bleu"]}, "params.metrics.0"),
        (None, {"metrics": []}, "params.metrics"),
        (None, {"metrics": ["fid"]}, "params.reference"),
        (None, {"reference": {"job_ids": []}}, "params.reference"),
    ],
)
def test_a_malformed_evaluation_is_422_naming_the_field(client, make_job, session, images, params, field):
    if images is None:
        images = {"job_ids": [str(make_job("succeeded", images=2).id)]}

    response = evaluate(client, images, **params)

    code, fields = refusal(response, 422)
    assert code == "validation_error" and field in fields
    assert evaluations(session) == 0


def test_a_job_without_images_is_an_empty_set(client, make_job):
    response = evaluate(client, {"job_ids": [str(make_job("succeeded", images=0).id)]})

    assert refusal(response, 422) == ("validation_error", ["params.images"])
    assert "nothing to evaluate" in response.json["error"]["message"]


def test_an_unfinished_job_cannot_be_evaluated(client, make_job):
    response = evaluate(client, {"job_ids": [str(make_job("running").id)]})

    assert refusal(response, 422) == ("validation_error", ["params.images.job_ids.0"])


def test_fid_needs_two_images_in_each_set(client, make_job):
    one, two = make_job("succeeded", images=1), make_job("succeeded", images=2)

    response = evaluate(client, {"job_ids": [str(two.id)]}, metrics=["fid"], reference={"job_ids": [str(one.id)]})

    assert refusal(response, 422) == ("validation_error", ["params.reference"])


def test_uploads_need_one_prompt_or_one_each(client):
    ids = [post_upload(client).json["id"] for _ in range(3)]

    missing = evaluate(client, {"upload_ids": ids})
    two = evaluate(client, {"upload_ids": ids}, prompts=["a", "b"])

    assert refusal(missing, 422) == ("validation_error", ["params.prompts"])
    assert refusal(two, 422) == ("validation_error", ["params.prompts"])
    assert evaluate(client, {"upload_ids": ids}, prompts=["a"]).status_code == 202
    assert evaluate(client, {"upload_ids": ids}, prompts=["a", "b", "c"]).status_code == 202


def test_a_model_of_another_kind_is_422_naming_the_model(client, make_job):
    response = evaluate_on(client, "tiny-sd", {"job_ids": [str(make_job("succeeded").id)]})

    assert refusal(response, 422) == ("model_kind_mismatch", ["model"])


def test_a_generate_job_asking_for_a_score_without_a_clip_model_is_422(client_with, tmp_path, models_dir):
    (tmp_path / "tiny-sd").symlink_to(models_dir / "tiny-sd")
    client = client_with(models_dir=tmp_path)

    response = client.post("/api/v1/jobs", json={"params": {"prompt": "a fox", "score": True}})

    assert refusal(response, 422) == ("validation_error", ["params.score"])


def evaluate_on(client, model, images):
    return client.post("/api/v1/jobs", json={"kind": "evaluate", "model": model, "params": {"images": images}})
