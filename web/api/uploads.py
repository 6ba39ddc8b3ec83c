"""Input images over the API (POST /api/v1/uploads, multipart field `file`, one
image): checked and re-encoded by db/uploads.py's rules, stored as an upload that
jobs name by id (image-to-image, inpainting, upscaling). Owner-scoped reads and
deletes."""

import uuid
from typing import Any

from flask import url_for
from pydantic import BaseModel, Field

from db import contract
from db.deletion import delete_upload
from db.input_images import add_upload, get_upload
from db.uploads import UploadLimits, UploadRefused, prepare_image
from web.api import api
from web.api.datasets import UPLOAD_TOO_LARGE, multipart_parts
from web.api.deleting import delete_owned
from web.api.errors import ApiError
from web.api.operations import DELETED, Answer, Body, Header, error, links_to, operation
from web.api.serializers import serialize_upload
from web.context import current_owner, db_session, platform

NO_UPLOAD = error("no such upload, or another owner's (the same answer for both)")


class ImageUpload(BaseModel):
    """The multipart body of POST /api/v1/uploads."""

    file: bytes = Field(description="one PNG, JPEG or WebP image")


@api.post("/uploads")
@operation(
    "Upload an input image (image-to-image, inpainting, upscaling)",
    {
        201: Answer(
            "stored",
            contract.Upload,
            headers={"Location": Header(str, "the upload's URL")},
            links=links_to(("get_upload_by_id", "delete_upload_by_id"), "upload_id", "$response.body#/id"),
        ),
        413: error(UPLOAD_TOO_LARGE),
        415: error("not multipart/form-data, or not a PNG, JPEG or WebP image"),
        422: error("no file or more than one, a truncated or corrupt image, an unusable file name"),
    },
    description=(
        "One PNG, JPEG or WebP image, judged by its bytes and fully decoded, upright per its EXIF "
        "orientation, re-encoded to PNG without metadata. Jobs name it by id; another owner's "
        "upload is a 404 everywhere."
    ),
    body=Body(ImageUpload, "multipart/form-data", {"file": "image/png, image/jpeg, image/webp"}),
)
def upload_image() -> tuple[dict[str, Any], int, dict[str, str]]:
    """201 with the upload; nothing is stored when the image breaks a rule."""
    services = platform()
    files = multipart_parts("file", "send one image as multipart/form-data in the field `file`")
    if len(files) != 1:
        message = "send exactly one image in the field `file`"
        raise ApiError(422, "validation_error", f"file: {message}", [{"field": "file", "message": message}])
    try:
        image = prepare_image(files[0], UploadLimits.for_input_images(services.settings))
    except UploadRefused as refused:
        raise ApiError(refused.status, refused.code, refused.message, [refused.detail("file")]) from None
    session = db_session()
    upload = add_upload(session, services.storage, owner=current_owner(), image=image)
    session.commit()
    location = url_for("api.get_upload_by_id", upload_id=upload.id)
    return serialize_upload(upload).model_dump(mode="json"), 201, {"Location": location}


@api.get("/uploads/<uuid:upload_id>")
@operation("Read an upload", {200: Answer("the upload", contract.Upload), 404: NO_UPLOAD})
def get_upload_by_id(upload_id: uuid.UUID) -> dict[str, Any]:
    upload = get_upload(db_session(), upload_id, owner=current_owner())
    if upload is None:
        raise ApiError(404, "not_found", "no such upload")
    return serialize_upload(upload).model_dump(mode="json")


@api.delete("/uploads/<uuid:upload_id>")
@operation(
    "Delete an upload and its image",
    {204: DELETED, 404: NO_UPLOAD, 409: error("upload_in_use: a queued or running job reads it")},
)
def delete_upload_by_id(upload_id: uuid.UUID) -> tuple[str, int]:
    """204 once the upload and its image are gone; 409 while a queued or running job reads it."""
    return delete_owned("upload", delete_upload, upload_id, "a queued or running job reads the upload")
