"""What schemathesis cannot read in the OpenAPI document, given to it (loaded by
tests/e2e/test_api_contract.py through its config's `hooks`):

- real images for the image media types: the API decodes every image it is sent,
  and schemathesis's own samples are 1x1 files, some of them in formats it refuses;
- in schema-valid cases, a webhook URL this deployment may call: a URL's host must
  resolve, to a public address or an allowed host (GENQ_WEBHOOK_ALLOWED_HOSTS),
  which no schema can state. Schema-invalid cases keep what was generated;
- which refusals of schema-valid requests are right: those by rules no JSON Schema
  states (one value against another, or against what is stored). Each is listed
  below by its status, error code and, for validation errors, the field and the
  rule's message; any other refusal of a schema-valid request fails the run."""

import os
import re

import schemathesis
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import RejectedPositiveData

from tests.support.uploads import image_bytes

CALLABLE_WEBHOOK_URL = os.environ["GENQ_FUZZ_WEBHOOK_URL"]
IMAGE_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
SIDE = st.integers(min_value=1, max_value=48)

for media_type, image_format in IMAGE_FORMATS.items():
    schemathesis.openapi.media_type(
        media_type, st.builds(lambda width, height, f=image_format: image_bytes((width, height), format=f), SIDE, SIDE)
    )


@schemathesis.hook
def before_call(context, case, kwargs):
    schema_valid = case.meta is not None and case.meta.generation.mode.is_positive
    if schema_valid and isinstance(case.body, dict) and isinstance(case.body.get("webhook_url"), str):
        case.body["webhook_url"] = CALLABLE_WEBHOOK_URL


# (status, error code, the operation) of refusals that depend on stored state or on
# bytes, not on the request's shape.
STATE_REFUSALS = {
    (410, "artifact_expired", "GET /jobs/{job_id}/artifacts/{index}"),  # swept (retention, or its adapter deleted)
    (422, "duplicate_filename", "POST /datasets"),  # a dataset's files need distinct names (captions pair by name)
    (422, "no_images", "POST /datasets"),  # a dataset of caption files alone
    (422, "idempotency_key_reused", "POST /jobs"),  # the key was sent before with another body
    (422, "idempotency_key_reused", "POST /jobs/{job_id}/retry"),
    (422, "invalid_image", "POST /jobs"),  # a data URI's bytes are no image (uploads get real ones)
    (422, "adapter_model_mismatch", "POST /jobs"),  # the adapter was trained for another model
}
# Validation errors of one value against another, or against what is stored: (field, message).
CROSS_FIELD_RULES = [
    (r"params\.strength", r"with \d+ steps must be at least"),
    (r"params\.mask_image", r"needs an init_image"),
    (r"params\.adapters", r"names an adapter more than once"),
    (r"params\.hires", r"text-to-image jobs only|needs the job's width and height|more than GENQ_MAX|runs no step"),
    (r"params", r"checkpointing_steps must be at least"),
    (r"params\.reference", r"fid compares|only fid reads"),
    (r"params\.(images|reference)(\.job_ids\.\d+)?", r"holds \d+ images|only a succeeded job's images"),
    (r"params\.prompts", r"give one prompt"),
    (r"params\.scale", r"must be 2 or 4 for the upscaler model|GENQ_MAX_UPSCALED_PIXELS"),
]


def _stated_nowhere(detail: dict, case) -> bool:
    if detail.get("field") == "params.adapters" and "GENQ_MAX_ADAPTERS_PER_JOB" in detail.get("message", ""):
        # The document's maxItems is the cap; only the `adapter` shorthand's one more is unstated.
        params = case.body.get("params") if isinstance(case.body, dict) else None
        return isinstance(params, dict) and params.get("adapter") is not None
    return any(
        re.fullmatch(field, detail.get("field", "")) and re.search(message, detail.get("message", ""))
        for field, message in CROSS_FIELD_RULES
    )


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """False (drop it) for a schema-valid request refused by a rule listed above."""
    if not isinstance(failure, RejectedPositiveData):
        return True
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return True
    if (
        response.status_code,
        error.get("code"),
        f"{case.operation.method.upper()} {case.operation.path}",
    ) in STATE_REFUSALS:
        return False
    details = error.get("details") or []
    return not (
        error.get("code") == "validation_error" and details and all(_stated_nowhere(detail, case) for detail in details)
    )
