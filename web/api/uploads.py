"""Input images over the API (POST /api/v1/uploads, multipart field `file`, one
image): checked and re-encoded by db/uploads.py's rules, stored as an upload that
jobs name by id (image-to-image, inpainting, upscaling). Owner-scoped reads and
deletes."""

import uuid
from typing import Any

from flask import url_for

from db.deletion import delete_upload
from db.input_images import add_upload, get_upload
from db.uploads import UploadLimits, UploadRefused, prepare_image
from web.api import api
from web.api.datasets import multipart_parts
from web.api.deleting import delete_owned
from web.api.errors import ApiError
from web.api.serializers import serialize_upload
from web.context import current_owner, db_session, platform


@api.post("/uploads")
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
    return serialize_upload(upload), 201, {"Location": url_for("api.get_upload_by_id", upload_id=upload.id)}


@api.get("/uploads/<uuid:upload_id>")
def get_upload_by_id(upload_id: uuid.UUID) -> dict[str, Any]:
    upload = get_upload(db_session(), upload_id, owner=current_owner())
    if upload is None:
        raise ApiError(404, "not_found", "no such upload")
    return serialize_upload(upload)


@api.delete("/uploads/<uuid:upload_id>")
def delete_upload_by_id(upload_id: uuid.UUID) -> tuple[str, int]:
    """204 once the upload and its image are gone; 409 while a queued or running job reads it."""
    return delete_owned("upload", delete_upload, upload_id, "a queued or running job reads the upload")
