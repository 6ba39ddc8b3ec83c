"""Models have a kind: a textgen job needs a text model and the image kinds an image
model (422 `model_kind_mismatch`); a job naming no model gets its kind's default.
Checked in-process on the JSON API and the text form, which share web/submission.py."""

import pytest

from tests.support.forms import csrf_token


@pytest.mark.parametrize(
    ("kind", "model", "params"),
    [("textgen", "tiny-sd", {"prompt": "hello"}), ("generate", "tiny-text", {"prompt": "a cat"})],
)
def test_a_model_of_the_wrong_kind_is_refused(in_process_client, kind, model, params):
    response = in_process_client.post("/api/v1/jobs", json={"kind": kind, "model": model, "params": params})

    assert response.status_code == 422
    assert response.json["error"]["code"] == "model_kind_mismatch"
    assert response.json["error"]["details"][0]["field"] == "model"


@pytest.mark.parametrize(("kind", "default"), [("textgen", "tiny-text"), ("generate", "tiny-sd")])
def test_a_job_naming_no_model_gets_its_kinds_default(in_process_client, kind, default):
    response = in_process_client.post("/api/v1/jobs", json={"kind": kind, "params": {"prompt": "hello"}})

    assert response.status_code == 202 and response.json["model"] == default


def test_the_text_form_submits_a_textgen_job(in_process_client):
    client = in_process_client
    page = client.get("/text")
    response = client.post(
        "/text", data={"csrf_token": csrf_token(client), "prompt": "Once upon", "max_new_tokens": "12", "stop": "."}
    )

    assert page.status_code == 200 and b"tiny-text" in page.data and b'value="tiny-sd"' not in page.data
    assert response.status_code == 303
    job = client.get(f"/api/v1/jobs/{response.headers['Location'].rsplit('/', 1)[1]}").json
    assert (job["kind"], job["model"]) == ("textgen", "tiny-text")
    assert job["params"]["max_new_tokens"] == 12 and job["params"]["stop"] == ["."]
