"""Queue administration over JSON, for admin keys only (web.context.admin_only):
pause and resume a kind's queue, see every queue, cancel all of an owner's jobs.
A blueprint of its own, so the OpenAPI document of /api/v1, which describes what
every key may call, leaves it out; README's "Queue administration" documents it."""

import dataclasses
from typing import Any

from flask import Blueprint

from db.queue_admin import queue_states
from web.cancel import cancel_owner_jobs
from web.context import admin_only, current_api_key, db_session, platform
from web.queue_admin import pause_kind, resume_kind

admin_api = Blueprint("admin_api", __name__, url_prefix="/api/v1/admin")


def _queue_json(kind: str) -> dict[str, Any]:
    state = next(state for state in queue_states(db_session()) if state.kind == kind)
    return dataclasses.asdict(state)


@admin_api.get("/queues")
@admin_only
def admin_queues() -> dict[str, Any]:
    """Per kind: queued, running, the oldest queued job's age, paused, workers seen in the last minute."""
    return {"queues": [dataclasses.asdict(state) for state in queue_states(db_session())]}


@admin_api.post("/queues/<kind>/pause")
@admin_only
def admin_pause(kind: str) -> dict[str, Any]:
    """No worker claims this kind's jobs until it resumes; submits are still queued."""
    pause_kind(db_session(), kind, by=current_api_key().owner)
    return _queue_json(kind)


@admin_api.post("/queues/<kind>/resume")
@admin_only
def admin_resume(kind: str) -> dict[str, Any]:
    resume_kind(db_session(), platform(), kind)
    return _queue_json(kind)


@admin_api.post("/owners/<owner>/cancel")
@admin_only
def admin_cancel_owner(owner: str) -> dict[str, Any]:
    """Cancel every queued or running job of this owner."""
    return {"owner": owner, "canceled": cancel_owner_jobs(db_session(), platform(), owner)}
