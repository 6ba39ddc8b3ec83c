"""Talk to a running genq over real HTTP, the way a user's script would.

Every call to the API carries a key: pass `key=`, or pass as base_url an
`ApiUrl`, a base URL that carries the key it is called with (the e2e
`platform` fixture yields one). For raw `requests` calls use `auth_headers(key)`
or `url.headers`.
"""

import io
from datetime import datetime

import numpy as np
import requests
from PIL import Image

from tests.support.waiting import wait_for

FINISHED = {"succeeded", "failed", "canceled"}
POLL_SECONDS = 0.5


def moment(timestamp: str) -> float:
    """A job's ISO 8601 time (created_at, finished_at, ...) as a unix time."""
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def auth_headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class ApiUrl(str):
    """A genq base URL (it formats as the URL) together with the API key to use there."""

    key: str

    def __new__(cls, url: str, key: str) -> "ApiUrl":
        url_with_key = super().__new__(cls, url)
        url_with_key.key = key
        return url_with_key

    @property
    def headers(self) -> dict[str, str]:
        return auth_headers(self.key)


def _headers(base_url: str, key: str | None) -> dict[str, str]:
    key = key or getattr(base_url, "key", None)
    assert key, "no API key: pass key= or an ApiUrl as base_url"
    return auth_headers(key)


def submit(base_url: str, params: dict, *, key: str | None = None, headers: dict | None = None, **body) -> dict:
    response = requests.post(
        f"{base_url}/api/v1/jobs",
        json={"kind": "generate", "params": params, **body},
        headers={**_headers(base_url, key), **(headers or {})},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return response.json()


def get_job(base_url: str, job_id: str, *, key: str | None = None) -> dict:
    response = requests.get(f"{base_url}/api/v1/jobs/{job_id}", headers=_headers(base_url, key), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def wait_until_finished(base_url: str, job_id: str, timeout: float = 120, *, key: str | None = None) -> dict:
    def finished_job():
        job = get_job(base_url, job_id, key=key)
        return job if job["status"] in FINISHED else None

    # Polled as a polite script would: well inside a key's requests per minute.
    return wait_for(finished_job, timeout=timeout, interval=POLL_SECONDS, what=f"job {job_id} to finish")


def download_image(base_url: str, artifact: dict, *, key: str | None = None) -> Image.Image:
    """Fetch an artifact by the URL the API gave (presigned S3, or the web's own route)."""
    if artifact["url"].startswith("http"):
        # A presigned URL is its own credential; S3 refuses a second one in a header.
        response = requests.get(artifact["url"], timeout=10)
    else:
        response = requests.get(base_url + artifact["url"], headers=_headers(base_url, key), timeout=10)
    assert response.status_code == 200, response.text
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)
