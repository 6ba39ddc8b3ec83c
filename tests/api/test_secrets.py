"""Secrets stay where they belong: an API key (good or bad) never reaches a log
line, and a job's JSON carries no key, key hash or webhook secret."""

import logging
import re

from sqlalchemy import select

from db.models import ApiKey, Owner


def test_keys_never_reach_the_logs(client, anonymous_client, api_key, caplog):
    wrong_key = api_key[:-4] + "AAAA"
    with caplog.at_level(logging.DEBUG):
        client.post("/api/v1/jobs", json={"params": {"prompt": "a fox"}})
        client.get("/api/v1/jobs")
        anonymous_client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {wrong_key}"})
        token = re.search(r'name="csrf_token" value="([^"]+)"', anonymous_client.get("/signin").text).group(1)
        anonymous_client.post("/signin", data={"key": wrong_key, "csrf_token": token})
        anonymous_client.post("/signin", data={"key": api_key, "csrf_token": token})

    logged = caplog.text
    # The refusals and the sign-in are logged (what an operator watches), the keys are not.
    assert "no valid API key" in logged and "sign-in refused" in logged and "signed in" in logged
    assert api_key not in logged and wrong_key not in logged


def test_a_jobs_json_holds_no_key_and_no_webhook_secret(client, session):
    job = client.post("/api/v1/jobs", json={"params": {"prompt": "a fox"}}).json
    listed = client.get("/api/v1/jobs").get_data(as_text=True)
    read = client.get(f"/api/v1/jobs/{job['id']}").get_data(as_text=True)

    key = session.scalars(select(ApiKey)).one()
    secret = session.get(Owner, key.owner).webhook_secret
    for text in (listed, read):
        assert secret not in text and key.key_hash not in text and key.prefix not in text
