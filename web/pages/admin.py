"""The /admin page for admin keys: every queue with its pause/resume button, and a
form that cancels all of an owner's jobs (the admin API's actions, as forms)."""

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from db.queue_admin import queue_states
from web.cancel import cancel_owner_jobs
from web.context import admin_only, current_api_key, db_session, platform
from web.pages import pages
from web.queue_admin import pause_kind, resume_kind


@pages.get("/admin")
@admin_only
def admin_page() -> str:
    return render_template("admin.html", queues=queue_states(db_session()))


@pages.post("/admin/queues/<kind>/pause")
@admin_only
def admin_pause_form(kind: str) -> Response:
    pause_kind(db_session(), kind, by=current_api_key().owner)
    return redirect(url_for("pages.admin_page"), code=303)


@pages.post("/admin/queues/<kind>/resume")
@admin_only
def admin_resume_form(kind: str) -> Response:
    resume_kind(db_session(), platform(), kind)
    return redirect(url_for("pages.admin_page"), code=303)


@pages.post("/admin/owners/cancel")
@admin_only
def admin_cancel_owner_form() -> Response:
    owner = request.form.get("owner", "").strip()
    canceled = cancel_owner_jobs(db_session(), platform(), owner) if owner else 0
    return redirect(url_for("pages.admin_page", owner=owner, canceled=canceled), code=303)
