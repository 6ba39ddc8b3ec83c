"""GET /api/v1/jobs/<id>/events: a job's events as Server-Sent Events, resumable
with Last-Event-ID, ending after the `done` event.

A stream reads the job's events on connect, then sleeps until the web process's
one subscription to the job signals (web/event_hub.py) says the job wrote new ones;
it re-reads without one only at the hub's long recheck interval, in case a signal
was lost. While the job waits in the queue its position moves with other jobs,
which signal on their own channels: it is read every POSITION_SECONDS, or slower
when many queued jobs are watched, so that one process's streams together read
positions at most POSITION_READS_PER_SECOND times a second. Each read uses a short
session of its own: a stream never holds a database connection while it waits. A
stream is a greenlet, not a thread (cli/webserver.py); it ends after
GENQ_EVENT_STREAM_SECONDS (EventSource reconnects with Last-Event-ID), and a web
process serves at most GENQ_MAX_EVENT_STREAMS at once (503 beyond), a safety valve.
"""

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from flask import Response, current_app, request, stream_with_context
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy.orm import Session

from db.contract import ArtifactsEvent, EventId, ServerSentEvent
from db.eta import job_position
from db.events import ARTIFACTS, CREATED_EVENT_ID, DONE, FROM_START, STATUS, events_after, last_status
from db.job_json import describe_position
from db.jobs import get_job
from db.models import JobEvent, JobStatus
from db.storage import Storage
from web.api import api
from web.api.errors import ApiError
from web.api.jobs import NO_JOB, owned_job
from web.api.operations import RETRY_AFTER, Answer, error, operation
from web.api.serializers import serialize_artifact
from web.context import Platform, db_session, platform
from web.event_hub import EVENT_HUB, EventHub, Listener
from web.slots import Slots

STREAM_SLOTS = "genq.event_stream_slots"
POSITION_PACE = "genq.position_pace"
# How long EventSource waits before reconnecting after a stream ends.
RETRY_MILLISECONDS = 1000
# A comment line this often keeps proxies from closing a quiet stream.
KEEPALIVE_SECONDS = 15.0
# While the job waits, its queue position is looked up at most this often.
POSITION_SECONDS = 2.0
# A position is several queries (db/eta.py): what one process's streams may spend on them.
POSITION_READS_PER_SECOND = 50.0
EVENTS_PER_POLL = 200


class PositionPace:
    """How often the stream of a queued job reads its position: every
    POSITION_SECONDS while few wait, slower once more than POSITION_READS_PER_SECOND x
    POSITION_SECONDS are watched, so that together they keep to that rate."""

    def __init__(self) -> None:
        self._queued = 0
        self._lock = threading.Lock()

    def add(self, count: int) -> None:
        with self._lock:
            self._queued += count

    def interval(self) -> float:
        return max(POSITION_SECONDS, self._queued / POSITION_READS_PER_SECOND)


def format_event(type: str, data: dict[str, Any], event_id: int | None = None) -> str:
    # json.dumps escapes newlines, so the data is always one `data:` line.
    lines = [] if event_id is None else [f"id: {event_id}"]
    lines += [f"event: {type}", f"data: {json.dumps(data, separators=(',', ':'))}"]
    return "\n".join(lines) + "\n\n"


def _last_event_id() -> int:
    """The header's id, else the query's; either one, when given, must be an event id."""
    given = [
        text for text in (request.headers.get("Last-Event-ID"), request.args.get("last_event_id")) if text is not None
    ]
    for text in given:
        # ASCII digits only (str.isdigit admits '²'), and within the bigint event ids.
        if not (text.isascii() and text.isdigit() and len(text) <= 18):
            raise ApiError(400, "invalid_last_event_id", "Last-Event-ID must be the id of an event of this stream")
    return int(given[0]) if given else FROM_START


class EventsResume(BaseModel):
    """Where a reconnecting stream resumes: after this event id (EventSource sends the header)."""

    last_event_id: EventId | SkipJsonSchema[None] = None


class EventsResumeHeader(BaseModel):
    last_event_id: EventId | SkipJsonSchema[None] = Field(default=None, alias="Last-Event-ID")


