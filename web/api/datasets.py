"""Datasets over the API: upload (multipart), read one, list, delete. The rules an upload
must meet are db/uploads.py's; this module turns them into HTTP statuses and lets
an upload's body be larger (GENQ_MAX_UPLOAD_BYTES) than any other request's.
"""

import re
import uuid
from typing import Any

from flask import Flask, request, url_for
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema
from werkzeug.exceptions import RequestEntityTooLarge

from db import contract
from db.datasets import create_dataset, get_dataset, list_datasets
from db.deletion import delete_dataset
from db.settings import Settings
from db.uploads import UploadedFile, UploadLimits, UploadRefused, prepare_dataset
from web.api import api
from web.api.deleting import delete_owned
from web.api.errors import ApiError
from web.api.listing import PageQuery, owned_page, query_of
from web.api.operations import DELETED, Answer, Body, Header, error, links_to, operation
from web.api.serializers import serialize_dataset
from web.context import current_owner, db_session, platform

# The API's uploads, the fine-tuning form's (web/pages/training.py), which uploads
# the same way, the image and upscale forms' input images (web/pages/generation.py)
# and OpenAI's image edits (multipart, web/compat/openai_edits.py).
UPLOAD_ENDPOINTS = frozenset(
    {
        "api.upload_dataset",
        "api.upload_image",
        "pages.finetune_submit",
        "pages.submit_form",
        "pages.upscale_submit",
        "openai.edit_images",
        "openai.vary_image",
    }
)
# JSON bodies that may carry images inline (data URIs in params, A1111's base64 images).
IMAGE_JSON_ENDPOINTS = frozenset({"api.submit", "a1111.img2img", "a1111.png_info", "a1111.extra_single_image"})
MAX_NAME_LENGTH = 100  # datasets.name
# No control characters (C0, DEL, C1) and no line or paragraph separator.
ONE_LINE_OF_TEXT = "^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"
UPLOAD_TOO_LARGE = (
    "over GENQ_MAX_UPLOAD_BYTES (request_entity_too_large), GENQ_MAX_UPLOAD_FILE_BYTES (file_too_large) or"
    " GENQ_MAX_IMAGE_PIXELS (image_too_large, also decompression bombs)"
)
NO_DATASET = error("no such dataset, or another owner's (the same answer for both)")


class DatasetUpload(BaseModel):
    """The multipart body of POST /api/v1/datasets."""

    files: list[bytes] = Field(min_length=1, description="PNG, JPEG or WebP images and same-named .txt captions")
    name: str | SkipJsonSchema[None] = Field(
        default=None, json_schema_extra={"maxLength": MAX_NAME_LENGTH, "pattern": ONE_LINE_OF_TEXT}
    )


def install_upload_limit(app: Flask, settings: Settings) -> None:
    """Raise the body limit for uploads before any hook can read a body (Flask-WTF
    and web.auth read the form of a request signed in by cookie); install it first."""

    def raise_limit_for_uploads() -> None:
        if request.endpoint in UPLOAD_ENDPOINTS:
            request.max_content_length = settings.max_upload_bytes
        elif request.endpoint in IMAGE_JSON_ENDPOINTS:
            request.max_content_length = settings.max_image_request_bytes

    app.before_request(raise_limit_for_uploads)


def multipart_parts(field: str, expected: str) -> list[UploadedFile]:
    """The files sent in this multipart field (415 for another body, the upload's own
    413 when the body is over GENQ_MAX_UPLOAD_BYTES)."""
    if request.mimetype != "multipart/form-data":
        raise ApiError(415, "unsupported_media_type", expected)
    limit = platform().settings.max_upload_bytes
    try:
        # A browser sends a file input left empty as a part without a file name.
        return [UploadedFile(part.filename, part.stream) for part in request.files.getlist(field) if part.filename]
    except RequestEntityTooLarge:
        if (request.content_length or 0) <= limit:
            raise  # too many form parts, or a body streamed without a length: the generic 413
        message = f"an upload may have at most {limit} bytes"
        raise ApiError(
            413,
            "request_entity_too_large",
            message,
            [{"field": "body", "message": message, "rule": "max_upload_bytes", "limit": limit}],
        ) from None


