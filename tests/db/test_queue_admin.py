"""A paused kind's queued jobs are not claimed (one by one or as a batch), keep their
place in line, owe no wake-ups, and are taken again once resumed; the workers seen
are those reported within the last minute (Postgres and SQLite)."""

from datetime import timedelta

from db.claims import claim_batch, places_in_line
from db.models import WorkerSeen, utcnow
from db.queue_admin import pause_queue, queue_states, record_worker_seen, resume_queue
from tests.db.test_claims import add_jobs, claim_one


def _state(sessions, kind: str):
    with sessions() as session:
        return next(state for state in queue_states(session) if state.kind == kind)


def test_a_paused_kind_is_not_claimed_until_resumed(sessions):
    [job_id] = add_jobs(sessions, "alice")
    with sessions.begin() as session:
        pause_queue(session, "generate", by="admin")

    assert claim_one(sessions) is None
    with sessions.begin() as session:
        assert claim_batch(session, kinds=["generate"], worker_id="w1", lease_seconds=60, max_images=4) == []
        assert places_in_line(session, ["generate"], [job_id]) == {job_id: 0}
    state = _state(sessions, "generate")
    assert (state.paused, state.queued, state.running) == (True, 1, 0)
    assert state.oldest_queued_seconds is not None and state.oldest_queued_seconds >= 0

    with sessions.begin() as session:
        resume_queue(session, "generate")
    assert claim_one(sessions).id == job_id
    state = _state(sessions, "generate")
    assert (state.paused, state.queued, state.running) == (False, 0, 1)


def test_pausing_one_kind_leaves_the_others_claimable(sessions):
    [job_id] = add_jobs(sessions, "alice")
    with sessions.begin() as session:
        pause_queue(session, "textgen", by="admin")
        pause_queue(session, "textgen", by="someone else")  # a second pause changes nothing

    assert claim_one(sessions).id == job_id
    assert _state(sessions, "textgen").paused and not _state(sessions, "generate").paused


def test_workers_seen_in_the_last_minute_are_counted_per_kind(sessions):
    with sessions.begin() as session:
        record_worker_seen(session, "gpu-1:10", ["generate", "finetune"])
        record_worker_seen(session, "gpu-2:11", ["generate"])
        record_worker_seen(session, "gone:12", ["generate"])
        session.flush()
        session.get(WorkerSeen, "gone:12").last_seen_at = utcnow() - timedelta(minutes=5)

    assert _state(sessions, "generate").workers == 2
    assert _state(sessions, "finetune").workers == 1
    assert _state(sessions, "textgen").workers == 0