@api.get("/jobs/<uuid:job_id>/events")
@operation(
    "The job's events as Server-Sent Events",
    {
        200: Answer("event stream", ServerSentEvent, media_types=("text/event-stream",)),
        204: Answer("finished and every event was seen"),
        400: error("Last-Event-ID is not an event id"),
        404: NO_JOB,
        503: error("this server has no free event stream", RETRY_AFTER),
    },
    query=EventsResume,
    headers=EventsResumeHeader,
)
def job_events(job_id: uuid.UUID) -> Response:
    after_id = _last_event_id()
    services = platform()
    session = db_session()
    job = owned_job(job_id)
    if job.is_finished and not events_after(session, job_id, after_id, limit=1):
        # The client has seen `done`: 204 tells EventSource to stop reconnecting.
        return Response(status=204)
    # The stream polls with sessions of its own; the request's must not hold a connection.
    session.close()

    slots: Slots = current_app.extensions[STREAM_SLOTS]
    if not slots.take():
        raise ApiError(
            503, "too_many_streams", "this server has no free event stream; retry shortly", headers={"Retry-After": "2"}
        )
    stream = _stream(
        services, current_app.extensions[EVENT_HUB], current_app.extensions[POSITION_PACE], job_id, after_id
    )
    response = Response(stream_with_context(stream), mimetype="text/event-stream")
    # Runs when the server closes the response, however it ends (done, time out, client gone).
    response.call_on_close(slots.give_back)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass events on as they come
    return response


def _stream(services: Platform, hub: EventHub, pace: PositionPace, job_id: uuid.UUID, after_id: int) -> Iterator[str]:
    with hub.listening(job_id) as listener:
        yield from _events(services, listener, pace, job_id, after_id)


def _events(
    services: Platform, listener: Listener, pace: PositionPace, job_id: uuid.UUID, after_id: int
) -> Iterator[str]:
    settings, storage = services.settings, services.storage
    deadline = time.monotonic() + settings.event_stream_seconds
    yield f"retry: {RETRY_MILLISECONDS}\n\n"
    last_write = last_row_check = time.monotonic()
    position: dict[str, Any] | None = None
    told_running: int | None = None  # the attempt whose `running` the client was told
    first_poll = True
    backlog = False  # the last poll read a full page: the row is due once caught up
    queued = False  # as the row last read says: counted by the pace, its position due at its interval
    try:
        while True:
            with services.sessions() as session:
                if first_poll and after_id > CREATED_EVENT_ID:
                    told_running = _running_attempt(last_status(session, job_id, up_to_id=after_id))
                # The row before the events, so that the events are at least as new as it.
                row_due = first_poll or backlog or time.monotonic() - last_row_check >= pace.interval()
                job = get_job(session, job_id, owner=None) if row_due else None
                events = events_after(session, job_id, after_id, limit=EVENTS_PER_POLL)
                backlog = len(events) == EVENTS_PER_POLL
                chunks = []
                for event in events:
                    attempt = _running_attempt(event.data if event.type == STATUS else None)
                    if attempt is not None:
                        if attempt == told_running:
                            continue  # already told from the row
                        told_running = attempt
                    chunks.append(_event_text(session, storage, event))
                if row_due:
                    last_row_check = time.monotonic()
                    now_queued = job is not None and job.status == JobStatus.QUEUED
                    if now_queued != queued:
                        pace.add(1 if now_queued else -1)
                        queued = now_queued
                if job is not None and not job.is_finished:
                    # An attempt's `running` event is written with its first report
                    # (db/events.py); until then the row tells, without an id, once the
                    # stream has caught up and no event read after the row is newer.
                    newer = any(
                        event.type == STATUS and event.data.get("attempt", 0) >= job.attempt for event in events
                    )
                    if job.status == JobStatus.RUNNING and job.attempt != told_running and not backlog and not newer:
                        told_running = job.attempt
                        chunks.append(format_event(STATUS, {"status": "running", "attempt": job.attempt}))
                    current = describe_position(job_position(session, job)).model_dump(mode="json")
                    if current != position:
                        position = current
                        chunks.append(format_event("queue", current))
            first_poll = False
            if chunks:
                yield "".join(chunks)
                last_write = time.monotonic()
            if events:
                after_id = events[-1].id
                if events[-1].type == DONE:
                    return
                if len(events) == EVENTS_PER_POLL:
                    continue  # a backlog: read on without waiting
            now = time.monotonic()
            if now >= deadline:
                return
            if now - last_write >= KEEPALIVE_SECONDS:
                yield ": keepalive\n\n"
                last_write = now
            recheck = min(listener.recheck_seconds(), pace.interval()) if queued else listener.recheck_seconds()
            listener.wait(min(recheck, deadline - now, KEEPALIVE_SECONDS))
    finally:
        if queued:
            pace.add(-1)


def _running_attempt(status: dict[str, Any] | None) -> int | None:
    """The attempt a status event's data says is running, if it says so."""
    return status["attempt"] if status is not None and status.get("status") == "running" else None


def _event_text(session: Session, storage: Storage, event: JobEvent) -> str:
    data = event.data
    if event.type == ARTIFACTS:
        # URLs are made now, not stored: presigned ones expire.
        job = get_job(session, event.job_id, owner=None)
        found = job.artifacts if job is not None else []  # None: deleted since
        artifacts = [serialize_artifact(storage, artifact) for artifact in found]
        data = ArtifactsEvent(artifacts=artifacts).model_dump(mode="json")
    return format_event(event.type, data, event.id)
