"""An upscale job on the production shape: submitted over HTTP with a data URI, run
by a real worker from its own queue, its PNG in the S3 bucket at twice the size."""

import base64
import io

from PIL import Image

from tests.support.http import download_image, submit, wait_until_finished
from tests.support.uploads import bucket_objects, image_bytes


def test_an_upscale_job_runs_to_succeeded_with_its_image_in_the_bucket(platform, platform_settings):
    source = image_bytes((48, 32))
    params = {"image": "data:image/png;base64," + base64.b64encode(source).decode(), "scale": 2}

    job = submit(platform, params, kind="upscale")
    done = wait_until_finished(platform, job["id"])

    assert done["status"] == "succeeded", done["error"]
    assert (done["model"], done["artifacts"][0]["width"], done["artifacts"][0]["height"]) == ("lanczos", 96, 64)
    stored = bucket_objects(platform_settings, f"jobs/{job['id']}/1/0.png")[f"jobs/{job['id']}/1/0.png"]
    expected = Image.open(io.BytesIO(source)).resize((96, 64), Image.Resampling.LANCZOS)
    assert Image.open(io.BytesIO(stored)).convert("RGB").tobytes() == expected.tobytes()
    assert download_image(platform, done["artifacts"][0]).size == (96, 64)
