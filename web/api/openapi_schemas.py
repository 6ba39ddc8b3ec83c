"""The response shapes of the OpenAPI document (web/api/openapi.py) and the
helpers that build its entries. They describe what web/api answers; the fuzz
test (tests/api/test_fuzz.py) fails when an answer and these disagree.
"""

from typing import Any

from db.kinds import job_kinds
from db.models import JobStatus

SCHEMA_REF = "#/components/schemas/{model}"


def ref(name: str) -> dict[str, str]:
    return {"$ref": SCHEMA_REF.format(model=name)}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def uuid_parameter(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}


def page_of(field: str, schema: str) -> dict[str, Any]:
    """A list answer: `field` holds the page's items, next_cursor the next page (null on the last)."""
    return {
        "type": "object",
        "required": [field, "next_cursor"],
        "properties": {field: {"type": "array", "items": ref(schema)}, "next_cursor": {"type": ["string", "null"]}},
    }


def error(description: str) -> dict[str, Any]:
    return json_body(ref("Error"), description)


def error_with_retry_after(description: str) -> dict[str, Any]:
    response = error(description)
    response["headers"] = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
    return response


# Every operation can answer these: no or a bad key, over the key's rate.
COMMON_RESPONSES = {
    "401": error("missing, unknown or revoked API key (the same answer for each)"),
    "429": error_with_retry_after("over this key's requests per minute, or a job limit (see the code)"),
}

ARTIFACT = {
    "type": "object",
    "required": ["id", "index", "url", "expired", "content_type", "width", "height", "seed", "bytes", "sha256"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "index": {"type": "integer", "minimum": 0},
        "kind": {
            "type": "string",
            "description": "image, text, audio, adapter (a finetune job's LoRA .safetensors) or report (an evaluation's JSON)",
        },
        "url": {
            "type": ["string", "null"],
            "description": "presigned S3 URL, or this API's download path; null once expired",
        },
        "expired": {
            "type": "boolean",
            "description": "its object was deleted (GENQ_RESULT_RETENTION_DAYS, or its adapter deleted)",
        },
        "content_type": {"type": "string"},
        "width": {"type": ["integer", "null"]},
        "height": {"type": ["integer", "null"]},
        "seed": {"type": ["integer", "null"]},
        "bytes": {"type": "integer"},
        "sha256": {"type": "string"},
        "text": {"type": "string", "description": "the generated text (text artifacts only)"},
        "finish_reason": {
            "type": "string",
            "enum": ["stop", "length"],
            "description": "text artifacts only: a stop string or the end-of-text token ended it, or max_new_tokens",
        },
        "usage": {
            "type": "object",
            "description": "text artifacts only: tokens counted by the model's tokenizer",
            "required": ["prompt_tokens", "completion_tokens"],
            "properties": {"prompt_tokens": {"type": "integer"}, "completion_tokens": {"type": "integer"}},
        },
        "sample_rate": {"type": "integer", "description": "audio artifacts only: samples per second"},
        "duration_seconds": {"type": "number", "description": "audio artifacts only: its length"},
        "clip_score": {
            "type": "number",
            "minimum": 0,
            "description": "scored images only: 100 x the cosine of the image's and its prompt's CLIP embeddings, floored at 0",
        },
    },
}

CLIP_SCORES = {
    "type": "object",
    "required": ["mean", "std", "per_image"],
    "properties": {
        "mean": {"type": "number"},
        "std": {"type": "number"},
        "per_image": {"type": "array", "items": {"type": "number", "minimum": 0}},
    },
}

