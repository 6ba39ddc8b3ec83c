"""The HTML pages: the form (CSRF-protected, validated like the API, re-shown
with errors and the user's values), a job's page and the job list."""

import re
import uuid

import pytest
from sqlalchemy import func, select

from db.models import Job
from tests.support.forms import SCRIPT_WITHOUT_SRC, csrf_token


def form(**fields) -> dict[str, str]:
    return {"prompt": "a red fox", "model": "tiny-sd", "width": "", "seed": "", "scheduler": "", **fields}


def test_the_front_page_shows_the_form_with_the_tiny_model(client):
    response = client.get("/")
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert 'id="submit-form"' in html and 'name="csrf_token"' in html
    assert '<option value="tiny-sd" selected>' in html
    assert '<option value="euler_a">' in html and "model default" in html
    assert 'id="steps" name="steps" type="number" min="1" max="150" value="25"' in html
    assert not SCRIPT_WITHOUT_SRC.search(html)


def test_the_front_page_lists_recent_jobs(client, make_job):
    job = make_job(prompt="a lighthouse at dusk")
    html = client.get("/").get_data(as_text=True)
    assert f'data-job-id="{job.id}"' in html and "a lighthouse at dusk" in html


def test_a_form_post_without_the_csrf_token_is_refused(client, session):
    response = client.post("/jobs", data=form())
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert session.scalar(select(func.count()).select_from(Job)) == 0


def test_a_valid_form_post_queues_the_job_and_redirects_to_it(client, session, queued_job_ids):
    response = client.post("/jobs", data=form(csrf_token=csrf_token(client), width="128", seed="42", scheduler="ddim"))

    assert response.status_code == 303
    job_id = re.fullmatch(r"/jobs/([0-9a-f-]{36})", response.headers["Location"]).group(1)
    job = session.get(Job, uuid.UUID(job_id))
    assert job.status == "queued" and job.model == "tiny-sd"
    assert (job.params["width"], job.params["seed"], job.params["scheduler"]) == (128, 42, "ddim")
    assert job.params["height"] is None  # left blank: the model's own size
    assert queued_job_ids() == [job_id]


def test_a_blank_seed_is_drawn_at_random(client, session):
    response = client.post("/jobs", data=form(csrf_token=csrf_token(client)))
    job = session.get(Job, uuid.UUID(response.headers["Location"].rsplit("/", 1)[1]))
    assert isinstance(job.params["seed"], int)


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"width": "100"}, "width", "must be a multiple of 8"),
        ({"prompt": "  "}, "prompt", "must not be blank"),
        ({"steps": "0"}, "steps", "greater than or equal to 1"),
        ({"model": "sdxl-turbo"}, "model", "unknown model"),
    ],
)
def test_an_invalid_form_is_shown_again_with_the_error_and_the_values(client, session, fields, field, message):
    body = form(csrf_token=csrf_token(client), negative_prompt="blurry", **fields)
    response = client.post("/jobs", data=body)
    html = response.get_data(as_text=True)

    assert response.status_code == 422
    error = re.search(rf'<p class="field-error" id="error-{field}">([^<]*)</p>', html)
    assert error and message in error.group(1)
    assert ">blurry</textarea>" in html  # the user's values are kept
    if field == "width":
        assert 'value="100"' in html
    assert session.scalar(select(func.count()).select_from(Job)) == 0


def test_a_queued_jobs_page_shows_status_progress_and_position(client, make_job):
    make_job()
    job = make_job(prompt="a lighthouse")
    html = client.get(f"/jobs/{job.id}").get_data(as_text=True)

    assert f'data-events-url="/api/v1/jobs/{job.id}/events"' in html
    assert '<span id="status" class="status status-queued">queued</span>' in html
    assert '<dd id="queue-position">1</dd>' in html
    assert '<progress id="progress"' in html
    assert 'src="/static/job.js"' in html and not SCRIPT_WITHOUT_SRC.search(html)
    assert 'id="error" class="error-message" hidden' in html


def test_a_running_jobs_page_shows_the_step(client, make_job):
    html = client.get(f"/jobs/{make_job('running').id}").get_data(as_text=True)
    assert '<progress id="progress" max="4" value="2">' in html
    assert '<span id="progress-text">step 2 of 4</span>' in html


def test_a_succeeded_jobs_page_shows_the_images_with_their_seeds(client, make_job):
    job = make_job("succeeded", images=2)
    html = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    images = re.findall(r'<img class="artifact" src="([^"]+)"[^>]*data-seed="(\d+)"', html)
    assert [seed for _url, seed in images] == ["7", "8"]
    assert all(url.startswith("http") for url, _seed in images)  # presigned S3 URLs


def test_a_failed_jobs_page_shows_the_error(client, make_job):
    html = client.get(f"/jobs/{make_job('failed').id}").get_data(as_text=True)
    assert '<p id="error" class="error-message">CUDA ran out of memory</p>' in html


def test_an_unknown_jobs_page_is_an_html_404(client, make_job):
    other = make_job(owner="someone-else")
    for path in (f"/jobs/{uuid.uuid4()}", f"/jobs/{other.id}", "/jobs/not-a-uuid"):
        response = client.get(path)
        assert response.status_code == 404 and response.mimetype == "text/html"


def test_the_jobs_list_links_every_job_and_pages_on(client, make_job):
    jobs = [make_job() for _ in range(26)]

    first = client.get("/jobs").get_data(as_text=True)
    older = re.search(r'<a id="older-jobs" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = client.get(older).get_data(as_text=True)

    linked = re.findall(r'href="/jobs/([0-9a-f-]{36})"', first + second)
    assert sorted(linked) == sorted(str(job.id) for job in jobs)
    assert 'id="older-jobs"' not in second


def test_a_bad_page_link_is_an_html_400(client):
    response = client.get("/jobs?cursor=%25%25")
    assert response.status_code == 400 and response.mimetype == "text/html"
