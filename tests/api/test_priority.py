"""`priority` on submit: bounded, reported back, and counted by queue_position
(the order in which the claim takes jobs is tested with the claim policy)."""

import pytest


def submit(client, **body):
    return client.post("/api/v1/jobs", json={"params": {"prompt": "a red fox"}, **body})


def test_priority_defaults_to_zero_and_is_reported(client):
    assert submit(client).json["priority"] == 0
    assert submit(client, priority=-10).json["priority"] == -10


@pytest.mark.parametrize("priority", [11, -11, "high", 1.5])
def test_priority_out_of_range_is_refused(client, priority):
    response = submit(client, priority=priority)
    assert response.status_code == 422
    assert [detail["field"] for detail in response.json["error"]["details"]] == ["priority"]


def test_a_higher_priority_job_waits_behind_fewer_jobs(client):
    low = submit(client).json
    high = submit(client, priority=5).json
    assert client.get(f"/api/v1/jobs/{high['id']}").json["queue_position"] == 0
    assert client.get(f"/api/v1/jobs/{low['id']}").json["queue_position"] == 1
