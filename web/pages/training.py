"""Fine-tuning in the browser: the form that uploads images and starts a LoRA
training, a training job's loss curve as SVG, and the owner's adapters."""

import dataclasses
import uuid

from flask import abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from db.adapters import list_adapters
from db.datasets import create_dataset
from db.jobs import get_job
from db.kinds import find_kind
from db.kinds.finetune import KIND as FINETUNE
from db.kinds.finetune import LR_SCHEDULERS, FinetuneSpec
from db.losses import loss_series
from db.refusals import Refusal
from db.registry import default_model, list_models
from db.uploads import UploadedFile, UploadLimits, UploadRefused, UploadRejected, prepare_dataset
from web.context import current_owner, db_session, platform
from web.loss_chart import loss_chart_svg
from web.pages import pages
from web.pages.forms import check_limits, form_errors, params_from_form, submit
from web.paging import InvalidCursor, page_of
from web.submission import validate_submission

ADAPTERS_PER_PAGE = 25
FINETUNE_FORM_PARAMS = (
    "instance_prompt",
    "validation_prompt",
    "resolution",
    "max_train_steps",
    "learning_rate",
    "rank",
    "batch_size",
    "lr_scheduler",
    "seed",
    "adapter_name",
)
# Pre-filled from the spec's own defaults, so the form and the API cannot disagree.
FINETUNE_FORM_DEFAULTS = {
    name: str(FinetuneSpec.model_fields[name].default)
    for name in ("resolution", "max_train_steps", "learning_rate", "rank", "batch_size", "lr_scheduler")
}


def _render_finetune_form(values: dict[str, str], errors: dict[str, str], status: int = 200) -> tuple[str, int]:
    settings = platform().settings
    html = render_template(
        "finetune.html",
        values={**FINETUNE_FORM_DEFAULTS, "model": default_model(settings) or "", **values},
        errors=errors,
        models=[entry for entry in list_models(settings) if entry.kind == FINETUNE.model_kind],
        lr_schedulers=LR_SCHEDULERS,
        settings=settings,
    )
    return html, status


@pages.get("/finetune")
def finetune_page() -> tuple[str, int]:
    return _render_finetune_form(values={}, errors={})


@pages.post("/finetune")
def finetune_submit() -> Response | tuple[str, int]:
    """Upload the images as a dataset and start a LoRA training on it, as
    POST /api/v1/datasets and then POST /api/v1/jobs would: the dataset and the job
    are committed together, or neither is."""
    services = platform()
    values = request.form.to_dict()
    params = params_from_form(request.form, FINETUNE_FORM_PARAMS, prompt="instance_prompt")
    # A stand-in dataset id: the params are checked before any image is decoded or stored.
    body = {
        "kind": FINETUNE.name,
        "model": request.form.get("model") or None,
        "params": {**params, "dataset_id": str(uuid.uuid4())},
    }
    try:
        submission = validate_submission(body, services.settings, coerce_types=True)
        check_limits(submission)
        # As the API: a file input left empty sends a part without a file name.
        files = [UploadedFile(file.filename, file.stream) for file in request.files.getlist("files") if file.filename]
        try:
            images = prepare_dataset(files, UploadLimits.from_settings(services.settings))
        except UploadRefused as refused:
            raise UploadRejected(refused, "files") from None
        dataset = create_dataset(db_session(), services.storage, owner=current_owner(), name=None, images=images)
        job = submit(dataclasses.replace(submission, params={**submission.params, "dataset_id": str(dataset.id)}))
    except Refusal as refused:
        return _render_finetune_form(values, errors=form_errors(refused), status=refused.status)
    return redirect(url_for("pages.job_page", job_id=job.id), code=303)


@pages.get("/jobs/<uuid:job_id>/loss.svg")
def loss_chart(job_id: uuid.UUID) -> Response:
    """A training job's loss curve so far; job.js reloads it as loss events arrive."""
    session = db_session()
    job = get_job(session, job_id, owner=current_owner())
    kind = None if job is None else find_kind(job.kind)
    if job is None or kind is None or not kind.records_loss:
        abort(404)
    svg = loss_chart_svg(loss_series(session, job.id))
    return Response(svg, mimetype="image/svg+xml", headers={"Cache-Control": "no-store"})


@pages.get("/adapters")
def adapters_page() -> str:
    try:
        page = page_of(
            list_adapters,
            db_session(),
            owner=current_owner(),
            limit=ADAPTERS_PER_PAGE,
            cursor=request.args.get("cursor"),
        )
    except InvalidCursor:
        abort(400, "That page link is not valid any more; start from the first page.")
    return render_template("adapters.html", adapters=page.rows, next_cursor=page.next_cursor)
