"""GET /api/v1/models: the models a job may name, their kinds (image or text), and
for each kind the one a job of that kind runs on when it names none."""

from typing import Any

from db.registry import MODEL_KINDS, default_model, list_models
from web.api import api
from web.context import platform


@api.get("/models")
def get_models() -> dict[str, Any]:
    settings = platform().settings
    defaults = {kind: default_model(settings, kind) for kind in MODEL_KINDS}
    return {
        "models": [
            {
                "name": entry.name,
                "origin": entry.origin,
                "kind": entry.kind,
                "default": entry.name == defaults[entry.kind],
            }
            for entry in list_models(settings)
        ],
        # The image default: what generate and finetune jobs use.
        "default": defaults["image"],
        "defaults": defaults,
    }
