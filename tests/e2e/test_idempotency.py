"""Idempotency-Key under real concurrency: 50 threads submit the same request with
one key to `genq web` (gunicorn, several threads) at once; exactly one job exists."""

from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import func, select

from db.models import Job
from db.session import make_session_factory
from tests.support.http import auth_headers


def test_fifty_concurrent_submits_with_one_key_make_one_job(settings, web_url, api_key):
    body = {"kind": "generate", "params": {"prompt": "a red fox", "steps": 2, "seed": 1}}
    headers = {**auth_headers(api_key), "Idempotency-Key": "checkout-42"}

    def submit_once(_):
        response = requests.post(f"{web_url}/api/v1/jobs", json=body, headers=headers, timeout=30)
        return response.status_code, response.json()["id"]

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(submit_once, range(50)))

    assert sorted(status for status, _ in results) == [200] * 49 + [202]
    assert len({job_id for _, job_id in results}) == 1
    sessions = make_session_factory(settings.database_url)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 1
    sessions.kw["bind"].dispose()
