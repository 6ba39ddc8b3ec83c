"""The speech form on `/speech` (a speech job through web.submission, as the API's),
and the waveform of a job's audio artifact as SVG drawn by the server
(web/waveform_chart.py), which the job page shows under its player."""

import uuid

from flask import abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from db.jobs import get_job, list_jobs
from db.kinds.speech import AUDIO_FORMATS, SpeechSpec
from db.kinds.speech import KIND as SPEECH
from db.refusals import Refusal
from db.registry import default_model, list_models
from db.storage import ObjectNotFound
from web.audio import decode_audio
from web.context import current_owner, db_session, platform
from web.pages import pages
from web.pages.forms import RECENT_JOBS, form_errors, params_from_form, submit
from web.paging import page_of
from web.submission import validate_submission
from web.waveform_chart import waveform_svg

SPEECH_FORM_PARAMS = ("text", "speaking_rate", "seed", "format")
# Pre-filled from the spec's own defaults, so the form and the API cannot disagree.
SPEECH_FORM_DEFAULTS = {name: str(SpeechSpec.model_fields[name].default) for name in ("speaking_rate", "format")}


def _render_speech_form(values: dict[str, str], errors: dict[str, str], status: int = 200) -> tuple[str, int]:
    settings = platform().settings
    html = render_template(
        "speech.html",
        values={**SPEECH_FORM_DEFAULTS, "model": default_model(settings, SPEECH.model_kind) or "", **values},
        errors=errors,
        models=[entry for entry in list_models(settings) if entry.kind == SPEECH.model_kind],
        formats=AUDIO_FORMATS,
        settings=settings,
        recent_jobs=page_of(list_jobs, db_session(), owner=current_owner(), limit=RECENT_JOBS).rows,
    )
    return html, status


@pages.get("/speech")
def speech_page() -> tuple[str, int]:
    return _render_speech_form(values={}, errors={})


@pages.post("/speech")
def speech_submit() -> Response | tuple[str, int]:
    params = params_from_form(request.form, SPEECH_FORM_PARAMS, prompt="text")
    body = {"kind": SPEECH.name, "model": request.form.get("model") or None, "params": params}
    try:
        job = submit(validate_submission(body, platform().settings, coerce_types=True))
    except Refusal as refused:
        return _render_speech_form(request.form.to_dict(), errors=form_errors(refused), status=refused.status)
    return redirect(url_for("pages.job_page", job_id=job.id), code=303)


@pages.get("/jobs/<uuid:job_id>/artifacts/<int:index>/waveform.svg")
def waveform_chart(job_id: uuid.UUID, index: int) -> Response:
    """The waveform of one of the owner's audio artifacts; 404 for any other."""
    job = get_job(db_session(), job_id, owner=current_owner())
    artifact = None if job is None else next((a for a in job.artifacts if a.index == index), None)
    if artifact is None or artifact.kind != "audio":
        abort(404)
    try:
        samples, sample_rate = decode_audio(platform().storage.get(artifact.storage_key))
    except ObjectNotFound:
        abort(404)
    # An artifact never changes once stored, and only its owner may fetch it.
    headers = {"Cache-Control": "private, max-age=86400, immutable"}
    return Response(waveform_svg(samples, sample_rate), mimetype="image/svg+xml", headers=headers)
