"""GET /api/v1/models: the models a job may name, and the one used when it names none."""

from typing import Any

from db.registry import default_model, list_models
from web.api import api
from web.context import platform


@api.get("/models")
def get_models() -> dict[str, Any]:
    settings = platform().settings
    default = default_model(settings)
    return {
        "models": [
            {"name": entry.name, "origin": entry.origin, "default": entry.name == default}
            for entry in list_models(settings)
        ],
        "default": default,
    }
