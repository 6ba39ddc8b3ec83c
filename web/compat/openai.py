"""OpenAI-compatible endpoints under /v1, for the `openai` SDK and the tools built on
it: images (generate jobs; edits and variations are openai_edits.py), completions
and chat completions (textgen jobs, also streamed as OpenAI's SSE chunks), the
model list, and speech (speech.py, speech jobs). docs/compatibility.md maps every field. Errors come in OpenAI's
shape; auth is a genq key as the Bearer token.
"""

import base64
import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal
from urllib.parse import urljoin

from flask import Blueprint, Response, request, stream_with_context
from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from db.job_signals import TEXT
from db.models import Artifact, Job
from db.registry import default_model, find_model, list_models
from web.api.serializers import serialize_artifact
from web.compat.bodies import CompatBody, JobParam, present, reworded
from web.compat.chat import ChatMessages, chat_messages, render_chat
from web.compat.errors import CompatError, openai_error_body
from web.compat.jobs import artifact_bytes, run_compat_job, submit_compat_job, succeeded, take_wait_slot
from web.compat.waiting import JobWaiter
from web.context import current_owner, platform

openai_api = Blueprint("openai", __name__, url_prefix="/v1")


# Model names OpenAI image clients send by default: genq's default image model.
OPENAI_IMAGE_MODELS = re.compile(r"^(dall-e-\d|gpt-image-.*)$")
SIZE = re.compile(r"^(\d{2,5})x(\d{2,5})$")
# The SDK's default max_tokens of the completions API.
DEFAULT_COMPLETION_TOKENS = 16


class ImagesRequest(CompatBody):
    """POST /v1/images/generations; genq's own params ride in the SDK's extra_body."""

    prompt: JobParam = None
    model: str | None = None
    n: JobParam = None
    size: Annotated[
        str | None,
        StringConstraints(pattern=f"^auto$|{SIZE.pattern}"),
        reworded("must be WIDTHxHEIGHT, e.g. 512x512, or auto"),
    ] = None
    response_format: Annotated[Literal["url", "b64_json"] | None, reworded("must be url or b64_json")] = None
    seed: JobParam = None
    negative_prompt: JobParam = None
    steps: JobParam = None
    guidance_scale: JobParam = None
    scheduler: JobParam = None

    def job_params(self) -> dict[str, Any]:
        # Absent or auto: the model's native size.
        match = SIZE.match(self.size or "")
        size = {"width": int(match[1]), "height": int(match[2])} if match else {}
        return {"prompt": self.prompt, **size} | present(
            {
                "num_images": self.n,
                "seed": self.seed,
                "negative_prompt": self.negative_prompt,
                "steps": self.steps,
                "guidance_scale": self.guidance_scale,
                "scheduler": self.scheduler,
            }
        )


class StreamOptions(BaseModel):
    include_usage: bool = False


class TextRequest(CompatBody):
    """What completions and chat completions share."""

    model: str | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    temperature: JobParam = None
    top_p: JobParam = None
    n: JobParam = None
    seed: JobParam = None
    stop: Annotated[str | list[JobParam] | None, reworded("must be a string or a list of strings")] = None
    top_k: JobParam = None
    repetition_penalty: JobParam = None

    @property
    def includes_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage

    def text_params(self) -> dict[str, Any]:
        return present(
            {
                "temperature": self.temperature,
                "top_p": self.top_p,
                "num_return_sequences": self.n,
                "seed": self.seed,
                "top_k": self.top_k,
                "repetition_penalty": self.repetition_penalty,
                "stop": [self.stop] if isinstance(self.stop, str) else self.stop,
            }
        )


def _one_prompt(prompt: str | list[str]) -> str:
    return prompt[0] if isinstance(prompt, list) else prompt


class CompletionsRequest(TextRequest):
    """POST /v1/completions."""

    prompt: Annotated[
        str | Annotated[list[str], Field(min_length=1, max_length=1)],
        AfterValidator(_one_prompt),
        reworded("must be one string"),
    ]
    max_tokens: JobParam = None

    def job_params(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "max_new_tokens": self.max_tokens or DEFAULT_COMPLETION_TOKENS}


class ChatCompletionsRequest(TextRequest):
    """POST /v1/chat/completions."""

    messages: ChatMessages
    max_completion_tokens: JobParam = None
    max_tokens: JobParam = None


def openai_blueprint() -> Blueprint:
    """The blueprint with every route on it; the image edits' and speech's routes are
    added when imported, here, as web.api does."""
    from web.compat import openai_edits, speech  # noqa: F401

    return openai_api


def image_model(body: ImagesRequest) -> str | None:
    """The genq model of an images call: OpenAI's own model names (clients'
    defaults) mean the default image model (None)."""
    model = body.model
    if model is not None and OPENAI_IMAGE_MODELS.match(model) and not find_model(platform().settings, model):
        return None
    return model


def images_answer(body: ImagesRequest, job: Job) -> dict[str, Any]:
    """The images of a finished job in OpenAI's images answer."""
    data = []
    for artifact in job.artifacts:
        if body.response_format == "b64_json":
            encoded = base64.b64encode(artifact_bytes(artifact)).decode("ascii")
            data.append({"b64_json": encoded, "revised_prompt": None})
        else:
            # A presigned URL, or genq's root-relative download path made absolute.
            url = serialize_artifact(platform().storage, artifact).url
            data.append({"url": urljoin(request.host_url, url), "revised_prompt": None})
    return {"created": _created(job), "data": data}


