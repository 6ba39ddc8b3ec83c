"""POST /api/v1/jobs with an adapter: only the submitter's own adapter, trained on
the job's model, is accepted; anything else is refused with nothing written."""

import uuid

import pytest
from sqlalchemy import func, select

from db.models import Job
from tests.support.adapters import insert_adapter


@pytest.fixture
def own_adapter(session, owner):
    return insert_adapter(session, owner=owner, base_model="tiny-sd", storage_key="adapters/own.safetensors")


def submit_with_adapter(client, adapter_id, **body):
    params = {"prompt": "a red fox", "adapter": {"id": str(adapter_id), "scale": 0.8}}
    return client.post("/api/v1/jobs", json={"params": params, **body})


def jobs_in_queue(session) -> int:
    return session.scalar(select(func.count()).select_from(Job).where(Job.kind == "generate"))


def test_an_own_adapter_for_the_jobs_model_is_accepted(client, own_adapter, queued_job_ids):
    response = submit_with_adapter(client, own_adapter.id, model="tiny-sd")

    assert response.status_code == 202
    assert response.json["params"]["adapter"] == {"id": str(own_adapter.id), "scale": 0.8}
    assert queued_job_ids() == [response.json["id"]]


def test_the_adapter_scale_defaults_to_one(client, own_adapter):
    params = {"prompt": "a fox", "adapter": {"id": str(own_adapter.id)}}

    response = client.post("/api/v1/jobs", json={"params": params})

    assert response.status_code == 202
    assert response.json["params"]["adapter"]["scale"] == 1.0


def test_an_unknown_adapter_is_not_found(client, session, queued_job_ids):
    response = submit_with_adapter(client, uuid.uuid4())

    assert response.status_code == 404
    error = response.json["error"]
    assert error["code"] == "adapter_not_found"
    assert error["details"] == [{"field": "params.adapter.id", "message": error["message"]}]
    assert jobs_in_queue(session) == 0 and queued_job_ids() == []


def test_another_owners_adapter_answers_as_an_unknown_one(client, session):
    foreign = insert_adapter(session, owner="bob", base_model="tiny-sd", storage_key="adapters/bob.safetensors")
    unknown = submit_with_adapter(client, uuid.uuid4())

    response = submit_with_adapter(client, foreign.id)

    assert response.status_code == 404
    assert response.json["error"] == unknown.json["error"]
    assert jobs_in_queue(session) == 0


def test_an_adapter_trained_for_another_model_is_refused(client, session, owner, queued_job_ids):
    other = insert_adapter(session, owner=owner, base_model="another-model", storage_key="adapters/x.safetensors")

    response = submit_with_adapter(client, other.id, model="tiny-sd")

    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "adapter_model_mismatch"
    assert error["details"][0]["field"] == "params.adapter.id"
    assert "another-model" in error["details"][0]["message"]
    assert jobs_in_queue(session) == 0 and queued_job_ids() == []


@pytest.mark.parametrize("scale", [-0.1, 2.5, "strong"])
def test_a_scale_out_of_range_is_a_validation_error(client, own_adapter, scale):
    params = {"prompt": "a fox", "adapter": {"id": str(own_adapter.id), "scale": scale}}

    response = client.post("/api/v1/jobs", json={"params": params})

    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error"
    assert response.json["error"]["details"][0]["field"] == "params.adapter.scale"
