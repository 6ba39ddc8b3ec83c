"""The owner's jobs: the list, a job's live page, and its Cancel button."""

import uuid

from flask import abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from db.jobs import get_job, list_jobs
from web.api.serializers import serialize_job
from web.cancel import cancel_owned_job
from web.context import current_owner, db_session, platform
from web.pages import pages
from web.paging import InvalidCursor, page_of

JOBS_PER_PAGE = 25


@pages.get("/jobs")
def jobs_page() -> str:
    try:
        page = page_of(
            list_jobs, db_session(), owner=current_owner(), limit=JOBS_PER_PAGE, cursor=request.args.get("cursor")
        )
    except InvalidCursor:
        abort(400, "That page link is not valid any more; start from the first page.")
    return render_template("jobs.html", page=page)


@pages.post("/jobs/<uuid:job_id>/cancel")
def cancel_form(job_id: uuid.UUID) -> Response:
    # A job that finished meanwhile is simply shown finished; only a missing one is an error.
    if cancel_owned_job(db_session(), platform(), job_id, owner=current_owner()) == "not_found":
        abort(404)
    return redirect(url_for("pages.job_page", job_id=job_id), code=303)


@pages.get("/jobs/<uuid:job_id>")
def job_page(job_id: uuid.UUID) -> str:
    session = db_session()
    job = get_job(session, job_id, owner=current_owner())
    if job is None:
        abort(404)
    return render_template("job.html", job=serialize_job(session, platform().storage, job).model_dump(mode="json"))
