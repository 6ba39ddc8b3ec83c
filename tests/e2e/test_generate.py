"""A user's story on the production shape: submit over HTTP to `genq web`, a real
Celery worker process picks the job up, the PNG lands in the S3 bucket, the
status API reports it."""

import io

import boto3
import numpy as np
import requests
from celery import Celery
from PIL import Image

from db.kinds.generate import GENERATE_QUEUE
from db.queue import celery_config, send_job
from tests.support.http import download_image, get_job, pixels, submit, wait_until_finished


def test_a_job_goes_from_the_api_through_the_worker_to_the_bucket(platform, platform_settings):
    job = submit(platform, {"prompt": "a red lighthouse", "width": 72, "height": 64, "steps": 6, "seed": 1234})
    assert job["status"] == "queued"

    done = wait_until_finished(platform, job["id"])

    assert done["status"] == "succeeded", done["error"]
    assert done["progress"]["step"] == done["progress"]["total"] == 6
    assert done["attempt"] == 1
    [artifact] = done["artifacts"]
    assert (artifact["width"], artifact["height"], artifact["seed"]) == (72, 64, 1234)
    s3 = boto3.client("s3", endpoint_url=platform_settings.s3_endpoint_url)
    bucket = platform_settings.storage_url.removeprefix("s3://")
    stored = s3.get_object(Bucket=bucket, Key=f"jobs/{job['id']}/1/0.png")
    image = Image.open(io.BytesIO(stored["Body"].read()))
    assert image.format == "PNG" and image.size == (72, 64)
    assert pixels(image).std() > 5, "the image is flat"
    assert image.text["seed"] == "1234"
    assert (pixels(download_image(platform, artifact)) == pixels(image)).all()


def test_the_same_seed_gives_the_same_pixels(platform):
    params = {"prompt": "a quiet harbour", "width": 64, "height": 64, "steps": 4, "seed": 77}
    first, second = (submit(platform, params) for _ in range(2))
    images = [
        download_image(platform, wait_until_finished(platform, job["id"])["artifacts"][0]) for job in (first, second)
    ]
    assert np.array_equal(pixels(images[0]), pixels(images[1]))


def test_two_images_in_one_job_are_distinct(platform):
    job = submit(platform, {"prompt": "two boats", "width": 64, "height": 64, "steps": 4, "num_images": 2, "seed": 5})
    done = wait_until_finished(platform, job["id"])
    assert done["status"] == "succeeded", done["error"]
    first, second = (download_image(platform, artifact) for artifact in done["artifacts"])
    assert [a["seed"] for a in done["artifacts"]] == [5, 6]
    assert not np.array_equal(pixels(first), pixels(second))


def test_a_job_without_a_seed_reports_the_one_it_used(platform):
    job = submit(platform, {"prompt": "no seed given", "width": 64, "height": 64, "steps": 2})
    seed = job["params"]["seed"]
    done = wait_until_finished(platform, job["id"])
    assert done["artifacts"][0]["seed"] == seed


def test_the_job_list_shows_the_finished_job(platform):
    job = submit(platform, {"prompt": "listed", "width": 64, "height": 64, "steps": 2})
    wait_until_finished(platform, job["id"])
    listed = requests.get(
        f"{platform}/api/v1/jobs", params={"status": "succeeded"}, headers=platform.headers, timeout=10
    ).json()
    assert [item["id"] for item in listed["jobs"]] == [job["id"]]


def test_a_duplicate_message_does_not_run_the_job_again(platform, platform_settings):
    job = submit(platform, {"prompt": "once only", "width": 64, "height": 64, "steps": 2})
    first = wait_until_finished(platform, job["id"])

    producer = Celery(set_as_current=False)
    producer.config_from_object(celery_config(platform_settings))
    send_job(producer, job["id"], GENERATE_QUEUE)  # a redelivery, as after a broker failover
    producer.close()
    # The worker takes messages in order, so once a later job is done the duplicate was handled.
    wait_until_finished(platform, submit(platform, {"prompt": "later", "width": 64, "height": 64, "steps": 2})["id"])

    again = get_job(platform, job["id"])
    assert again["attempt"] == 1
    assert again["finished_at"] == first["finished_at"]
    assert [a["sha256"] for a in again["artifacts"]] == [a["sha256"] for a in first["artifacts"]]
