"""GET /api/v1/openapi.json: the OpenAPI 3.1 description of every /api/v1 route,
for this deployment (its models and caps). Request bodies come from the pydantic
specs; responses are PATHS here with the shapes of web/api/openapi_schemas.py,
kept true by the schemathesis fuzz test; tests/api/test_openapi.py fails when a
route is missing from PATHS. Add a route here in the same change that adds it
(docs/design.md says how).
"""

from typing import Any

from db.idempotency import MAX_KEY_LENGTH
from db.kinds import defaulted_model_kinds, job_kinds
from db.models import JobStatus
from db.registry import MODEL_KINDS, list_models
from db.settings import Settings
from db.specs import JobChange, SubmitRequest
from web.api import api
from web.api.datasets import MAX_NAME_LENGTH as MAX_DATASET_NAME_LENGTH
from web.api.listing import MAX_PAGE_SIZE
from web.api.openapi_schemas import (
    ADAPTER,
    ARTIFACT,
    COMMON_RESPONSES,
    DATASET,
    ERROR,
    EVENT_ID,
    JOB,
    LOSS_SERIES,
    SCHEMA_REF,
    SSE_EVENT,
    UPLOAD,
    error,
    error_with_retry_after,
    json_body,
    nullable,
    page_of,
    ref,
    uuid_parameter,
)
from web.context import platform

JOB_ID = uuid_parameter("job_id")
BINARY = {"type": "string", "format": "binary"}


def multipart_body(field: str, schema: dict[str, Any], content_types: str, **optional: Any) -> dict[str, Any]:
    """A required multipart/form-data body: the file field `field` and optional text fields."""
    return {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "required": [field], "properties": {field: schema, **optional}},
                "encoding": {field: {"contentType": content_types}},
            }
        },
    }


PAGE_PARAMETERS = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}},
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
]
JOB_NOT_FOUND = error("no such job, or another owner's (the same answer for both)")
DELETED = {"description": "deleted: objects first, then rows"}

