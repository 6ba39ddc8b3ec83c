"""A claim reads the clock when it is made: db.claims keeps claim_next_jobs'
statement from one claim to the next, with the time as a parameter."""

from datetime import timedelta

from sqlalchemy import update

from db import claims
from db.models import Job, utcnow
from tests.db.test_claims import add_jobs, claim


def test_a_job_waiting_out_its_backoff_is_claimed_once_the_clock_has_passed_it(sessions, monkeypatch):
    [job_id] = add_jobs(sessions, "alice")
    with sessions.begin() as session:
        session.execute(update(Job).where(Job.id == job_id).values(retry_at=utcnow() + timedelta(hours=1)))
    assert claim(sessions) == []

    two_hours_later = utcnow() + timedelta(hours=2)
    monkeypatch.setattr(claims, "utcnow", lambda: two_hours_later)

    [claimed] = claim(sessions)
    assert claimed.id == job_id and claimed.status == "running"