@openai_api.post("/images/generations")
def generate_images() -> dict[str, Any]:
    body = ImagesRequest.from_request()
    return images_answer(body, run_compat_job("generate", image_model(body), body.job_params()))


@openai_api.post("/completions")
def completions() -> Response | dict[str, Any]:
    body = CompletionsRequest.from_request()
    model = body.model or default_model(platform().settings, "text")
    params = body.job_params() | body.text_params()
    if body.stream:
        return _stream("text_completion", model, params, body.includes_usage)
    job = run_compat_job("textgen", model, params)
    choices = [
        {"index": artifact.index, "text": artifact.text, "logprobs": None, "finish_reason": _finish_reason(artifact)}
        for artifact in job.artifacts
    ]
    return _answer(job, "cmpl", "text_completion", choices)


@openai_api.post("/chat/completions")
def chat_completions() -> Response | dict[str, Any]:
    body = ChatCompletionsRequest.from_request()
    settings = platform().settings
    model = body.model or default_model(settings, "text")
    params = {"prompt": render_chat(settings, model, chat_messages(body.messages))}
    max_tokens = body.max_completion_tokens or body.max_tokens
    if max_tokens is not None:
        params["max_new_tokens"] = max_tokens
    params |= body.text_params()
    if body.stream:
        return _stream("chat.completion.chunk", model, params, body.includes_usage)
    job = run_compat_job("textgen", model, params)
    choices = [
        {
            "index": artifact.index,
            "message": {"role": "assistant", "content": artifact.text},
            "logprobs": None,
            "finish_reason": _finish_reason(artifact),
        }
        for artifact in job.artifacts
    ]
    return _answer(job, "chatcmpl", "chat.completion", choices)


def _created(job: Job) -> int:
    return int(job.created_at.timestamp())


def _finish_reason(artifact: Artifact) -> str:
    return artifact.finish_reason or "stop"  # a job finished before genq counted: it said stop


def _usage(artifacts: list[Artifact]) -> dict[str, int]:
    """OpenAI's usage of all choices, from the worker's counts: the prompt once, every completion."""
    prompt = max((artifact.prompt_tokens or 0 for artifact in artifacts), default=0)
    completion = sum(artifact.completion_tokens or 0 for artifact in artifacts)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _answer(job: Job, id_prefix: str, object_type: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": f"{id_prefix}-{job.id}",
        "object": object_type,
        "created": _created(job),
        "model": job.model,
        "choices": choices,
        "usage": _usage(job.artifacts),
    }


def _stream(object_type: str, model: str | None, params: dict[str, Any], include_usage: bool) -> Response:
    """The job's text as OpenAI's SSE chunks while it is generated, then (asked by
    stream_options.include_usage) a chunk with no choices and the usage, then
    `data: [DONE]`. Errors after the first byte come as a chunk with an `error`
    member, as OpenAI's do."""
    slots = take_wait_slot()
    try:
        job_id, validated = submit_compat_job("textgen", model, params)
    except Exception:
        slots.give_back()
        raise
    services, owner = platform(), current_owner()
    prefix = "chatcmpl" if object_type == "chat.completion.chunk" else "cmpl"
    envelope = {"id": f"{prefix}-{job_id}", "object": object_type, "created": int(time.time()), "model": model}

    def chunk(index: int, text: str | None, finish_reason: str | None = None) -> str:
        if object_type == "text_completion":
            choice = {"index": index, "text": text or "", "logprobs": None, "finish_reason": finish_reason}
        else:
            delta = {} if text is None else {"content": text}
            if text == "":
                delta["role"] = "assistant"
            choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return f"data: {json.dumps(envelope | {'choices': [choice]})}\n\n"

    def events() -> Iterator[str]:
        sent: dict[int, str] = {}
        try:
            with JobWaiter(services, job_id, owner) as waiter:
                for index in range(validated["num_return_sequences"]):
                    sent[index] = ""
                    yield chunk(index, "")
                for signal in waiter.signals():
                    if signal is not None and signal["type"] == TEXT:
                        yield from _delta(sent, signal["index"], signal["text"], chunk)
                        continue
                    job = waiter.read_job()
                    if job.is_finished:
                        break
                artifacts = succeeded(job).artifacts
                for artifact in artifacts:
                    yield from _delta(sent, artifact.index, artifact.text or "", chunk)
                    yield chunk(artifact.index, None, _finish_reason(artifact))
                if include_usage:
                    yield f"data: {json.dumps(envelope | {'choices': [], 'usage': _usage(artifacts)})}\n\n"
        except CompatError as error:
            yield f"data: {json.dumps(openai_error_body(error))}\n\n"
        yield "data: [DONE]\n\n"

    response = Response(stream_with_context(events()), mimetype="text/event-stream")
    # Runs when the server closes the response, however it ends (done, error, client gone).
    response.call_on_close(slots.give_back)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response


def _delta(sent: dict[int, str], index: int, text: str, chunk: Callable[[int, str], str]) -> Iterator[str]:
    """The new part of output `index`; text reported so far only ever grows."""
    before = sent.get(index, "")
    if len(text) > len(before) and text.startswith(before):
        sent[index] = text
        yield chunk(index, text[len(before) :])


@openai_api.get("/models")
def models() -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"id": entry.name, "object": "model", "created": 0, "owned_by": "genq", "genq_kind": entry.kind}
            for entry in list_models(platform().settings)
        ],
    }
