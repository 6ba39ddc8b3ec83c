"""Job events on real Postgres: every transition records its events in the same
transaction, a write that did not happen records none, and a reader can resume
after any event id."""

from sqlalchemy import func, select

from db import jobs
from db.events import CREATED_EVENT_ID, events_after
from db.models import JobEvent
from tests.db.test_jobs import artifact, queued_job


def history(session, job_id) -> list[tuple[str, dict]]:
    return [(event.type, event.data) for event in events_after(session, job_id)]


def test_a_successful_run_records_each_step_of_its_life(session):
    job = queued_job(session)
    claimed = jobs.claim_job(session, job.id, worker_id="w1")
    jobs.record_reports(session, job.id, claimed.attempt, progress=(1, 4), opening=True)
    jobs.record_reports(session, job.id, claimed.attempt, progress=(4, 4))
    jobs.finish_job(session, job.id, claimed.attempt, [artifact(0)], step_seconds=0.25)
    session.commit()

    assert history(session, job.id) == [
        ("status", {"status": "queued"}),
        ("status", {"status": "running", "attempt": 1}),
        ("progress", {"step": 1, "total": 4}),
        ("progress", {"step": 4, "total": 4}),
        (
            "artifacts",
            {
                "artifacts": [
                    {
                        "index": 0,
                        "kind": "image",
                        "content_type": "image/png",
                        "bytes": 10,
                        "sha256": "0" * 64,
                        "width": 64,
                        "height": 64,
                        "seed": 0,
                    }
                ]
            },
        ),
        ("status", {"status": "succeeded", "attempt": 1}),
        ("done", {"status": "succeeded"}),
    ]
    assert jobs.get_job(session, job.id, owner=None).step_seconds == 0.25


def test_a_failure_records_its_error_then_done(session):
    job = queued_job(session)
    claimed = jobs.claim_job(session, job.id, worker_id="w1")
    jobs.fail_job(session, job.id, claimed.attempt, code="oom", message="too big")
    session.commit()

    assert history(session, job.id)[-2:] == [
        ("status", {"status": "failed", "attempt": 1, "error": {"code": "oom", "message": "too big"}}),
        ("done", {"status": "failed"}),
    ]


def test_writes_that_did_not_happen_record_no_event(session):
    job = queued_job(session)
    claimed = jobs.claim_job(session, job.id, worker_id="w1")
    stale = claimed.attempt - 1
    assert not jobs.record_reports(session, job.id, stale, progress=(1, 5))
    assert not jobs.fail_job(session, job.id, stale, code="x", message="y")
    assert jobs.claim_job(session, job.id, worker_id="w2") is None
    session.commit()

    assert history(session, job.id) == [("status", {"status": "queued"})]


def test_events_resume_after_an_id_and_come_in_pages(session):
    job = queued_job(session)
    claimed = jobs.claim_job(session, job.id, worker_id="w1")
    for step in range(1, 6):
        jobs.record_reports(session, job.id, claimed.attempt, progress=(step, 5), opening=step == 1)
    other = queued_job(session)
    session.commit()

    everything = events_after(session, job.id)
    assert len(everything) == 7 and [event.id for event in everything] == sorted(event.id for event in everything)
    after_third = events_after(session, job.id, everything[2].id, limit=2)
    assert [event.data["step"] for event in after_third] == [2, 3]
    assert events_after(session, job.id, everything[-1].id) == []
    assert [event.type for event in events_after(session, other.id)] == ["status"]


def test_a_jobs_creation_is_its_first_event_read_from_the_row(session):
    job = queued_job(session)
    session.commit()

    [created] = events_after(session, job.id)
    assert (created.id, created.type, created.data) == (CREATED_EVENT_ID, "status", {"status": "queued"})
    assert events_after(session, job.id, CREATED_EVENT_ID) == []
    # The submission wrote the job's row and nothing else.
    assert session.scalar(select(func.count()).select_from(JobEvent).where(JobEvent.job_id == job.id)) == 0


def test_an_attempts_running_event_goes_first_in_its_first_write(session):
    job = queued_job(session)
    claimed = jobs.claim_job(session, job.id, worker_id="w1")
    session.commit()
    assert history(session, job.id) == [("status", {"status": "queued"})]  # the claim wrote no event

    jobs.finish_job(session, job.id, claimed.attempt, [artifact(0)], opening=True)
    session.commit()

    assert [(type, data.get("status")) for type, data in history(session, job.id)] == [
        ("status", "queued"),
        ("status", "running"),
        ("artifacts", None),
        ("status", "succeeded"),
        ("done", "succeeded"),
    ]
