"""The HTML forms as a browser posts them: the CSRF token a page hands out,
signing in with a key, and what no page may contain (inline script, which the CSP forbids)."""

import re

SCRIPT_WITHOUT_SRC = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)


def csrf_token(client, path: str = "/") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client, key: str, next_path: str = "/"):
    return client.post("/signin", data={"key": key, "next": next_path, "csrf_token": csrf_token(client, "/signin")})
