"""ETAs on the production shape, with one real worker busy on a long job: a job
queued behind it is told at least the running job's remaining time, and the
figure is within half of the time it really took to be done (the README's
promise: "seconds until the job is done"); also under fair share, where a later
owner's job goes ahead of an earlier owner's second one."""

import time

from db.accounts import create_api_key
from db.session import make_session_factory
from tests.support.http import ApiUrl, get_job, moment, submit, wait_until_finished
from tests.support.waiting import wait_for

SHAPE = {"prompt": "a harbour at dawn", "width": 128, "height": 128, "seed": 3}
SHORT_STEPS = 10
LONG_STEPS = 40


def long_job_priced_at_its_own_pace(platform: ApiUrl) -> str:
    """A finished run of the shape (the step time that prices the jobs queued), then
    a long job of it running, once it has reported progress often enough to know its pace."""
    wait_until_finished(platform, submit(platform, {**SHAPE, "steps": SHORT_STEPS})["id"])
    long_job = submit(platform, {**SHAPE, "steps": LONG_STEPS})["id"]

    def priced() -> bool:
        job = get_job(platform, long_job)
        return job["status"] == "running" and job["progress"]["step"] >= 3 and job["eta_seconds"] is not None

    wait_for(priced, timeout=60, interval=0.1, what="the long job to report its pace")
    return long_job


def assert_close(told: float, waited: float) -> None:
    assert abs(told - waited) <= 0.5 * waited, f"told {told} s, done after {waited:.1f} s"


def finished(platform: ApiUrl, job_id: str) -> dict:
    job = wait_until_finished(platform, job_id)
    assert job["status"] == "succeeded"
    return job


def test_a_job_behind_a_running_one_is_told_its_remaining_time(platform):
    long_job = long_job_priced_at_its_own_pace(platform)
    queued = submit(platform, {**SHAPE, "steps": SHORT_STEPS})
    remaining = get_job(platform, long_job)["eta_seconds"]  # read after the submission: no more than then

    assert queued["queue_position"] == 0
    assert queued["eta_seconds"] >= remaining
    done = finished(platform, queued["id"])
    assert_close(queued["eta_seconds"], moment(done["finished_at"]) - moment(queued["created_at"]))


def test_under_fair_share_a_later_owners_job_is_placed_and_priced_ahead(platform, settings):
    sessions = make_session_factory(settings.database_url)
    with sessions() as session:
        _key, bobs_key = create_api_key(session, owner="bob")
        session.commit()
    sessions.kw["bind"].dispose()
    bob = ApiUrl(str(platform), bobs_key)

    long_job = long_job_priced_at_its_own_pace(platform)
    alices_second = submit(platform, {**SHAPE, "steps": SHORT_STEPS})
    bobs = submit(bob, {**SHAPE, "steps": SHORT_STEPS})
    remaining = get_job(platform, long_job)["eta_seconds"]
    asked_at = time.time()
    alices_now = get_job(platform, alices_second["id"])
    bobs_now = get_job(bob, bobs["id"])

    # Alice's first job is running and Bob has none: his goes next, hers after it
    # (her ETA a short job more than his, both read at the same moment).
    assert (bobs["queue_position"], alices_now["queue_position"]) == (0, 1)
    assert bobs["eta_seconds"] >= remaining
    assert alices_now["eta_seconds"] > bobs_now["eta_seconds"]
    bobs_done, alices_done = finished(bob, bobs["id"]), finished(platform, alices_second["id"])
    assert moment(bobs_done["started_at"]) < moment(alices_done["started_at"])
    assert_close(bobs["eta_seconds"], moment(bobs_done["finished_at"]) - moment(bobs["created_at"]))
    assert_close(alices_now["eta_seconds"], moment(alices_done["finished_at"]) - asked_at)
