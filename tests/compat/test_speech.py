"""OpenAI's speech endpoint through the real `openai` SDK (client.audio.speech.create)
against a running genq: each call is an ordinary speech job of the key's owner,
answered with the audio file itself; the voice is accepted and reported; what
genq does not do (mp3, an empty input, a model of another kind) is a 4xx in
OpenAI's shape."""

import io

import numpy as np
import openai
import pytest
import requests
import soundfile

from tests.compat.conftest import TEXT_MODEL

SPEECH_MODEL = "tiny-speech"
INPUT = "Hello there. How are you today?"


def owner_jobs(platform, key=None) -> list[dict]:
    headers = {"Authorization": f"Bearer {key}"} if key else platform.headers
    return requests.get(f"{platform}/api/v1/jobs", headers=headers, timeout=10).json()["jobs"]


def samples_of(data: bytes) -> tuple[np.ndarray, int]:
    return soundfile.read(io.BytesIO(data), dtype="int16")


def test_speech_is_a_speech_job_of_the_callers_answered_with_its_wav(openai_client, platform, other_key):
    raw = openai_client.audio.speech.with_raw_response.create(
        model="tts-1", voice="alloy", input=INPUT, response_format="wav", extra_body={"seed": 4}
    )

    samples, sample_rate = samples_of(raw.parse().content)
    assert raw.headers["content-type"] == "audio/wav" and sample_rate == 16_000 and len(samples) > 0
    assert raw.headers["x-genq-voice"] == "alloy"
    [job] = owner_jobs(platform)
    assert raw.headers["x-genq-job-id"] == job["id"]
    assert (job["kind"], job["model"], job["status"]) == ("speech", SPEECH_MODEL, "succeeded")
    assert (job["params"]["text"], job["params"]["voice"], job["params"]["seed"]) == (INPUT, "alloy", 4)
    assert job["progress"] == {"step": 2, "total": 2, "fraction": 1.0}
    [artifact] = job["artifacts"]
    assert artifact["duration_seconds"] == pytest.approx(len(samples) / sample_rate)
    assert owner_jobs(platform, other_key) == []


def test_the_same_seed_speaks_the_same_samples_in_each_format(openai_client):
    def speak(response_format: str) -> bytes:
        return openai_client.audio.speech.create(
            model=SPEECH_MODEL, voice="echo", input=INPUT, response_format=response_format, extra_body={"seed": 9}
        ).content

    wav, again, flac, pcm = speak("wav"), speak("wav"), speak("flac"), speak("pcm")

    assert wav == again
    assert soundfile.info(io.BytesIO(flac)).format == "FLAC"
    assert np.array_equal(samples_of(flac)[0], samples_of(wav)[0])
    # pcm: the same samples, 16-bit little-endian, without a header.
    assert np.array_equal(np.frombuffer(pcm, dtype="<i2"), samples_of(wav)[0])


def test_speed_is_the_speaking_rate(openai_client, platform):
    def duration(speed: float) -> float:
        data = openai_client.audio.speech.create(
            model=SPEECH_MODEL, voice="alloy", input=INPUT, response_format="wav", speed=speed, extra_body={"seed": 1}
        ).content
        samples, sample_rate = samples_of(data)
        return len(samples) / sample_rate

    assert duration(2.0) < duration(1.0) * 0.8
    assert {job["params"]["speaking_rate"] for job in owner_jobs(platform)} == {1.0, 2.0}


@pytest.mark.parametrize(
    ("ask", "status", "code", "param"),
    [
        ({"response_format": "mp3"}, 422, "validation_error", "response_format"),
        ({"response_format": "opus"}, 422, "validation_error", "response_format"),
        ({"stream_format": "sse"}, 422, "validation_error", "stream_format"),
        ({"input": ""}, 422, "validation_error", "params.text"),
        ({"voice": {"id": "voice_1234"}}, 422, "validation_error", "params.voice"),
        ({"speed": 9}, 422, "validation_error", "params.speaking_rate"),
        ({"model": TEXT_MODEL}, 422, "model_kind_mismatch", "model"),
        ({"model": "no-such-model"}, 422, "unknown_model", "model"),
    ],
)
def test_what_genq_does_not_do_is_a_4xx_in_openais_shape(openai_client, platform, ask, status, code, param):
    request = {"model": SPEECH_MODEL, "voice": "alloy", "input": INPUT, "response_format": "wav", **ask}
    with pytest.raises(openai.APIStatusError) as refused:
        openai_client.audio.speech.create(**request)

    assert refused.value.status_code == status
    error = refused.value.body
    assert (error["code"], error["param"], error["type"]) == (code, param, "invalid_request_error")
    assert owner_jobs(platform) == []


def test_a_body_that_is_not_a_json_object_is_a_400(in_process_client):
    response = in_process_client.post("/v1/audio/speech", data="[1]", content_type="application/json")

    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_json"
