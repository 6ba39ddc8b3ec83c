"""Owners see and touch only their own jobs, datasets and adapters: every API
route and page that names one answers another owner with the same 404 as one
that does not exist, and lists show only one's own. The matrix is read from the
app's routes, so a route added later is checked too."""

import uuid

import pytest

from db.models import Job
from tests.support.adapters import insert_adapter
from tests.support.forms import csrf_token
from tests.support.routes import fill, routes
from tests.support.uploads import image_bytes, upload

NOT_FOUND_CODES = {404}


@pytest.fixture
def alices_job(make_job):
    """A finished job of the default owner, with an image: every route has something to show."""
    return make_job("succeeded", images=1)


@pytest.fixture
def bob(client_for):
    return client_for("bob")


def job_routes(app, blueprint):
    return [(method, rule) for method, rule in routes(app, blueprint) if "<uuid:job_id>" in rule]


def test_every_api_route_on_a_job_answers_another_owner_404(app, client, bob, alices_job):
    checked = []
    for method, rule in job_routes(app, "api"):
        path = fill(rule, job_id=alices_job.id, index=0)
        # Bob first: the owner's DELETE (the last routes) leaves nothing to ask about.
        as_bob = bob.open(path, method=method, json={})
        unknown = bob.open(fill(rule, index=0), method=method, json={})
        as_owner = client.open(path, method=method, json={})

        assert as_owner.status_code not in NOT_FOUND_CODES, (method, rule, as_owner.data)
        assert as_bob.status_code == 404, (method, rule, as_bob.data)
        assert as_bob.json == unknown.json, "someone else's job must look exactly like a missing one"
        assert str(alices_job.id) not in as_bob.get_data(as_text=True)
        checked.append(rule)
    assert "/api/v1/jobs/<uuid:job_id>" in checked
    assert "/api/v1/jobs/<uuid:job_id>/artifacts/<int:index>" in checked


def test_every_page_on_a_job_answers_another_owner_404(app, client, bob, alices_job):
    checked = []
    for method, rule in job_routes(app, "pages"):
        path = fill(rule, job_id=alices_job.id)
        # Forms need their CSRF token; the 404 must come from the owner check, not the token.
        data = {"csrf_token": csrf_token(bob)} if method == "POST" else None
        assert bob.open(path, method=method, data=data).status_code == 404, (method, rule)
        checked.append(rule)
    assert "/jobs/<uuid:job_id>" in checked


def test_another_owners_canceled_job_is_still_running_for_its_owner(client, bob, make_job):
    job = make_job("queued")
    bob.post(f"/api/v1/jobs/{job.id}/cancel")
    assert client.get(f"/api/v1/jobs/{job.id}").json["status"] == "queued"


def test_lists_show_only_ones_own_jobs(client, bob, make_job):
    own = make_job("succeeded")
    bobs = bob.post("/api/v1/jobs", json={"params": {"prompt": "bob's fox"}}).json

    assert [job["id"] for job in client.get("/api/v1/jobs").json["jobs"]] == [str(own.id)]
    assert [job["id"] for job in bob.get("/api/v1/jobs").json["jobs"]] == [bobs["id"]]
    assert bobs["id"] not in client.get("/jobs").get_data(as_text=True)
    assert str(own.id) not in bob.get("/").get_data(as_text=True)


def test_a_job_submitted_with_a_key_belongs_to_the_keys_owner(bob, session):
    job_id = bob.post("/api/v1/jobs", json={"params": {"prompt": "mine"}}).json["id"]
    assert session.get(Job, uuid.UUID(job_id)).owner == "bob"


@pytest.fixture
def alices_dataset_and_adapter(client, session, owner) -> dict[str, str]:
    """Path values naming a dataset and an adapter of the default owner."""
    dataset = upload(client, [("cat.png", image_bytes())]).json
    adapter = insert_adapter(session, owner=owner, base_model="tiny-sd", storage_key="adapters/alice.safetensors")
    return {"dataset_id": dataset["id"], "adapter_id": str(adapter.id)}


def test_every_api_route_on_a_dataset_or_adapter_answers_another_owner_404(
    app, client, bob, alices_dataset_and_adapter
):
    checked = []
    for method, rule in routes(app, "api"):
        if not any(f"<uuid:{name}>" in rule for name in alices_dataset_and_adapter):
            continue
        as_bob = bob.open(fill(rule, **alices_dataset_and_adapter), method=method)
        unknown = bob.open(fill(rule), method=method)
        as_owner = client.open(fill(rule, **alices_dataset_and_adapter), method=method)

        assert as_owner.status_code == (204 if method == "DELETE" else 200), (method, rule, as_owner.data)
        assert as_bob.status_code == 404, (method, rule, as_bob.data)
        assert as_bob.json == unknown.json, "someone else's object must look exactly like a missing one"
        checked.append(rule)
    assert set(checked) >= {"/api/v1/datasets/<uuid:dataset_id>", "/api/v1/adapters/<uuid:adapter_id>"}


def test_lists_show_only_ones_own_datasets_and_adapters(client, bob, alices_dataset_and_adapter):
    bobs_dataset = upload(bob, [("dog.png", image_bytes())]).json

    assert [dataset["id"] for dataset in client.get("/api/v1/datasets").json["datasets"]] == [
        alices_dataset_and_adapter["dataset_id"]
    ]
    assert [dataset["id"] for dataset in bob.get("/api/v1/datasets").json["datasets"]] == [bobs_dataset["id"]]
    assert [adapter["id"] for adapter in client.get("/api/v1/adapters").json["adapters"]] == [
        alices_dataset_and_adapter["adapter_id"]
    ]
    assert bob.get("/api/v1/adapters").json["adapters"] == []


def test_a_finetune_job_cannot_train_on_another_owners_dataset(bob, alices_dataset_and_adapter):
    def finetune_on(dataset_id: str):
        params = {"dataset_id": dataset_id, "instance_prompt": "sks"}
        return bob.post("/api/v1/jobs", json={"kind": "finetune", "params": params})

    response = finetune_on(alices_dataset_and_adapter["dataset_id"])

    assert response.status_code == 404
    assert response.json["error"]["code"] == "dataset_not_found"
    assert response.json == finetune_on(str(uuid.uuid4())).json
    assert bob.get("/api/v1/jobs").json["jobs"] == []
