"""Talk to a running genq over real HTTP, the way a user's script would."""

import io

import numpy as np
import requests
from PIL import Image

from tests.support.waiting import wait_for

FINISHED = {"succeeded", "failed", "canceled"}


def submit(base_url: str, params: dict, **body) -> dict:
    response = requests.post(f"{base_url}/api/v1/jobs", json={"kind": "generate", "params": params, **body}, timeout=10)
    assert response.status_code == 202, response.text
    return response.json()


def wait_until_finished(base_url: str, job_id: str, timeout: float = 120) -> dict:
    def finished_job():
        job = requests.get(f"{base_url}/api/v1/jobs/{job_id}", timeout=10).json()
        return job if job["status"] in FINISHED else None

    return wait_for(finished_job, timeout=timeout, what=f"job {job_id} to finish")


def download_image(base_url: str, artifact: dict) -> Image.Image:
    """Fetch an artifact by the URL the API gave (presigned S3, or the web's own route)."""
    url = artifact["url"] if artifact["url"].startswith("http") else base_url + artifact["url"]
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, response.text
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)
