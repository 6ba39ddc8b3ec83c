"""AUTOMATIC1111's settings, GET and POST /sdapi/v1/options. A1111 keeps one set for
the whole server; genq keeps each owner's own (db/a1111_options.py), so one
caller choosing a model never changes another's. Of its settings only
`sd_model_checkpoint` means something here: the model of the caller's calls that
name none. Other settings are answered with genq's fixed values and not kept."""

from typing import Annotated, Any

from flask import Response, jsonify
from pydantic import ConfigDict

from db.a1111_options import choose_checkpoint, chosen_checkpoint
from db.refusals import FieldError, SubmissionRejected
from db.registry import default_model, find_model
from web.compat.a1111 import a1111_api
from web.compat.bodies import CompatBody, reworded
from web.context import current_owner, db_session, platform


class OptionsRequest(CompatBody):
    """POST /sdapi/v1/options: any of A1111's settings; those not named are ignored."""

    model_config = ConfigDict(extra="allow")

    sd_model_checkpoint: Annotated[str | None, reworded("must be a model name")] = None


@a1111_api.get("/options")
def get_options() -> dict[str, Any]:
    chosen = chosen_checkpoint(db_session(), owner=current_owner())
    return {
        "sd_model_checkpoint": chosen or default_model(platform().settings, "image"),
        "sd_checkpoint_hash": None,
        "samples_format": "png",
        "sd_vae": "Automatic",
    }


@a1111_api.post("/options")
def set_options() -> Response:
    """Remembers the caller's model; null, as A1111 answers."""
    body = OptionsRequest.from_request()
    model = body.sd_model_checkpoint
    if model is not None:
        entry = find_model(platform().settings, model)
        if entry is None or entry.kind != "image":
            message = f"no image model {model!r}; see GET /sdapi/v1/sd-models"
            raise SubmissionRejected("unknown_model", [FieldError("sd_model_checkpoint", message)])
        session = db_session()
        choose_checkpoint(session, owner=current_owner(), model=model)
        session.commit()
    return jsonify(None)
