"""Checking an uploaded dataset and re-encoding its images, before anything is stored.

Only PNG, JPEG and WebP that Pillow decodes completely are accepted, judged by
their bytes (never the name or the declared content type); the pixel count is
read from the header before decoding, so a decompression bomb is never expanded.
Every accepted image is re-encoded to a metadata-free PNG, scaled down to at most
twice the largest training resolution on its long side (training never reads
more, and it bounds what an upload holds in memory and storage): the uploaded
bytes are never stored or served. Each refusal names the file and the rule. No Flask here.
"""

import hashlib
import io
import os
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO, Any

from PIL import Image, ImageOps, UnidentifiedImageError
from werkzeug.utils import secure_filename

from db.refusals import FieldError, Refusal
from db.settings import Settings

ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP")
CAPTION_SUFFIX = ".txt"
STORED_CONTENT_TYPE = "image/png"
STORED_EXTENSION = "png"
MAX_FILENAME_LENGTH = 255  # dataset_files.filename


@dataclass(frozen=True)
class UploadLimits:
    max_files: int
    max_file_bytes: int
    max_pixels: int
    max_caption_chars: int
    # The long side an image is stored at, at most (larger ones are scaled down); None: as sent.
    max_stored_side: int | None

    @classmethod
    def from_settings(cls, settings: Settings) -> "UploadLimits":
        return cls(
            max_files=settings.max_dataset_files,
            max_file_bytes=settings.max_upload_file_bytes,
            max_pixels=settings.max_image_pixels,
            max_caption_chars=settings.max_prompt_chars,
            max_stored_side=2 * settings.max_train_resolution,
        )

    @classmethod
    def for_input_images(cls, settings: Settings) -> "UploadLimits":
        """An input image of a job (POST /api/v1/uploads, a data URI in params): one
        file, kept at its size (the job resizes it), under the same pixel cap."""
        return cls(
            max_files=1,
            max_file_bytes=settings.max_upload_file_bytes,
            max_pixels=settings.max_image_pixels,
            max_caption_chars=0,
            max_stored_side=None,
        )


@dataclass(frozen=True)
class UploadedFile:
    """One file of the upload, as the client named it."""

    filename: str
    stream: IO[bytes]


@dataclass(frozen=True)
class PreparedImage:
    """An accepted image, re-encoded as PNG, with its caption file's text."""

    filename: str
    data: bytes
    width: int
    height: int
    sha256: str
    caption: str | None


# The HTTP status of each refusal (the API's and the pages' answer).
REFUSAL_STATUS = {
    "too_many_files": 413,
    "file_too_large": 413,
    "image_too_large": 413,
    "unsupported_image_format": 415,
    "invalid_image": 422,
    "invalid_filename": 422,
    "duplicate_filename": 422,
    "caption_without_image": 422,
    "invalid_caption": 422,
    "caption_too_long": 422,
    "no_images": 422,
}


