"""Hostile uploads: each rule of POST /api/v1/datasets refuses with a JSON 4xx that
names the file and the rule, and a refused upload stores nothing. Decompression
bombs are refused from their header, without being expanded."""

import io
import os
import re
import struct
import time
import zlib

import pytest
from PIL import Image

from db.models import Dataset
from tests.support.forms import sign_in
from tests.support.uploads import bucket_objects, image_bytes, upload


def png_claiming(width: int, height: int) -> bytes:
    """A valid PNG header for a 1-bit width x height image, followed by a few bytes of
    pixel data: what a bomb looks like before anything is decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def noise_image(size: tuple[int, int], format: str = "PNG") -> bytes:
    """An image that does not compress: about 3 bytes per pixel."""
    encoded = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(encoded, format=format)
    return encoded.getvalue()


def assert_refused(response, status: int, code: str, *, file: str, rule: str, limit: int | None = None) -> None:
    assert response.status_code == status, response.json
    error = response.json["error"]
    assert error["code"] == code
    assert file[:40] in error["message"]
    (detail,) = error["details"]
    assert (detail["field"], detail["file"], detail["rule"]) == ("files", file, rule)
    assert detail.get("limit") == limit


def test_a_20000_by_20000_png_is_refused_from_its_header(client, settings, session):
    bomb = png_claiming(20_000, 20_000)
    assert len(bomb) < 200

    started = time.monotonic()
    response = upload(client, [("bomb.png", bomb)])

    # Decoding it would take 50 MB and seconds; reading the header takes neither.
    assert time.monotonic() - started < 2
    assert_refused(
        response, 413, "image_too_large", file="bomb.png", rule="max_image_pixels", limit=settings.max_image_pixels
    )
    assert session.query(Dataset).count() == 0


def test_an_image_over_the_pixel_cap_is_refused(client_with):
    response = upload(client_with(max_image_pixels=64 * 64), [("big.png", image_bytes((65, 64)))])
    assert_refused(response, 413, "image_too_large", file="big.png", rule="max_image_pixels", limit=64 * 64)


def test_pillows_own_bomb_warning_is_a_refusal_too(client_with):
    # Allowed by a generous cap, but over Pillow's MAX_IMAGE_PIXELS, where it only warns.
    client = client_with(max_image_pixels=150_000_000)
    response = upload(client, [("bomb.png", png_claiming(10_000, 10_000))])
    assert_refused(response, 413, "image_too_large", file="bomb.png", rule="max_image_pixels", limit=150_000_000)


@pytest.mark.parametrize("format", ["PNG", "JPEG", "WEBP"])
def test_a_truncated_image_is_refused(client, format):
    whole = noise_image((64, 64), format)
    response = upload(client, [("cut.img", whole[: len(whole) // 2])])

    assert_refused(response, 422, "invalid_image", file="cut.img", rule="decodable")


@pytest.mark.parametrize(
    "filename, content",
    [
        ("anim.png", image_bytes(format="GIF")),
        ("photo.jpg", image_bytes(format="BMP")),
        ("scan.webp", image_bytes(format="TIFF")),
        ("notes.png", b"just some text, not an image at all"),
        ("page.png", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
    ],
)
def test_anything_but_png_jpeg_and_webp_is_refused_whatever_its_name(client, filename, content):
    response = upload(client, [(filename, content)])
    assert_refused(response, 415, "unsupported_image_format", file=filename, rule="format")


def test_a_file_over_the_per_file_cap_is_refused(client_with):
    files = [("small.png", image_bytes()), ("big.png", noise_image((32, 32)))]
    response = upload(client_with(max_upload_file_bytes=2048), files)
    assert_refused(response, 413, "file_too_large", file="big.png", rule="max_upload_file_bytes", limit=2048)


def test_more_images_than_the_cap_are_refused(client_with):
    files = [(f"{n}.png", image_bytes()) for n in range(3)] + [("0.txt", b"captions do not count")]
    response = upload(client_with(max_dataset_files=2), files)
    assert_refused(response, 413, "too_many_files", file="2.png", rule="max_dataset_files", limit=2)


def test_a_body_over_the_upload_cap_is_a_json_413(client_with, settings):
    response = upload(client_with(max_upload_bytes=4096), [("big.png", noise_image((48, 48)))])

    assert response.status_code == 413
    error = response.json["error"]
    assert error["code"] == "request_entity_too_large"
    assert error["details"] == [
        {"field": "body", "message": error["message"], "rule": "max_upload_bytes", "limit": 4096}
    ]


def test_uploads_may_be_larger_than_other_request_bodies(client, settings):
    image = noise_image((700, 700))
    assert settings.max_request_bytes < len(image) < settings.max_upload_file_bytes

    response = upload(client, [("large.png", image)])

    assert response.status_code == 201, response.json
    assert (response.json["files"][0]["width"], response.json["files"][0]["height"]) == (700, 700)


def test_a_browser_signed_in_by_cookie_may_upload_that_much_too(anonymous_client, api_key):
    # Its CSRF check reads the form, so the upload limit must be in place before it.
    sign_in(anonymous_client, api_key)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', anonymous_client.get("/").get_data(as_text=True))

    response = anonymous_client.post(
        "/api/v1/datasets",
        data={"files": [(io.BytesIO(noise_image((700, 700))), "large.png")]},
        content_type="multipart/form-data",
        headers={"X-CSRFToken": token.group(1)},
    )

    assert response.status_code == 201, response.json


def test_a_caption_without_its_image_is_refused(client):
    response = upload(client, [("cat.png", image_bytes()), ("dog.txt", b"a dog")])
    assert_refused(response, 422, "caption_without_image", file="dog.txt", rule="caption_matches_image")


@pytest.mark.parametrize("caption", ["un chat trés".encode("latin-1"), b"a cat\0"], ids=["latin-1", "NUL"])
def test_a_caption_that_is_not_utf8_text_is_refused(client, caption):
    response = upload(client, [("cat.png", image_bytes()), ("cat.txt", caption)])
    assert_refused(response, 422, "invalid_caption", file="cat.txt", rule="utf8")


def test_a_caption_over_the_prompt_cap_is_refused(client, settings):
    caption = ("x" * (settings.max_prompt_chars + 1)).encode()
    response = upload(client, [("cat.png", image_bytes()), ("cat.txt", caption)])
    assert_refused(
        response, 422, "caption_too_long", file="cat.txt", rule="max_prompt_chars", limit=settings.max_prompt_chars
    )


@pytest.mark.parametrize("second", ["cat.png", "cat.jpg", "cat?.png"])
def test_two_images_of_the_same_name_are_refused(client, second):
    # cat.txt could not tell which of them it captions.
    response = upload(client, [("cat.png", image_bytes()), (second, image_bytes())])
    file = second.replace("?", "")
    assert_refused(response, 422, "duplicate_filename", file=file, rule="unique_filenames")


def test_a_name_that_sanitises_to_nothing_is_refused(client):
    response = upload(client, [("../..", image_bytes())])
    assert_refused(response, 422, "invalid_filename", file="../..", rule="filename")


def test_a_name_longer_than_255_characters_is_refused(client):
    filename = "c" * 252 + ".png"
    response = upload(client, [(filename, image_bytes())])
    assert_refused(response, 422, "invalid_filename", file=filename, rule="max_filename_length", limit=255)


@pytest.mark.parametrize("files", [[], [("cat.txt", b"a caption alone")]], ids=["nothing", "captions only"])
def test_an_upload_without_images_is_refused(client, files):
    response = upload(client, files)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "no_images"
    assert response.json["error"]["details"] == [
        {"field": "files", "message": "send at least one image in the field `files`", "rule": "min_files", "limit": 1}
    ]


@pytest.mark.parametrize(
    "name, message",
    [("n" * 101, "must be at most 100 characters"), ("cats\0", "must be printable text on one line")],
)
def test_a_dataset_name_too_long_or_not_text_is_refused(client, name, message):
    response = upload(client, [("cat.png", image_bytes())], name=name)
    assert response.status_code == 422
    assert response.json["error"]["details"] == [{"field": "name", "message": message}]


def test_a_body_that_is_not_multipart_is_a_415(client):
    response = client.post("/api/v1/datasets", json={"files": ["cat.png"]})
    assert response.status_code == 415
    assert response.json["error"]["code"] == "unsupported_media_type"


def test_a_refused_upload_stores_nothing(client, settings, session):
    before = bucket_objects(settings, "datasets/")

    files = [("good.png", image_bytes()), ("also-good.jpg", image_bytes(format="JPEG")), ("bad.png", b"GIF89a")]
    response = upload(client, files)

    assert response.status_code == 415
    assert session.query(Dataset).count() == 0
    assert bucket_objects(settings, "datasets/") == before