JOB = {
    "type": "object",
    "required": [
        "id",
        "kind",
        "model",
        "status",
        "progress",
        "queue_position",
        "eta_seconds",
        "attempt",
        "params",
        "artifacts",
        "error",
        "created_at",
        "started_at",
        "finished_at",
    ],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "kind": {"type": "string", "enum": list(job_kinds())},
        "model": {"type": "string"},
        "status": {"type": "string", "enum": list(JobStatus)},
        "cancel_requested": {"type": "boolean"},
        "priority": {"type": "integer"},
        "retry_of": {
            "type": ["string", "null"],
            "format": "uuid",
            "description": "the failed or canceled job this one runs again",
        },
        "progress": {
            "type": "object",
            "required": ["step", "total", "fraction"],
            "properties": {
                "step": {"type": "integer"},
                "total": {"type": "integer"},
                "fraction": {"type": "number", "minimum": 0, "maximum": 1},
            },
        },
        "loss": nullable(
            {
                "type": "object",
                "description": "a finetune job's latest training loss (value null where it diverged)",
                "required": ["step", "value"],
                "properties": {"step": {"type": "integer"}, "value": {"type": ["number", "null"]}},
            }
        ),
        "queue_position": {"type": ["integer", "null"], "description": "jobs ahead; 0 running; null finished"},
        "queue_paused": {"type": "boolean", "description": "an admin paused this kind's queue: no ETA until resumed"},
        "eta_seconds": {"type": ["number", "null"], "description": "median estimate to finish"},
        "eta_p90_seconds": {"type": ["number", "null"]},
        "attempt": {"type": "integer"},
        "params": {"type": "object", "description": "the validated params, defaults and seed filled in"},
        "result": nullable(
            {
                "type": "object",
                "description": "the figures a succeeded evaluate job measured; null for other kinds",
                "required": ["n_images", "n_reference"],
                "properties": {
                    "clip_score": CLIP_SCORES,
                    "fid_clip": {"type": "number", "description": "FID computed on the clip model's image features"},
                    "n_images": {"type": "integer"},
                    "n_reference": {"type": "integer"},
                },
            }
        ),
        "artifacts": {"type": "array", "items": ref("Artifact")},
        "webhook": {"type": ["object", "null"]},
        "error": nullable(
            {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": ["string", "null"]}},
            }
        ),
        "created_at": {"type": "string", "format": "date-time"},
        "started_at": {"type": ["string", "null"], "format": "date-time"},
        "finished_at": {"type": ["string", "null"], "format": "date-time"},
    },
}

LOSS_SERIES = {
    "type": "object",
    "required": ["points"],
    "properties": {
        "points": {
            "type": "array",
            "description": "in step order; for a step an attempt resumed from a checkpoint repeated, its latest value",
            "items": {
                "type": "array",
                "description": "[step, loss]: the step from 1, the loss null where it diverged",
                "items": {"type": ["number", "null"]},
                "minItems": 2,
                "maxItems": 2,
            },
        }
    },
}

DATASET = {
    "type": "object",
    "required": ["id", "name", "files", "created_at"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "name": {"type": ["string", "null"]},
        "files": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "filename", "width", "height", "bytes", "content_type", "caption"],
                "properties": {
                    "index": {"type": "integer", "minimum": 0},
                    "filename": {"type": "string", "description": "as uploaded, sanitised"},
                    "width": {"type": "integer"},
                    "height": {"type": "integer"},
                    "bytes": {"type": "integer", "description": "of the stored, re-encoded PNG"},
                    "content_type": {"type": "string", "enum": ["image/png"]},
                    "caption": {"type": ["string", "null"], "description": "its .txt file's text"},
                },
            },
        },
        "created_at": {"type": "string", "format": "date-time"},
    },
}

ADAPTER = {
    "type": "object",
    "required": ["id", "name", "base_model", "method", "rank", "training_job_id", "created_at"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "name": {"type": "string"},
        "base_model": {"type": "string", "description": "the model it was trained on and may be used with"},
        "method": {"type": "string", "enum": ["lora"]},
        "rank": {"type": "integer"},
        "training_job_id": {"type": "string", "format": "uuid"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}

UPLOAD = {
    "type": "object",
    "required": ["id", "content_type", "width", "height", "bytes", "sha256", "created_at"],
    "properties": {
        "id": {"type": "string", "format": "uuid", "description": "what a job's image params take"},
        "content_type": {"type": "string", "enum": ["image/png"]},
        "width": {"type": "integer"},
        "height": {"type": "integer"},
        "bytes": {"type": "integer", "description": "of the stored, re-encoded PNG"},
        "sha256": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["field", "message"],
                        "properties": {
                            "field": {"type": "string"},
                            "message": {"type": "string"},
                            # An upload's refusal names the file and the rule it broke.
                            "file": {"type": "string"},
                            "rule": {"type": "string"},
                            "limit": {"type": "integer"},
                        },
                    },
                },
            },
        }
    },
}

# Event ids are bigints: 18 digits always fit.
EVENT_ID = {"type": "string", "pattern": "^[0-9]{1,18}$"}
# One event of the stream (status, queue, progress, loss, artifacts, done); data is JSON text.
SSE_EVENT = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string"},
        "data": {"type": "string", "contentMediaType": "application/json"},
        "id": EVENT_ID,
    },
}
