"""POST /api/v1/jobs with adapters: only the submitter's own adapters, trained on
the job's model, at most GENQ_MAX_ADAPTERS_PER_JOB of them, are accepted; anything
else is refused with nothing written. `adapter` is shorthand for a list of one."""

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
    assert response.json["params"]["adapters"] == [{"id": str(own_adapter.id), "scale": 0.8}]
    assert "adapter" not in response.json["params"]
    assert queued_job_ids() == [response.json["id"]]


def test_the_adapter_scale_defaults_to_one(client, own_adapter):
    params = {"prompt": "a fox", "adapter": {"id": str(own_adapter.id)}}

    response = client.post("/api/v1/jobs", json={"params": params})

    assert response.status_code == 202
    assert response.json["params"]["adapters"][0]["scale"] == 1.0


def test_an_unknown_adapter_is_not_found(client, session, queued_job_ids):
    response = submit_with_adapter(client, uuid.uuid4())

    assert response.status_code == 404
    error = response.json["error"]
    assert error["code"] == "adapter_not_found"
    assert error["details"] == [{"field": "params.adapters.0.id", "message": error["message"]}]
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
    assert error["details"][0]["field"] == "params.adapters.0.id"
    assert "another-model" in error["details"][0]["message"]
    assert jobs_in_queue(session) == 0 and queued_job_ids() == []


@pytest.mark.parametrize("scale", [-0.1, 2.5, "strong"])
def test_a_scale_out_of_range_is_a_validation_error(client, own_adapter, scale):
    params = {"prompt": "a fox", "adapter": {"id": str(own_adapter.id), "scale": scale}}

    response = client.post("/api/v1/jobs", json={"params": params})

    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error"
    assert response.json["error"]["details"][0]["field"] == "params.adapter.scale"


def own_adapters(session, owner, count: int) -> list:
    return [
        insert_adapter(session, owner=owner, base_model="tiny-sd", storage_key=f"adapters/{index}.safetensors")
        for index in range(count)
    ]


def test_several_adapters_are_kept_in_id_order_whatever_order_they_come_in(client, session, owner):
    adapters = [{"id": str(adapter.id), "scale": 0.5} for adapter in own_adapters(session, owner, 3)]

    response = client.post("/api/v1/jobs", json={"params": {"prompt": "a fox", "adapters": adapters[::-1]}})

    assert response.status_code == 202
    assert response.json["params"]["adapters"] == sorted(adapters, key=lambda adapter: adapter["id"])


def test_the_shorthand_joins_the_list(client, session, owner):
    first, second = own_adapters(session, owner, 2)
    params = {"prompt": "a fox", "adapter": {"id": str(first.id)}, "adapters": [{"id": str(second.id)}]}

    response = client.post("/api/v1/jobs", json={"params": params})

    assert response.status_code == 202
    assert {adapter["id"] for adapter in response.json["params"]["adapters"]} == {str(first.id), str(second.id)}


def test_more_adapters_than_the_cap_are_refused(client, session, owner, queued_job_ids):
    adapters = [{"id": str(adapter.id)} for adapter in own_adapters(session, owner, 5)]

    response = client.post("/api/v1/jobs", json={"params": {"prompt": "a fox", "adapters": adapters}})

    assert response.status_code == 422
    [detail] = response.json["error"]["details"]
    assert detail["field"] == "params.adapters"
    assert "GENQ_MAX_ADAPTERS_PER_JOB (4)" in detail["message"]
    assert jobs_in_queue(session) == 0 and queued_job_ids() == []


def test_an_adapter_named_twice_is_refused(client, own_adapter):
    twice = [{"id": str(own_adapter.id), "scale": 0.5}, {"id": str(own_adapter.id), "scale": 1.0}]

    response = client.post("/api/v1/jobs", json={"params": {"prompt": "a fox", "adapters": twice}})

    assert response.status_code == 422
    assert response.json["error"]["details"][0]["field"] == "params.adapters"


def test_another_owners_adapter_among_own_ones_is_not_found_by_its_place(client, session, owner):
    mine = own_adapters(session, owner, 1)[0]
    foreign = insert_adapter(session, owner="bob", base_model="tiny-sd", storage_key="adapters/bob.safetensors")
    adapters = sorted([{"id": str(mine.id)}, {"id": str(foreign.id)}], key=lambda adapter: adapter["id"])

    response = client.post("/api/v1/jobs", json={"params": {"prompt": "a fox", "adapters": adapters}})

    assert response.status_code == 404
    error = response.json["error"]
    assert error["code"] == "adapter_not_found"
    place = [adapter["id"] for adapter in adapters].index(str(foreign.id))
    assert error["details"][0]["field"] == f"params.adapters.{place}.id"
    assert jobs_in_queue(session) == 0
