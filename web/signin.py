"""Signing a browser in with an API key pasted once, and out again.

The key itself never goes into the cookie: the signed session holds the key's
id, checked against the database on every request, so revoking a key signs its
browsers out. Never put a key in a URL (it would land in logs and history).
"""

import logging

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from db.accounts import authenticate_key
from web.auth import sign_in, sign_out
from web.context import db_session

log = logging.getLogger(__name__)

signin = Blueprint("signin", __name__)


def _local_path(target: str | None) -> str:
    # Only a path on this site: "//evil.example" or "https://..." would be an open redirect.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("pages.index")


@signin.get("/signin")
def form() -> str:
    return render_template("signin.html", next=_local_path(request.args.get("next")), error=None)


@signin.post("/signin")
def submit() -> Response | tuple[str, int]:
    target = _local_path(request.form.get("next"))
    key = authenticate_key(db_session(), request.form.get("key", "").strip())
    if key is None:
        log.info("sign-in refused from %s: not a valid API key", request.remote_addr)
        error = "That key is not valid, or it has been revoked."
        return render_template("signin.html", next=target, error=error), 422
    sign_in(key)
    log.info("owner %s signed in from %s with key %s", key.owner, request.remote_addr, key.prefix)
    return redirect(target, code=303)


@signin.post("/signout")
def signout() -> Response:
    sign_out()
    return redirect(url_for("signin.form"), code=303)