PATHS: dict[str, dict[str, Any]] = {
    "/jobs": {
        "post": {
            "summary": "Submit a job",
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": "same key and body: the same job (200); same key, other body: 422",
                    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
                }
            ],
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref("SubmitRequest")}}},
            "responses": {
                "202": json_body(ref("Job"), "queued"),
                "200": json_body(ref("Job"), "the job an earlier request with this Idempotency-Key made"),
                "400": error("the body is not valid JSON"),
                "413": error(
                    "the body is larger than GENQ_MAX_IMAGE_REQUEST_BYTES, or an image in params breaks an"
                    " upload's cap (file_too_large, image_too_large)"
                ),
                "415": error("the body is not application/json, or an image in params is not PNG, JPEG or WebP"),
                "422": error(
                    "invalid params, unknown model, a model of the wrong kind, an adapter trained for"
                    " another model (adapter_model_mismatch), or a reused Idempotency-Key"
                ),
                "404": error(
                    "params name a dataset (dataset_not_found), adapter (adapter_not_found), upload"
                    " (upload_not_found) or job (job_not_found, an evaluation's images) the caller does not have"
                ),
            },
        },
        "get": {
            "summary": "List own jobs, newest first",
            "parameters": [
                {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(JobStatus)}},
                {"name": "kind", "in": "query", "schema": {"type": "string", "enum": list(job_kinds())}},
                *PAGE_PARAMETERS,
            ],
            "responses": {
                "200": json_body(page_of("jobs", "Job"), "a page of jobs"),
                "400": error("a cursor this API did not hand out"),
                "422": error("an invalid filter or limit"),
            },
        },
    },
    "/jobs/{job_id}": {
        "get": {
            "summary": "Read a job",
            "parameters": [JOB_ID],
            "responses": {"200": json_body(ref("Job"), "the job"), "404": JOB_NOT_FOUND},
        },
        "patch": {
            "summary": "Move a queued job within its owner's turn (priority)",
            "parameters": [JOB_ID],
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref("JobChange")}}},
            "responses": {
                "200": json_body(ref("Job"), "the job with its new priority and place"),
                "400": error("the body is not valid JSON"),
                "404": JOB_NOT_FOUND,
                "409": error("the job is not queued (job_not_queued)"),
                "415": error("the body is not application/json"),
                "422": error("a priority outside -10..10, or another field"),
            },
        },
        "delete": {
            "summary": "Delete a finished job: its objects, its row and its events",
            "parameters": [JOB_ID],
            "responses": {
                "204": DELETED,
                "404": JOB_NOT_FOUND,
                "409": error("job_not_finished (queued or running: cancel it first), or job_has_adapter"),
            },
        },
    },
    "/jobs/{job_id}/retry": {
        "post": {
            "summary": "Run a failed or canceled job again, as a new job",
            "parameters": [
                JOB_ID,
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": "the same key again: the same retry (200)",
                    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
                },
            ],
            "responses": {
                "202": json_body(ref("Job"), "the new job, queued, with retry_of naming this one"),
                "200": json_body(ref("Job"), "the retry an earlier request with this Idempotency-Key made"),
                "404": JOB_NOT_FOUND,
                "409": error("the job is not failed or canceled (job_not_retryable)"),
                "422": error("its request no longer passes today's checks, or a reused Idempotency-Key"),
            },
        }
    },
    "/jobs/{job_id}/cancel": {
        "post": {
            "summary": "Cancel a job",
            "parameters": [JOB_ID],
            "responses": {
                "200": json_body(ref("Job"), "canceled (it was queued)"),
                "202": json_body(ref("Job"), "running: stops at its next step"),
                "404": JOB_NOT_FOUND,
                "409": error("the job has already finished"),
            },
        }
    },
    "/jobs/{job_id}/loss": {
        "get": {
            "summary": "A training job's loss series",
            "parameters": [JOB_ID],
            "responses": {
                "200": json_body(LOSS_SERIES, "one [step, loss] per optimisation step so far; empty for other kinds"),
                "404": JOB_NOT_FOUND,
            },
        }
    },
    "/jobs/{job_id}/events": {
        "get": {
            "summary": "The job's events as Server-Sent Events",
            "parameters": [
                JOB_ID,
                {"name": "Last-Event-ID", "in": "header", "schema": EVENT_ID},
                {"name": "last_event_id", "in": "query", "schema": EVENT_ID},
            ],
            "responses": {
                "200": {"description": "event stream", "content": {"text/event-stream": {"schema": SSE_EVENT}}},
                "204": {"description": "finished and every event was seen"},
                "400": error("Last-Event-ID is not an event id"),
                "404": JOB_NOT_FOUND,
                "503": error_with_retry_after("this server has no free event stream"),
            },
        }
    },
    "/jobs/{job_id}/artifacts/{index}": {
        "get": {
            "summary": "Download an artifact (local storage; S3 artifacts have presigned URLs)",
            "parameters": [
                JOB_ID,
                {"name": "index", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}},
            ],
            "responses": {
                "200": {
                    "description": "the file",
                    "content": {
                        media: {"schema": {"type": "string", "format": "binary"}}
                        for media in ("image/png", "image/jpeg", "image/webp")
                    },
                },
                "304": {"description": "not modified (If-None-Match)"},
                "404": error("no such job or artifact"),
                "410": error("artifact_expired: its object was deleted by retention (or with its adapter)"),
            },
        }
    },
    "/models": {
        "get": {
            "summary": "Models a job may name",
            "responses": {
                "200": json_body(
                    {
                        "type": "object",
                        "required": ["models", "default"],
                        "properties": {
                            "models": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["name", "origin", "kind", "default"],
                                    "properties": {
                                        "name": {"type": "string"},
                                        "origin": {"type": "string"},
                                        "kind": {"type": "string", "enum": list(MODEL_KINDS)},
                                        "default": {"type": "boolean", "description": "the default of its kind"},
                                    },
                                },
                            },
                            "default": {"type": ["string", "null"], "description": "the image default"},
                            "defaults": {
                                "type": "object",
                                "description": "each kind's default: image (generate, finetune), text (textgen), speech (speech);"
                                " upscale jobs name their upscaler in params.upscaler",
                                "properties": {kind: {"type": ["string", "null"]} for kind in defaulted_model_kinds()},
                            },
                        },
                    },
                    "the models",
                )
            },
        }
    },
    "/webhook-secret": {
        "get": {
            "summary": "The secret that signs the caller's webhook deliveries",
            "responses": {
                "200": json_body(
                    {
                        "type": "object",
                        "required": ["secret", "header", "format"],
                        "properties": {
                            "secret": {"type": "string"},
                            "header": {"type": "string"},
                            "format": {"type": "string"},
                        },
                    },
                    "the secret and how deliveries are signed with it",
                )
            },
        }
    },
    "/datasets": {
        "post": {
            "summary": "Upload a dataset: images and optional same-named .txt captions",
            "description": (
                "PNG, JPEG or WebP, judged by their bytes and fully decoded; each is re-encoded to PNG "
                "without metadata. cat.txt is the caption of cat.png. A refusal names the file and the "
                "rule in error.details; nothing is stored then."
            ),
            "requestBody": multipart_body(
                "files",
                {"type": "array", "items": BINARY},
                "image/png, image/jpeg, image/webp, text/plain",
                name={"type": "string", "maxLength": MAX_DATASET_NAME_LENGTH},
            ),
            "responses": {
                "201": json_body(ref("Dataset"), "stored"),
                "413": error(
                    "over GENQ_MAX_UPLOAD_BYTES (request_entity_too_large), GENQ_MAX_DATASET_FILES "
                    "(too_many_files), GENQ_MAX_UPLOAD_FILE_BYTES (file_too_large) or "
                    "GENQ_MAX_IMAGE_PIXELS (image_too_large, also decompression bombs)"
                ),
                "415": error("not multipart/form-data, or a file is not a PNG, JPEG or WebP image"),
                "422": error(
                    "a truncated or corrupt image (invalid_image), no image, an unusable or duplicate "
                    "file name, a caption without its image, not UTF-8 or over GENQ_MAX_PROMPT_CHARS, "
                    "or a name too long or not printable"
                ),
            },
        },
        "get": {
            "summary": "List own datasets, newest first",
            "parameters": PAGE_PARAMETERS,
            "responses": {
                "200": json_body(page_of("datasets", "Dataset"), "a page of datasets"),
                "400": error("a cursor this API did not hand out"),
                "422": error("an invalid limit"),
            },
        },
    },
    "/datasets/{dataset_id}": {
        "get": {
            "summary": "Read a dataset",
            "parameters": [uuid_parameter("dataset_id")],
            "responses": {
                "200": json_body(ref("Dataset"), "the dataset"),
                "404": error("no such dataset, or another owner's (the same answer for both)"),
            },
        },
        "delete": {
            "summary": "Delete a dataset and its images",
            "parameters": [uuid_parameter("dataset_id")],
            "responses": {
                "204": DELETED,
                "404": error("no such dataset, or another owner's (the same answer for both)"),
                "409": error("dataset_in_use: a queued or running job trains on it"),
            },
        },
    },
    "/adapters": {
        "get": {
            "summary": "List own adapters (trained by finetune jobs), newest first",
            "parameters": PAGE_PARAMETERS,
            "responses": {
                "200": json_body(page_of("adapters", "Adapter"), "a page of adapters"),
                "400": error("a cursor this API did not hand out"),
                "422": error("an invalid limit"),
            },
        }
    },
    "/adapters/{adapter_id}": {
        "get": {
            "summary": "Read an adapter",
            "parameters": [uuid_parameter("adapter_id")],
            "responses": {
                "200": json_body(ref("Adapter"), "the adapter"),
                "404": error("no such adapter, or another owner's (the same answer for both)"),
            },
        },
        "delete": {
            "summary": "Delete an adapter and its weights (its training job stays, the artifact expired)",
            "parameters": [uuid_parameter("adapter_id")],
            "responses": {
                "204": DELETED,
                "404": error("no such adapter, or another owner's (the same answer for both)"),
                "409": error("adapter_in_use: a queued or running job uses it"),
            },
        },
    },
    "/uploads": {
        "post": {
            "summary": "Upload an input image (image-to-image, inpainting, upscaling)",
            "description": (
                "One PNG, JPEG or WebP image, judged by its bytes and fully decoded, upright per its EXIF "
                "orientation, re-encoded to PNG without metadata. Jobs name it by id; another owner's "
                "upload is a 404 everywhere."
            ),
            "requestBody": multipart_body("file", BINARY, "image/png, image/jpeg, image/webp"),
            "responses": {
                "201": json_body(ref("Upload"), "stored"),
                "413": error(
                    "over GENQ_MAX_UPLOAD_BYTES (request_entity_too_large), GENQ_MAX_UPLOAD_FILE_BYTES "
                    "(file_too_large) or GENQ_MAX_IMAGE_PIXELS (image_too_large, also decompression bombs)"
                ),
                "415": error("not multipart/form-data, or not a PNG, JPEG or WebP image"),
                "422": error("no file or more than one, a truncated or corrupt image, an unusable file name"),
            },
        }
    },
    "/uploads/{upload_id}": {
        "get": {
            "summary": "Read an upload",
            "parameters": [uuid_parameter("upload_id")],
            "responses": {
                "200": json_body(ref("Upload"), "the upload"),
                "404": error("no such upload, or another owner's (the same answer for both)"),
            },
        },
        "delete": {
            "summary": "Delete an upload and its image",
            "parameters": [uuid_parameter("upload_id")],
            "responses": {
                "204": DELETED,
                "404": error("no such upload, or another owner's (the same answer for both)"),
                "409": error("upload_in_use: a queued or running job reads it"),
            },
        },
    },
    "/openapi.json": {
        "get": {
            "summary": "This document",
            "responses": {"200": json_body({"type": "object"}, "the OpenAPI document")},
        }
    },
}


