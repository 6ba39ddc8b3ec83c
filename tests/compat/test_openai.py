"""The real `openai` SDK pointed at a running genq: images, completions and chat
completions (also streamed) come back in OpenAI's shapes, each as an ordinary genq
job of the caller's; errors arrive as the SDK's own exceptions."""

import base64
import io

import openai
import pytest
import requests
from PIL import Image

from tests.api.conftest import authenticated_client, close_app
from tests.compat.conftest import IMAGE_MODEL, TEXT_MODEL, make_key
from tests.support.services import redis_database
from web import create_app

CHAT = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a colour."}]


def png_size(data: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image.size


def owner_jobs(platform) -> list[dict]:
    return requests.get(f"{platform}/api/v1/jobs", headers=platform.headers, timeout=10).json()["jobs"]


def test_images_generate_as_b64_json_in_the_requested_size(openai_client, platform):
    result = openai_client.images.generate(
        prompt="a red barn", n=2, size="72x64", response_format="b64_json", extra_body={"seed": 42}
    )

    assert [png_size(base64.b64decode(image.b64_json)) for image in result.data] == [(72, 64), (72, 64)]
    [job] = owner_jobs(platform)
    assert (job["kind"], job["model"], job["status"]) == ("generate", IMAGE_MODEL, "succeeded")
    assert job["params"]["seed"] == 42 and job["params"]["num_images"] == 2


def test_images_generate_as_urls(openai_client):
    result = openai_client.images.generate(prompt="a blue door", size="64x80", response_format="url", model="dall-e-3")

    [image] = result.data
    downloaded = requests.get(image.url, timeout=10)
    assert downloaded.status_code == 200
    assert png_size(downloaded.content) == (64, 80)


def test_completions_are_seeded_textgen_jobs(openai_client, platform):
    ask = {"model": TEXT_MODEL, "prompt": "Once upon a time", "max_tokens": 8, "seed": 3}
    first = openai_client.completions.create(**ask)
    second = openai_client.completions.create(**ask)

    assert first.object == "text_completion" and first.model == TEXT_MODEL
    assert first.choices[0].text and first.choices[0].text == second.choices[0].text
    jobs = owner_jobs(platform)
    assert {(job["kind"], job["status"]) for job in jobs} == {("textgen", "succeeded")} and len(jobs) == 2
    assert jobs[0]["artifacts"][0]["text"] == first.choices[0].text


def test_chat_completion(openai_client, platform):
    result = openai_client.chat.completions.create(model=TEXT_MODEL, messages=CHAT, max_tokens=6, seed=5, n=2)

    assert [choice.message.role for choice in result.choices] == ["assistant", "assistant"]
    assert all(isinstance(choice.message.content, str) for choice in result.choices)
    [job] = owner_jobs(platform)
    # Rendered with the tiny model's own chat template.
    assert job["params"]["prompt"] == "system: You are terse.\nuser: Name a colour.\nassistant: "


def test_a_streamed_chat_completion_adds_up_to_the_same_text(openai_client):
    ask = {"model": TEXT_MODEL, "messages": CHAT, "max_tokens": 24, "seed": 9}
    [answer] = openai_client.chat.completions.create(**ask).choices
    whole = answer.message.content

    chunks = list(openai_client.chat.completions.create(**ask, stream=True))

    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks) == whole
    # The worker says why each output ended; streamed or not, the same.
    assert chunks[-1].choices[0].finish_reason == answer.finish_reason in ("stop", "length")


def test_a_streamed_completion_adds_up_to_the_same_text(openai_client):
    ask = {"model": TEXT_MODEL, "prompt": "Hello", "max_tokens": 16, "seed": 4, "temperature": 0}
    whole = openai_client.completions.create(**ask).choices[0].text

    streamed = "".join(chunk.choices[0].text for chunk in openai_client.completions.create(**ask, stream=True))

    assert streamed == whole


def test_completions_say_why_they_ended_and_count_their_tokens(openai_client):
    ask = {"model": TEXT_MODEL, "prompt": "Once upon a time", "max_tokens": 12, "seed": 3, "temperature": 0}
    full = openai_client.completions.create(**ask)
    text = full.choices[0].text

    assert full.choices[0].finish_reason == "length"
    assert full.usage.completion_tokens == 12
    assert full.usage.prompt_tokens > 0
    assert full.usage.total_tokens == full.usage.prompt_tokens + 12

    stopped = openai_client.completions.create(**ask, stop=[text[6:8]])
    assert stopped.choices[0].finish_reason == "stop"
    assert stopped.choices[0].text == text[: text.index(text[6:8])]
    assert stopped.usage.completion_tokens < 12


def test_a_stream_ends_with_the_usage_when_asked(openai_client):
    ask = {"model": TEXT_MODEL, "messages": CHAT, "max_tokens": 10, "seed": 2}
    usage = openai_client.chat.completions.create(**ask).usage

    chunks = list(openai_client.chat.completions.create(**ask, stream=True, stream_options={"include_usage": True}))

    assert chunks[-1].choices == [] and chunks[-1].usage == usage
    assert all(chunk.usage is None for chunk in chunks[:-1])
    assert usage.completion_tokens <= 10 and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_models_lists_both_kinds(openai_client):
    assert {model.id for model in openai_client.models.list()} >= {IMAGE_MODEL, TEXT_MODEL}


def test_errors_come_in_openai_shape(openai_client, platform):
    with pytest.raises(openai.UnprocessableEntityError) as mismatch:
        openai_client.completions.create(model=IMAGE_MODEL, prompt="hi")
    assert mismatch.value.code == "model_kind_mismatch"

    with pytest.raises(openai.AuthenticationError) as unauthorized:
        openai.OpenAI(base_url=f"{platform}/v1", api_key="not-a-key", max_retries=0).models.list()
    assert unauthorized.value.body["code"] == "unauthorized"


def test_a_job_past_the_wait_limit_is_named_and_keeps_going(settings):
    # A broker no worker listens on: the job stays queued past the one-second limit.
    with redis_database() as idle_broker:
        app = create_app(settings.model_copy(update={"broker_url": idle_broker, "compat_wait_seconds": 1}))
        client = authenticated_client(app, make_key(settings, "compat"))
        try:
            response = client.post("/v1/images/generations", json={"prompt": "a slow boat", "size": "64x64"})
            jobs = client.get("/api/v1/jobs").json["jobs"]
        finally:
            close_app(app)

    [job] = jobs
    assert response.status_code == 504 and response.headers["x-should-retry"] == "false"
    error = response.json["error"]
    assert error["code"] == "job_wait_timeout" and job["id"] in error["message"]
    assert set(error) == {"message", "type", "param", "code"}
    assert job["status"] in ("queued", "running", "succeeded")  # not given up with the wait
