"""Input images of jobs (image-to-image, inpainting, upscaling): uploads an owner
made (POST /api/v1/uploads) and images sent inline in a job's params as data URIs,
which are checked by the same rules (db/uploads.py) and stored as uploads, so a
job row holds only upload ids. Objects go to storage first, then the rows; the
caller commits. Every read is scoped by owner: another owner's upload is a
missing one, also when a job names it.
"""

import base64
import binascii
import io
import re
import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Upload
from db.refusals import FieldError, ReferenceNotFound, Refusal
from db.specs import Stated
from db.storage import Storage
from db.uploads import (
    STORED_CONTENT_TYPE,
    STORED_EXTENSION,
    PreparedImage,
    UploadedFile,
    UploadLimits,
    UploadRefused,
    UploadRejected,
    prepare_image,
)

DATA_URI = re.compile(r"data:image/(?:png|jpeg|webp);base64,(?P<data>[A-Za-z0-9+/=\s]*)", re.ASCII)
DATA_URI_PREFIX = re.compile(r"data:image/(?:png|jpeg|webp);base64,", re.ASCII)
UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}", re.ASCII)


def upload_key(upload_id: uuid.UUID) -> str:
    return f"uploads/{upload_id}.{STORED_EXTENSION}"


def image_reference(value: str) -> str:
    """A job param's input image: an upload id or a data:image/png|jpeg|webp;base64 URI
    (a pydantic validator: the form is checked with the params, the image at submit)."""
    if UUID_TEXT.fullmatch(value):
        return str(uuid.UUID(value))
    if DATA_URI_PREFIX.match(value):
        return value
    raise ValueError("must be an upload id (POST /api/v1/uploads) or a data:image/png|jpeg|webp;base64,... URI")


# The end of the text, in ECMA and Python regex alike (Python's `$` also matches before a final newline).
END_OF_TEXT = r"(?![\s\S])"
# A job param that takes an input image.
InputImage = Annotated[
    str,
    Stated(
        image_reference,
        {"anyOf": [{"pattern": f"^{UUID_TEXT.pattern}{END_OF_TEXT}"}, {"pattern": f"^{DATA_URI_PREFIX.pattern}"}]},
    ),
]


def add_upload(session: Session, storage: Storage, *, owner: str, image: PreparedImage) -> Upload:
    """Store the image's object, then add its row (flushed, not committed)."""
    upload_id = uuid.uuid4()
    key = upload_key(upload_id)
    storage.put(key, image.data, STORED_CONTENT_TYPE)
    upload = Upload(
        id=upload_id,
        owner=owner,
        storage_key=key,
        content_type=STORED_CONTENT_TYPE,
        width=image.width,
        height=image.height,
        bytes=len(image.data),
        sha256=image.sha256,
    )
    session.add(upload)
    session.flush()
    return upload


def get_upload(session: Session, upload_id: uuid.UUID, *, owner: str) -> Upload | None:
    return session.scalars(select(Upload).where(Upload.id == upload_id, Upload.owner == owner)).one_or_none()


def data_uri_bytes(value: str, field: str, limits: UploadLimits) -> bytes:
    """The bytes a data URI carries, not yet checked as an image; raises a Refusal
    naming `field` (413 when they break the file cap, refused before decoding)."""
    match = DATA_URI.fullmatch(value)
    if match is None:
        raise Refusal("invalid_image", f"{field}: not base64 data", [FieldError(field, "is not base64 data")])
    # 4 base64 characters carry 3 bytes: refuse an oversized one before decoding it.
    if len(match["data"]) * 3 // 4 > limits.max_file_bytes + 3:
        refused = UploadRefused(
            "file_too_large",
            f"an image may have at most {limits.max_file_bytes} bytes",
            file=None,
            rule="max_upload_file_bytes",
            limit=limits.max_file_bytes,
        )
        raise UploadRejected(refused, field)
    try:
        return base64.b64decode(match["data"], validate=False)
    except (binascii.Error, ValueError):
        raise Refusal("invalid_image", f"{field}: not base64 data", [FieldError(field, "is not base64 data")]) from None


def decode_inline_image(value: str, field: str, limits: UploadLimits) -> PreparedImage:
    """A data URI's image, checked and re-encoded as an upload's would be; raises a
    Refusal naming `field` (413 when its bytes break the file cap)."""
    data = data_uri_bytes(value, field, limits)
    try:
        return prepare_image(UploadedFile("inline.png", io.BytesIO(data)), limits)
    except UploadRefused as refused:
        raise UploadRejected(refused, field) from None


def png_data_uri(png: bytes) -> str:
    """PNG bytes as a job param's inline image (checked as any other at submit)."""
    return f"data:{STORED_CONTENT_TYPE};base64,{base64.b64encode(png).decode('ascii')}"


def inline_images(
    params: Mapping[str, Any], image_params: tuple[str, ...], limits: UploadLimits
) -> dict[str, PreparedImage]:
    """The data URIs among these params, decoded and checked: {param: PreparedImage}."""
    return {
        param: decode_inline_image(params[param], f"params.{param}", limits)
        for param in image_params
        if isinstance(params.get(param), str) and DATA_URI_PREFIX.match(params[param])
    }


def referenced_uploads(
    session: Session, owner: str, params: Mapping[str, Any], image_params: tuple[str, ...]
) -> dict[str, Upload]:
    """The owner's upload each of these params names by id (404 when one is not theirs)."""
    uploads = {}
    for param in image_params:
        value = params.get(param)
        if isinstance(value, str) and UUID_TEXT.fullmatch(value):
            upload = get_upload(session, uuid.UUID(value), owner=owner)
            if upload is None:
                raise ReferenceNotFound(
                    "upload_not_found", f"params.{param}", "no such upload; see POST /api/v1/uploads"
                )
            uploads[param] = upload
    return uploads
