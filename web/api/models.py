"""GET /api/v1/models: the models a job may name, their kinds (image, text or
upscaler), and for each kind jobs default to the one a job runs on when it names none."""

from typing import Any

from db import contract
from db.kinds import defaulted_model_kinds
from db.registry import default_model, list_models
from web.api import api
from web.api.operations import Answer, operation
from web.context import platform


@api.get("/models")
@operation("Models a job may name", {200: Answer("the models", contract.ModelList)})
def get_models() -> dict[str, Any]:
    settings = platform().settings
    defaults = {kind: default_model(settings, kind) for kind in defaulted_model_kinds()}
    models = [
        contract.ModelEntry(
            name=entry.name, origin=entry.origin, kind=entry.kind, default=entry.name == defaults.get(entry.kind)
        )
        for entry in list_models(settings)
    ]
    # `default` is the image default: what generate and finetune jobs use.
    return contract.ModelList(models=models, default=defaults["image"], defaults=defaults).model_dump(mode="json")
