"""A job kind that lives outside genq (tests/support/kinds/) is loaded by a real
web and a real worker through GENQ_KIND_MODULES, the way built-in kinds are, and
behaves as one: accepted, described, validated, queued on its own queue, counted
against the quota, run, and its artifact kept."""

import redis
import requests

from tests.support.http import auth_headers, wait_until_finished
from tests.support.kinds.echo import ECHO_QUEUE
from tests.support.processes import running_web, running_worker
from tests.support.waiting import wait_for


def test_a_kind_from_a_kind_module_is_a_kind_like_the_built_in_ones(settings, api_key, tmp_path):
    platform_settings = settings.model_copy(
        update={"kind_modules": ["tests.support.kinds.echo"], "daily_image_budget": 3}
    )
    headers = auth_headers(api_key)
    with running_web(platform_settings, tmp_path / "web.log") as url:
        document = requests.get(f"{url}/api/v1/openapi.json", headers=headers, timeout=10).json()
        assert "EchoSpec" in document["components"]["schemas"]
        assert "echo" in document["components"]["schemas"]["SubmitRequest"]["properties"]["kind"]["enum"]

        refused = requests.post(
            f"{url}/api/v1/jobs", json={"kind": "echo", "params": {"text": "hi", "copies": 9}}, headers=headers
        )
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "validation_error"
        assert [detail["field"] for detail in refused.json()["error"]["details"]] == ["params.copies"]

        accepted = requests.post(
            f"{url}/api/v1/jobs", json={"kind": "echo", "params": {"text": "hi", "copies": 2}}, headers=headers
        )
        assert accepted.status_code == 202, accepted.text
        job = accepted.json()
        assert (job["kind"], job["model"], job["status"]) == ("echo", "tiny-text", "queued")
        # Its wake-up waits on the kind's own queue, which no running worker takes yet.
        assert redis.Redis.from_url(settings.broker_url).llen(ECHO_QUEUE) == 1

        over_budget = requests.post(
            f"{url}/api/v1/jobs", json={"kind": "echo", "params": {"text": "hi", "copies": 2}}, headers=headers
        )
        assert over_budget.status_code == 429
        assert over_budget.json()["error"]["code"] == "daily_budget_exceeded"

        # A worker with the default queues takes the kind's queue too.
        with running_worker(platform_settings, tmp_path / "worker.log", queues=None):
            finished = wait_until_finished(url, job["id"], key=api_key)
            wait_for(lambda: redis.Redis.from_url(settings.broker_url).llen(ECHO_QUEUE) == 0, what="the echo queue")

    assert finished["status"] == "succeeded", finished["error"]
    assert finished["progress"] == {"step": 2, "total": 2, "fraction": 1.0}
    [artifact] = finished["artifacts"]
    assert (artifact["kind"], artifact["content_type"], artifact["text"]) == ("text", "text/plain", "hihi")
