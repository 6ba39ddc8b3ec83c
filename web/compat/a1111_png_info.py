"""AUTOMATIC1111's POST /sdapi/v1/png-info: what an image says about how it was made.
Its `parameters` text chunk (A1111's infotext, db/infotext.py) when it has one,
else for an image genq made the same text built from genq's own chunks. Only the
header and the chunks before the pixels are read; the pixels are never decoded."""

import io
from typing import Annotated, Any

from PIL import Image, UnidentifiedImageError

from db.infotext import PARAMETERS_CHUNK, infotext_of_genq_chunks, parse_infotext
from db.input_images import data_uri_bytes
from db.refusals import FieldError, SubmissionRejected
from db.uploads import ACCEPTED_FORMATS, UploadLimits
from web.compat.a1111 import a1111_api, as_data_uri
from web.compat.bodies import CompatBody, reworded
from web.context import platform


class PngInfoRequest(CompatBody):
    image: Annotated[str, reworded("must be a base64 image")]


@a1111_api.post("/png-info")
def png_info() -> dict[str, Any]:
    body = PngInfoRequest.from_request()
    data = data_uri_bytes(as_data_uri(body.image), "image", UploadLimits.for_input_images(platform().settings))
    try:
        with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as image:
            size = image.size
            chunks = {
                key: value for key, value in image.info.items() if isinstance(key, str) and isinstance(value, str)
            }
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
        raise SubmissionRejected("invalid_image", [FieldError("image", "is not a PNG, JPEG or WebP image")]) from None
    info = chunks.pop(PARAMETERS_CHUNK, None) or infotext_of_genq_chunks(chunks, size) or ""
    return {"info": info, "items": chunks, "parameters": parse_infotext(info) if info else {}}