def _dataset_name(name: str | None) -> str | None:
    """The name as sent (its rules are DatasetUpload's, which the document states), trimmed."""
    name = name or ""
    if len(name) > MAX_NAME_LENGTH:
        message = f"must be at most {MAX_NAME_LENGTH} characters"
    elif not re.fullmatch(ONE_LINE_OF_TEXT, name):
        message = "must be printable text on one line"
    else:
        return name.strip() or None
    raise ApiError(422, "validation_error", f"name: {message}", [{"field": "name", "message": message}])


@api.post("/datasets")
@operation(
    "Upload a dataset: images and optional same-named .txt captions",
    {
        201: Answer(
            "stored",
            contract.Dataset,
            headers={"Location": Header(str, "the dataset's URL")},
            links=links_to(("get_dataset_by_id", "delete_dataset_by_id"), "dataset_id", "$response.body#/id"),
        ),
        413: error(f"{UPLOAD_TOO_LARGE}, or over GENQ_MAX_DATASET_FILES (too_many_files)"),
        415: error("not multipart/form-data, or a file is not a PNG, JPEG or WebP image"),
        422: error(
            "a truncated or corrupt image (invalid_image), no image, an unusable or duplicate "
            "file name, a caption without its image, not UTF-8 or over GENQ_MAX_PROMPT_CHARS, "
            "or a name too long or not printable"
        ),
    },
    description=(
        "PNG, JPEG or WebP, judged by their bytes and fully decoded; each is re-encoded to PNG "
        "without metadata. cat.txt is the caption of cat.png. A refusal names the file and the "
        "rule in error.details; nothing is stored then."
    ),
    body=Body(DatasetUpload, "multipart/form-data", {"files": "image/png, image/jpeg, image/webp, text/plain"}),
)
def upload_dataset() -> tuple[dict[str, Any], int, dict[str, str]]:
    """201 with the dataset; nothing is stored when any file breaks a rule."""
    services = platform()
    files = multipart_parts("files", "send the images as multipart/form-data, repeated in the field `files`")
    name = _dataset_name(request.form.get("name"))
    try:
        images = prepare_dataset(files, UploadLimits.from_settings(services.settings))
    except UploadRefused as refused:
        raise ApiError(refused.status, refused.code, refused.message, [refused.detail("files")]) from None
    session = db_session()
    dataset = create_dataset(session, services.storage, owner=current_owner(), name=name, images=images)
    session.commit()
    location = url_for("api.get_dataset_by_id", dataset_id=dataset.id)
    return serialize_dataset(dataset).model_dump(mode="json"), 201, {"Location": location}


@api.get("/datasets/<uuid:dataset_id>")
@operation("Read a dataset", {200: Answer("the dataset", contract.Dataset), 404: NO_DATASET})
def get_dataset_by_id(dataset_id: uuid.UUID) -> dict[str, Any]:
    dataset = get_dataset(db_session(), dataset_id, owner=current_owner())
    if dataset is None:
        raise ApiError(404, "not_found", "no such dataset")
    return serialize_dataset(dataset).model_dump(mode="json")


@api.delete("/datasets/<uuid:dataset_id>")
@operation(
    "Delete a dataset and its images",
    {204: DELETED, 404: NO_DATASET, 409: error("dataset_in_use: a queued or running job trains on it")},
)
def delete_dataset_by_id(dataset_id: uuid.UUID) -> tuple[str, int]:
    """204 once the dataset and its images are gone; 409 while a queued or running
    job trains on it."""
    return delete_owned("dataset", delete_dataset, dataset_id, "a queued or running job trains on the dataset")


@api.get("/datasets")
@operation(
    "List own datasets, newest first",
    {
        200: Answer("a page of datasets", contract.DatasetPage),
        400: error("a cursor this API did not hand out"),
        422: error("an invalid limit"),
    },
    query=PageQuery,
)
def list_all_datasets() -> dict[str, Any]:
    page = owned_page(list_datasets, query_of(PageQuery))
    datasets = [serialize_dataset(dataset) for dataset in page.rows]
    return contract.DatasetPage(datasets=datasets, next_cursor=page.next_cursor).model_dump(mode="json")