def _request_schemas(settings: Settings) -> dict[str, Any]:
    """SubmitRequest and each kind's params from pydantic, with this deployment's caps and models."""
    schemas: dict[str, Any] = {}
    for kind in job_kinds().values():
        spec = kind.spec.model_json_schema(ref_template=SCHEMA_REF)
        schemas.update(spec.pop("$defs", {}))
        schemas[kind.spec.__name__] = spec
    generate = schemas["GenerateSpec"]["properties"]
    for name in ("prompt", "negative_prompt"):
        generate[name]["maxLength"] = settings.max_prompt_chars
    # Not blank. The spec also takes a blank one with an init_image; the document
    # states the stricter rule, which JSON Schema can say of one field.
    generate["prompt"]["pattern"] = r"\S"
    for name, cap in (("width", settings.max_width), ("height", settings.max_height)):
        generate[name]["anyOf"][0].update(maximum=cap, multipleOf=8)
    schemas["SpeechSpec"]["properties"]["text"].update(maxLength=settings.max_speech_chars, pattern=r"\S")

    schemas["JobChange"] = JobChange.model_json_schema(ref_template=SCHEMA_REF)
    submit = SubmitRequest.model_json_schema(ref_template=SCHEMA_REF)
    schemas.update(submit.pop("$defs", {}))
    submit["properties"]["kind"]["enum"] = list(job_kinds())
    submit["properties"]["params"] = {"oneOf": [ref(kind.spec.__name__) for kind in job_kinds().values()]}
    models = [entry.name for entry in list_models(settings)]
    submit["properties"]["model"] = nullable({"type": "string", "enum": models}) if models else {"type": "null"}
    schemas["SubmitRequest"] = submit
    return schemas


def openapi_document(settings: Settings) -> dict[str, Any]:
    operations = {
        path: {
            method: {**operation, "responses": {**operation["responses"], **COMMON_RESPONSES}}
            for method, operation in methods.items()
        }
        for path, methods in PATHS.items()
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "genq", "version": "1", "description": "A job queue for generative AI."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "paths": operations,
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "an API key, gq_live_..."}
            },
            "schemas": {
                "Job": JOB,
                "Artifact": ARTIFACT,
                "Dataset": DATASET,
                "Adapter": ADAPTER,
                "Upload": UPLOAD,
                "Error": ERROR,
                **_request_schemas(settings),
            },
        },
    }


@api.get("/openapi.json")
def get_openapi() -> dict[str, Any]:
    return openapi_document(platform().settings)
