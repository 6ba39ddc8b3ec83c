"""Speech jobs on the web side, in-process: what POST /api/v1/jobs refuses (a JSON
422 naming the field) and which limits apply; the /speech form; a finished job's
page with its player and the waveform the server draws from the stored audio."""

import io
import re

import numpy as np
import pytest
import soundfile

from db import jobs
from db.storage import artifact_key
from tests.support.forms import csrf_token

SAMPLE_RATE = 16_000


def speech_job(**params) -> dict:
    return {"kind": "speech", "params": {"text": "Hello there. How are you?", **params}}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"text": ""}, "params.text"),
        ({"text": " \n "}, "params.text"),
        ({"format": "mp3"}, "params.format"),
        ({"speaking_rate": 0.1}, "params.speaking_rate"),
        ({"speaking_rate": 5}, "params.speaking_rate"),
        ({"seed": -1}, "params.seed"),
        ({"voice": "x" * 65}, "params.voice"),
        ({"pitch": 2}, "params.pitch"),
    ],
)
def test_bad_speech_params_are_a_422_naming_the_field(client, params, field):
    response = client.post("/api/v1/jobs", json=speech_job(**params))

    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error"
    assert [detail["field"] for detail in response.json["error"]["details"]] == [field]
    assert client.get("/api/v1/jobs").json["jobs"] == []


def test_text_over_the_cap_is_a_422_and_at_the_cap_is_accepted(client_with):
    client = client_with(max_speech_chars=20)

    over = client.post("/api/v1/jobs", json=speech_job(text="a" * 21))
    at = client.post("/api/v1/jobs", json=speech_job(text="a" * 20))

    assert over.status_code == 422
    assert over.json["error"]["details"] == [{"field": "params.text", "message": "must be at most 20 characters"}]
    assert at.status_code == 202


@pytest.mark.parametrize(
    ("kind", "model"), [("speech", "tiny-text"), ("speech", "tiny-sd"), ("generate", "tiny-speech")]
)
def test_a_model_of_the_wrong_kind_is_refused(client, kind, model):
    body = {"kind": kind, "model": model, "params": {"text": "Hello."} if kind == "speech" else {"prompt": "a cat"}}
    response = client.post("/api/v1/jobs", json=body)

    assert response.status_code == 422
    assert response.json["error"]["code"] == "model_kind_mismatch"
    assert response.json["error"]["details"][0]["field"] == "model"


def test_a_speech_job_gets_the_default_speech_model_and_its_own_queue(client):
    response = client.post("/api/v1/jobs", json=speech_job(seed=3))

    assert response.status_code == 202
    job = response.json
    assert (job["kind"], job["model"], job["status"]) == ("speech", "tiny-speech", "queued")
    assert job["params"] == {
        "text": "Hello there. How are you?",
        "speaking_rate": 1.0,
        "seed": 3,
        "format": "wav",
        "voice": None,
    }


def test_speech_jobs_count_against_the_active_jobs_limit(client_for):
    dora = client_for("dora", max_active_jobs=1)
    assert dora.post("/api/v1/jobs", json=speech_job()).status_code == 202

    refused = dora.post("/api/v1/jobs", json=speech_job())

    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "too_many_active_jobs"


def test_the_speech_form_submits_a_speech_job(client):
    page = client.get("/speech")
    response = client.post(
        "/speech",
        data={
            "csrf_token": csrf_token(client, "/speech"),
            "text": "Hi. Bye.",
            "speaking_rate": "1.5",
            "format": "flac",
        },
    )

    assert page.status_code == 200 and b'value="tiny-speech"' in page.data and b'value="tiny-text"' not in page.data
    assert response.status_code == 303
    job = client.get(f"/api/v1/jobs/{response.headers['Location'].rsplit('/', 1)[1]}").json
    assert (job["kind"], job["model"]) == ("speech", "tiny-speech")
    assert (job["params"]["text"], job["params"]["speaking_rate"], job["params"]["format"]) == ("Hi. Bye.", 1.5, "flac")


def test_the_speech_form_shows_a_refusal_next_to_the_text(client):
    response = client.post("/speech", data={"csrf_token": csrf_token(client, "/speech"), "text": "  "})

    assert response.status_code == 422
    assert re.search(r'<p class="field-error" id="error-text">must not be blank</p>', response.get_data(as_text=True))
    assert client.get("/api/v1/jobs").json["jobs"] == []


def stored_speech_job(session, platform, owner: str, samples: np.ndarray):
    """A succeeded speech job whose audio artifact is these samples as a WAV in storage."""
    job = jobs.create_job(session, owner=owner, kind="speech", model="tiny-speech", params={"text": "Hi.", "seed": 1})
    session.commit()
    claimed = jobs.claim_job(session, job.id, worker_id="test-worker")
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    key = artifact_key(job.id, claimed.attempt, 0, "wav")
    platform.storage.put(key, buffer.getvalue(), "audio/wav")
    artifact = jobs.NewArtifact(
        index=0,
        kind="audio",
        storage_key=key,
        content_type="audio/wav",
        bytes=len(buffer.getvalue()),
        sha256="0" * 64,
        seed=1,
        sample_rate=SAMPLE_RATE,
        duration_seconds=len(samples) / SAMPLE_RATE,
    )
    assert jobs.finish_job(session, job.id, claimed.attempt, [artifact], total_steps=1)
    session.commit()
    return job


def test_the_job_page_plays_the_audio_and_shows_its_waveform(client, session, platform, owner):
    # Half a second of silence, then half a second of a full-scale square wave.
    samples = np.concatenate([np.zeros(8000), np.tile([0.99, -0.99], 4000)]).astype(np.float32)
    job = stored_speech_job(session, platform, owner, samples)

    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    chart = client.get(f"/jobs/{job.id}/artifacts/0/waveform.svg")

    # The artifact's URL: presigned by S3 here.
    player = re.search(r'<audio controls preload="metadata" src="([^"]+)"></audio>', page)
    assert player and f"/jobs/{job.id}/1/0.wav?" in player[1]
    assert f'src="/jobs/{job.id}/artifacts/0/waveform.svg"' in page
    assert "1.00</span> s at 16000 Hz" in page
    assert chart.status_code == 200 and chart.mimetype == "image/svg+xml"
    svg = chart.get_data(as_text=True)
    assert "1.00 s</text>" in svg
    # One line per column: flat in the silent half, the whole height in the loud half.
    columns = re.findall(r"M([\d.]+),([\d.]+)V([\d.]+)", re.search(r'id="waveform" d="([^"]+)"', svg)[1])
    heights = [float(low) - float(high) for _x, high, low in columns]
    assert len(heights) == 320
    assert max(heights[:160]) <= 1.0 and min(heights[160:]) > 80
    assert client.get(f"/api/v1/jobs/{job.id}/artifacts/0").data[:4] == b"RIFF"


def test_the_waveform_is_the_owners_only_and_of_audio_only(client, client_for, session, platform, owner, make_job):
    job = stored_speech_job(session, platform, owner, np.zeros(1600, dtype=np.float32))
    image_job = make_job("succeeded")

    assert client_for("mallory").get(f"/jobs/{job.id}/artifacts/0/waveform.svg").status_code == 404
    assert client.get(f"/jobs/{job.id}/artifacts/1/waveform.svg").status_code == 404
    assert client.get(f"/jobs/{image_job.id}/artifacts/0/waveform.svg").status_code == 404
