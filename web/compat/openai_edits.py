"""OpenAI's image edits and variations (multipart, POST /v1/images/edits and
/v1/images/variations) as image-to-image and inpainting generate jobs. The files
are checked as uploads are (db/uploads.py) and go to the job as inline images.
A mask is OpenAI's: its fully transparent pixels are the ones to repaint (genq's
mask is white there); an edit without a mask repaints the image's own
transparent pixels, and the whole image when it has none."""

import io
from typing import Any

from PIL import Image

from db.input_images import png_data_uri
from db.refusals import FieldError, SubmissionRejected
from db.uploads import PreparedImage, UploadLimits, UploadRefused, UploadRejected, prepare_image
from web.api.datasets import multipart_parts
from web.compat.bodies import JobParam, present
from web.compat.jobs import run_compat_job
from web.compat.openai import ImagesRequest, image_model, images_answer, openai_api
from web.context import platform

FULLY_TRANSPARENT = 0
REPAINT, KEEP = 255, 0


class ImageInputRequest(ImagesRequest):
    """The form fields of an edit or a variation; genq's `strength` via extra_body."""

    strength: JobParam = None


class VariationRequest(ImageInputRequest):
    """OpenAI's variations take no prompt: the image alone says what to paint."""

    prompt: JobParam = ""


def _sent_image(field: str) -> PreparedImage | None:
    """The image file sent as `field` (or `field[]`, as the SDK sends a list), checked."""
    expected = f"send the image as multipart/form-data in the field `{field}`"
    files = multipart_parts(field, expected) + multipart_parts(f"{field}[]", expected)
    if len(files) > 1:
        raise SubmissionRejected("validation_error", [FieldError(field, "genq takes one image here")])
    if not files:
        return None
    try:
        return prepare_image(files[0], UploadLimits.for_input_images(platform().settings))
    except UploadRefused as refused:
        raise UploadRejected(refused, field) from None


def _required_image(field: str) -> PreparedImage:
    image = _sent_image(field)
    if image is None:
        raise SubmissionRejected("validation_error", [FieldError(field, "an image file is required")])
    return image


def _repaint_mask(image: PreparedImage) -> bytes | None:
    """genq's mask of an image's fully transparent pixels; None when it has no alpha
    channel (prepare_image keeps one as RGBA)."""
    with Image.open(io.BytesIO(image.data)) as decoded:
        if decoded.mode != "RGBA":
            return None
        alpha = decoded.getchannel("A")
    mask = alpha.point(lambda value: REPAINT if value == FULLY_TRANSPARENT else KEEP)
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return buffer.getvalue()


def _has_transparency(image: PreparedImage) -> bool:
    with Image.open(io.BytesIO(image.data)) as decoded:
        return decoded.mode == "RGBA" and decoded.getchannel("A").getextrema()[0] == FULLY_TRANSPARENT


def _input_params(body: ImageInputRequest, image: PreparedImage, mask: bytes | None) -> dict[str, Any]:
    params = body.job_params() | {"init_image": png_data_uri(image.data)}
    if mask is not None:
        params["mask_image"] = png_data_uri(mask)
    return params | present({"strength": body.strength})


@openai_api.post("/images/edits")
def edit_images() -> dict[str, Any]:
    body = ImageInputRequest.from_form()
    image = _required_image("image")
    mask_file = _sent_image("mask")
    if mask_file is not None:
        mask = _repaint_mask(mask_file)
        if mask is None:
            message = "must have an alpha channel: its fully transparent pixels are the ones repainted"
            raise SubmissionRejected("validation_error", [FieldError("mask", message)])
    else:
        mask = _repaint_mask(image) if _has_transparency(image) else None
    return images_answer(body, run_compat_job("generate", image_model(body), _input_params(body, image, mask)))


@openai_api.post("/images/variations")
def vary_image() -> dict[str, Any]:
    body = VariationRequest.from_form()
    image = _required_image("image")
    return images_answer(body, run_compat_job("generate", image_model(body), _input_params(body, image, None)))