class UploadRefused(Exception):
    """The upload breaks `rule` because of `file` (None: of no one file); nothing of it may be stored."""

    def __init__(self, code: str, message: str, *, file: str | None, rule: str, limit: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.file = file
        self.rule = rule
        self.limit = limit

    @property
    def status(self) -> int:
        return REFUSAL_STATUS[self.code]

    def detail(self, field: str) -> dict[str, Any]:
        """The refusal as a field error of an API answer: the rule, the file and the limit broken."""
        detail: dict[str, Any] = {"field": field, "message": self.message, "rule": self.rule}
        if self.file is not None:
            detail["file"] = self.file
        if self.limit is not None:
            detail["limit"] = self.limit
        return detail


class UploadRejected(Refusal):
    """An UploadRefused where a submission carries the image (a form's files, a job's
    inline image): the same status as the API's upload answers (413, 415 or 422)."""

    def __init__(self, refused: UploadRefused, field: str) -> None:
        super().__init__(refused.code, refused.message, [FieldError(field, refused.message)])
        self.status = refused.status


def prepare_dataset(files: Iterable[UploadedFile], limits: UploadLimits) -> list[PreparedImage]:
    """The images of an upload in the order sent, each with its caption; raises
    UploadRefused at the first broken rule. Cheap checks (names, counts, sizes,
    captions) run on every file before any image is decoded."""
    images: dict[str, UploadedFile] = {}  # by the name's stem, which a caption file shares
    captions: dict[str, UploadedFile] = {}
    for upload in files:
        filename = _safe_filename(upload.filename)
        _check_file_size(filename, upload.stream, limits)
        is_caption = filename.lower().endswith(CAPTION_SUFFIX)
        named = captions if is_caption else images
        stem = PurePosixPath(filename).stem
        if stem in named:
            raise UploadRefused(
                "duplicate_filename",
                f"{filename}: another {'caption' if is_caption else 'image'} has the name {stem!r}",
                file=filename,
                rule="unique_filenames",
            )
        named[stem] = UploadedFile(filename, upload.stream)
        if len(images) > limits.max_files:
            raise UploadRefused(
                "too_many_files",
                f"{filename}: a dataset holds at most {limits.max_files} images",
                file=filename,
                rule="max_dataset_files",
                limit=limits.max_files,
            )
    if not images:
        raise UploadRefused(
            "no_images", "send at least one image in the field `files`", file=None, rule="min_files", limit=1
        )
    caption_texts = {}
    for stem, caption in captions.items():
        if stem not in images:
            raise UploadRefused(
                "caption_without_image",
                f"{caption.filename}: no image named {stem!r} with any extension was uploaded",
                file=caption.filename,
                rule="caption_matches_image",
            )
        caption_texts[stem] = _caption_text(caption, limits)
    return [_reencoded(image, caption_texts.get(stem), limits) for stem, image in images.items()]


def prepare_image(upload: UploadedFile, limits: UploadLimits) -> PreparedImage:
    """One image under the same rules as a dataset's (no caption); raises UploadRefused."""
    filename = _safe_filename(upload.filename)
    _check_file_size(filename, upload.stream, limits)
    return _reencoded(UploadedFile(filename, upload.stream), None, limits)


def _safe_filename(raw: str) -> str:
    filename = secure_filename(raw)
    if not filename:
        raise UploadRefused("invalid_filename", f"{raw!r} is not a usable file name", file=raw, rule="filename")
    if len(filename) > MAX_FILENAME_LENGTH:
        raise UploadRefused(
            "invalid_filename",
            f"{filename[:40]}...: a file name may have at most {MAX_FILENAME_LENGTH} characters",
            file=filename,
            rule="max_filename_length",
            limit=MAX_FILENAME_LENGTH,
        )
    return filename


def _check_file_size(filename: str, stream: IO[bytes], limits: UploadLimits) -> None:
    size = stream.seek(0, os.SEEK_END)
    stream.seek(0)
    if size > limits.max_file_bytes:
        raise UploadRefused(
            "file_too_large",
            f"{filename}: is {size} bytes; a file may have at most {limits.max_file_bytes}",
            file=filename,
            rule="max_upload_file_bytes",
            limit=limits.max_file_bytes,
        )


def _caption_text(caption: UploadedFile, limits: UploadLimits) -> str | None:
    try:
        text: str | None = caption.stream.read().decode("utf-8").strip()
    except UnicodeDecodeError:
        text = None
    if text is None or "\0" in text:  # binary; no database text column takes a NUL either
        raise UploadRefused(
            "invalid_caption", f"{caption.filename}: is not UTF-8 text", file=caption.filename, rule="utf8"
        )
    if len(text) > limits.max_caption_chars:
        raise UploadRefused(
            "caption_too_long",
            f"{caption.filename}: a caption may have at most {limits.max_caption_chars} characters",
            file=caption.filename,
            rule="max_prompt_chars",
            limit=limits.max_caption_chars,
        )
    return text or None  # a blank caption file: the job's instance_prompt applies


def _too_many_pixels(filename: str, limits: UploadLimits) -> UploadRefused:
    return UploadRefused(
        "image_too_large",
        f"{filename}: an image may have at most {limits.max_pixels} pixels (width x height)",
        file=filename,
        rule="max_image_pixels",
        limit=limits.max_pixels,
    )


@contextmanager
def _bomb_warning_is_an_error() -> Iterator[None]:
    """Pillow only warns about an image between its own MAX_IMAGE_PIXELS and twice
    that; here it is a refusal like any bomb. catch_warnings is not thread-safe, so a
    concurrent upload may see the plain warning: the pixel cap, checked from every
    header before decoding, is the control that never depends on it."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _reencoded(upload: UploadedFile, caption: str | None, limits: UploadLimits) -> PreparedImage:
    filename = upload.filename
    try:
        # formats=: no other decoder ever parses the bytes; open() reads only the header.
        with _bomb_warning_is_an_error(), Image.open(upload.stream, formats=ACCEPTED_FORMATS) as image:
            width, height = image.size
            if width * height > limits.max_pixels:
                raise _too_many_pixels(filename, limits)
            image.load()  # the whole image: truncated or corrupt data fails here
            upright = ImageOps.exif_transpose(image)
    except UnidentifiedImageError:
        raise UploadRefused(
            "unsupported_image_format",
            f"{filename}: is not a PNG, JPEG or WebP image",
            file=filename,
            rule="format",
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(filename, limits) from None
    except (OSError, SyntaxError, ValueError) as error:  # what Pillow's decoders raise on bad data
        raise UploadRefused(
            "invalid_image", f"{filename}: the image data is truncated or corrupt", file=filename, rule="decodable"
        ) from error
    has_alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
    pixels = upright.convert("RGBA" if has_alpha else "RGB")
    if limits.max_stored_side is not None:
        pixels.thumbnail((limits.max_stored_side, limits.max_stored_side), Image.Resampling.LANCZOS)
    pixels.info = {}  # no EXIF, ICC profile or text chunks carried over
    encoded = io.BytesIO()
    pixels.save(encoded, format="PNG")
    data = encoded.getvalue()
    return PreparedImage(
        filename=filename,
        data=data,
        width=pixels.width,
        height=pixels.height,
        sha256=hashlib.sha256(data).hexdigest(),
        caption=caption,
    )
