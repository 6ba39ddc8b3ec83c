"""Reading adapters: the owner's own, one by id or in pages newest first; any other
id is a 404. Adapters are made by training jobs; here the rows are inserted as a
finished training leaves them (tests/support/adapters.py)."""

import uuid

from tests.support.adapters import insert_adapter


def owners_adapter(session, owner: str = "local", rank: int = 4):
    return insert_adapter(session, owner=owner, base_model="tiny-sd", storage_key=f"adapters/{uuid.uuid4()}", rank=rank)


def test_the_owner_reads_an_adapter(client, session):
    adapter = owners_adapter(session, rank=16)

    response = client.get(f"/api/v1/adapters/{adapter.id}")

    assert response.status_code == 200
    assert response.json == {
        "id": str(adapter.id),
        "name": "adapter of local",
        "base_model": "tiny-sd",
        "method": "lora",
        "rank": 16,
        "training_job_id": str(adapter.training_job_id),
        "created_at": adapter.created_at.isoformat().replace("+00:00", "Z"),
    }


def test_an_unknown_adapter_is_404(client):
    response = client.get(f"/api/v1/adapters/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_adapters_are_listed_newest_first_in_pages(client, session):
    ids = [str(owners_adapter(session).id) for _ in range(3)]

    first = client.get("/api/v1/adapters?limit=2").json
    second = client.get(f"/api/v1/adapters?limit=2&cursor={first['next_cursor']}").json

    assert [adapter["id"] for adapter in first["adapters"]] == ids[:0:-1]
    assert [adapter["id"] for adapter in second["adapters"]] == ids[:1]
    assert second["next_cursor"] is None


def test_an_owner_without_adapters_lists_none(client, session):
    owners_adapter(session, owner="bob")
    assert client.get("/api/v1/adapters").json == {"adapters": [], "next_cursor": None}


def test_a_bad_cursor_or_limit_is_refused(client):
    assert client.get("/api/v1/adapters?cursor=not-ours").status_code == 400
    assert client.get("/api/v1/adapters?limit=0").status_code == 422
