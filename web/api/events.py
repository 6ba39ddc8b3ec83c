"""GET /api/v1/jobs/<id>/events: a job's events as Server-Sent Events, resumable
with Last-Event-ID, ending after the `done` event.

A stream reads the job's events on connect, then sleeps until the web process's
one subscription to the job signals (web/event_hub.py) says the job wrote new ones
(an `events` signal: the events are read) or changed status (the row is read too);
without a signal it re-reads only at the hub's long recheck interval, in case one
was lost. Its queue position comes from the process's position board
(web/positions.py), which reads every watched job's at once and pushes changes: no
stream reads positions itself. Each read uses a short session of its own: a stream
never holds a database connection while it waits, and one that finds the database
away or the pool full stays open and reads again. A stream is a greenlet, not a
thread (cli/webserver.py); it ends after GENQ_EVENT_STREAM_SECONDS (EventSource
reconnects with Last-Event-ID), and a web process serves at most
GENQ_MAX_EVENT_STREAMS at once (503 beyond), a safety valve.
"""

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

from flask import Response, current_app, request, stream_with_context
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from db.contract import ArtifactsEvent, EventId, ServerSentEvent
from db.events import ARTIFACTS, CREATED_EVENT_ID, DONE, FROM_START, STATUS, events_after, last_status
from db.job_signals import PREVIEW, TEXT
from db.jobs import get_job
from db.models import JobEvent, JobStatus
from db.session import is_database_outage
from db.storage import Storage
from web.api import api
from web.api.errors import ApiError
from web.api.jobs import NO_JOB, owned_job
from web.api.operations import RETRY_AFTER, Answer, error, operation
from web.api.serializers import serialize_artifact
from web.context import Platform, db_session, platform
from web.event_hub import EVENT_HUB, OUTAGE_RETRY_SECONDS, REREAD, EventHub, Listener
from web.positions import POSITION, POSITION_BOARD, PositionBoard
from web.slots import Slots

log = logging.getLogger(__name__)

STREAM_SLOTS = "genq.event_stream_slots"
# How long EventSource waits before reconnecting after a stream ends.
RETRY_MILLISECONDS = 1000
# A comment line this often keeps proxies from closing a quiet stream.
KEEPALIVE_SECONDS = 15.0
EVENTS_PER_POLL = 200
# Signals that ask for no read of the database: a position and a preview come with
# their data, a textgen job's growing text is for the compatible calls (its events follow).
NO_READ_SIGNALS = frozenset({POSITION, PREVIEW, TEXT})
# Signals after which the row is read, not only the events.
ROW_SIGNALS = frozenset({STATUS, REREAD})


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
        services, current_app.extensions[EVENT_HUB], current_app.extensions[POSITION_BOARD], job_id, after_id
    )
    response = Response(stream_with_context(stream), mimetype="text/event-stream")
    # Runs when the server closes the response, however it ends (done, time out, client gone).
    response.call_on_close(slots.give_back)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass events on as they come
    return response


def _stream(services: Platform, hub: EventHub, board: PositionBoard, job_id: uuid.UUID, after_id: int) -> Iterator[str]:
    with hub.listening(job_id) as listener, ExitStack() as watching:
        yield from _events(
            services, listener, lambda: watching.enter_context(board.watching(job_id, listener)), job_id, after_id
        )


def _events(
    services: Platform, listener: Listener, watch_position: Callable[[], None], job_id: uuid.UUID, after_id: int
) -> Iterator[str]:
    """The stream's text. watch_position: called once the job is known unfinished,
    so that its position comes after the first read's events."""
    settings, storage = services.settings, services.storage
    deadline = time.monotonic() + settings.event_stream_seconds
    yield f"retry: {RETRY_MILLISECONDS}\n\n"
    last_write = last_read = time.monotonic()
    position: dict[str, Any] | None = None
    told_running: int | None = None  # the attempt whose `running` the client was told
    first_poll = True
    watching = False
    backlog = False  # the last poll read a full page: the row is due once caught up
    canceling = False  # the row says a cancel was asked: no more previews
    signals: list[dict[str, Any]] = [{"type": REREAD}]
    while True:
        chunks = []
        types = {signal["type"] for signal in signals}
        positions = [signal["position"] for signal in signals if signal["type"] == POSITION]
        events: list[JobEvent] = []
        if types - NO_READ_SIGNALS or backlog:
            saved = told_running
            last_read = time.monotonic()
            try:
                with services.sessions() as session:
                    if first_poll and after_id > CREATED_EVENT_ID:
                        told_running = _running_attempt(last_status(session, job_id, up_to_id=after_id))
                    # The row before the events, so that the events are at least as new as it.
                    job = get_job(session, job_id, owner=None) if backlog or types & ROW_SIGNALS else None
                    events = events_after(session, job_id, after_id, limit=EVENTS_PER_POLL)
                    for event in events:
                        attempt = _running_attempt(event.data if event.type == STATUS else None)
                        if attempt is not None:
                            if attempt == told_running:
                                continue  # already told from the row
                            told_running = attempt
                        chunks.append(_event_text(session, storage, event))
            except SQLAlchemyError as error:
                if not is_database_outage(error):
                    raise
                # Busy or away: the stream stays open and reads again (nothing was sent).
                told_running = saved
                log.warning("the events of job %s could not be read (%s); reading again shortly", job_id, error)
                retry_at = time.monotonic() + OUTAGE_RETRY_SECONDS
                if retry_at >= deadline:
                    return
                signals = [{"type": REREAD}]  # and whatever comes meanwhile (previews, text: not sent)
                while (left := retry_at - time.monotonic()) > 0:
                    listener.take(left)
                continue
            backlog = len(events) == EVENTS_PER_POLL
            if job is not None:
                canceling = job.cancel_requested
            if job is not None and not job.is_finished:
                # An attempt's `running` event is written with its first report
                # (db/events.py); until then the row tells, without an id, once the
                # stream has caught up and no event read after the row is newer.
                newer = any(event.type == STATUS and event.data.get("attempt", 0) >= job.attempt for event in events)
                if job.status == JobStatus.RUNNING and job.attempt != told_running and not backlog and not newer:
                    told_running = job.attempt
                    chunks.append(format_event(STATUS, {"status": "running", "attempt": job.attempt}))
                if not watching:
                    watch_position()
                    watching = True
        first_poll = False
        if not (events and events[-1].type == DONE):
            if positions and positions[-1] != position:
                position = positions[-1]
                chunks.append(format_event("queue", position))
            # The newest preview of each image; none once a cancel is asked or the job is done.
            previews = {signal["index"]: signal for signal in signals if signal["type"] == PREVIEW and not canceling}
            for preview in previews.values():
                chunks.append(format_event(PREVIEW, {key: preview[key] for key in ("index", "step", "total", "image")}))
        if chunks:
            yield "".join(chunks)
            last_write = time.monotonic()
        if events and events[-1].type == DONE:
            return
        if events:
            after_id = events[-1].id
        if backlog:
            signals = []
            continue  # read on without waiting
        now = time.monotonic()
        if now >= deadline:
            return
        if now - last_write >= KEEPALIVE_SECONDS:
            yield ": keepalive\n\n"
            last_write = now
        recheck_at = last_read + listener.recheck_seconds()
        signals = listener.take(max(0.0, min(recheck_at, deadline, now + KEEPALIVE_SECONDS) - now))
        if not signals and time.monotonic() >= recheck_at:
            signals = [{"type": REREAD}]  # no signal for long: in case one was lost


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
