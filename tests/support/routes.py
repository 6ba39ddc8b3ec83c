"""The app's own list of its routes, so access tests cover every route,
including ones added after the tests were written."""

import re

from flask import Flask

AUTOMATIC_METHODS = {"HEAD", "OPTIONS"}
CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")


def routes(app: Flask, blueprint: str) -> list[tuple[str, str]]:
    """(method, URL rule) of every route of `blueprint`, e.g. ("GET", "/api/v1/jobs/<uuid:job_id>");
    the DELETE routes last, so that a test calling each in turn has its rows until the end."""
    found = [
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0] == blueprint
        for method in sorted(rule.methods - AUTOMATIC_METHODS)
    ]
    return sorted(found, key=lambda route: route[0] == "DELETE")


def fill(rule: str, **values: object) -> str:
    """The rule with its variables replaced by `values` (by name), else a harmless default."""

    def value(match: re.Match) -> str:
        converter, name = match.groups()
        if name in values:
            return str(values[name])
        return {"uuid": "00000000-0000-4000-8000-000000000000", "int": "0"}.get(converter or "", "x")

    return CONVERTER.sub(value, rule)
