"""OpenAI-compatible endpoints under /v1, for the `openai` SDK and the tools built on
it: images (generate jobs), completions and chat completions (textgen jobs, also
streamed as OpenAI's SSE chunks), and the model list. docs/compatibility.md maps
every field. Errors come in OpenAI's shape; auth is a genq key as the Bearer token.
"""

import base64
import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urljoin

from flask import Blueprint, Response, request, stream_with_context
from werkzeug.exceptions import HTTPException

from db.job_signals import TEXT
from db.models import Job
from db.registry import default_model, find_model, list_models
from web.api.serializers import serialize_artifact
from web.compat.chat import chat_messages, render_chat
from web.compat.errors import CompatError, genq_error
from web.compat.jobs import artifact_bytes, run_compat_job, submit_compat_job, succeeded, take_wait_slot
from web.compat.waiting import JobWaiter
from web.context import current_owner, platform

openai_api = Blueprint("openai", __name__, url_prefix="/v1")

# Model names OpenAI image clients send by default: genq's default image model.
OPENAI_IMAGE_MODELS = re.compile(r"^(dall-e-\d|gpt-image-.*)$")
SIZE = re.compile(r"^(\d{2,5})x(\d{2,5})$")
# The SDK's default max_tokens of the completions API.
DEFAULT_COMPLETION_TOKENS = 16
# {OpenAI field: genq param}; genq's own params ride in the SDK's extra_body.
IMAGE_PARAMS = {
    "n": "num_images",
    "seed": "seed",
    "negative_prompt": "negative_prompt",
    "steps": "steps",
    "guidance_scale": "guidance_scale",
    "scheduler": "scheduler",
}
TEXT_PARAMS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "n": "num_return_sequences",
    "seed": "seed",
    "top_k": "top_k",
    "repetition_penalty": "repetition_penalty",
}


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise CompatError(400, "invalid_json", "the body must be a JSON object")
    return body


def _passed(body: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """{genq param: value} for each OpenAI field present in the body."""
    return {genq: body[field] for field, genq in names.items() if body.get(field) is not None}


@openai_api.post("/images/generations")
def generate_images() -> dict[str, Any]:
    body = _body()
    response_format = body.get("response_format") or "url"
    if response_format not in ("url", "b64_json"):
        raise CompatError(422, "validation_error", "response_format: must be url or b64_json", "response_format")
    model = body.get("model")
    if isinstance(model, str) and OPENAI_IMAGE_MODELS.match(model) and not find_model(platform().settings, model):
        model = None
    params = {"prompt": body.get("prompt"), **_image_size(body.get("size"))} | _passed(body, IMAGE_PARAMS)
    job = run_compat_job("generate", model, params)
    data = []
    for artifact in job.artifacts:
        if response_format == "b64_json":
            encoded = base64.b64encode(artifact_bytes(artifact)).decode("ascii")
            data.append({"b64_json": encoded, "revised_prompt": None})
        else:
            # A presigned URL, or genq's root-relative download path made absolute.
            url = serialize_artifact(platform().storage, artifact)["url"]
            data.append({"url": urljoin(request.host_url, url), "revised_prompt": None})
    return {"created": _created(job), "data": data}


def _image_size(size: Any) -> dict[str, int]:
    if size in (None, "auto"):
        return {}
    match = SIZE.match(str(size))
    if match is None:
        raise CompatError(422, "validation_error", "size: must be WIDTHxHEIGHT, e.g. 512x512, or auto", "size")
    return {"width": int(match[1]), "height": int(match[2])}


@openai_api.post("/completions")
def completions() -> Response | dict[str, Any]:
    body = _body()
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise CompatError(422, "validation_error", "prompt: must be one string", "prompt")
    model = body.get("model") or default_model(platform().settings, "text")
    params = {"prompt": prompt, "max_new_tokens": body.get("max_tokens") or DEFAULT_COMPLETION_TOKENS}
    params |= _text_params(body)
    if body.get("stream"):
        return _stream("text_completion", model, params)
    job = run_compat_job("textgen", model, params)
    choices = [
        {"index": artifact.index, "text": artifact.text, "logprobs": None, "finish_reason": "stop"}
        for artifact in job.artifacts
    ]
    return _answer(job, "cmpl", "text_completion", choices)


@openai_api.post("/chat/completions")
def chat_completions() -> Response | dict[str, Any]:
    body = _body()
    settings = platform().settings
    model = body.get("model") or default_model(settings, "text")
    params = {"prompt": render_chat(settings, model, chat_messages(body.get("messages")))}
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens is not None:
        params["max_new_tokens"] = max_tokens
    params |= _text_params(body)
    if body.get("stream"):
        return _stream("chat.completion.chunk", model, params)
    job = run_compat_job("textgen", model, params)
    choices = [
        {
            "index": artifact.index,
            "message": {"role": "assistant", "content": artifact.text},
            "logprobs": None,
            "finish_reason": "stop",
        }
        for artifact in job.artifacts
    ]
    return _answer(job, "chatcmpl", "chat.completion", choices)


def _text_params(body: dict[str, Any]) -> dict[str, Any]:
    params = _passed(body, TEXT_PARAMS)
    stop = body.get("stop")
    if stop is not None:
        params["stop"] = [stop] if isinstance(stop, str) else stop
    return params


def _created(job: Job) -> int:
    return int(job.created_at.timestamp())


def _answer(job: Job, id_prefix: str, object_type: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
    # No `usage`: the web has no tokenizer to count with.
    return {"id": f"{id_prefix}-{job.id}", "object": object_type, "created": _created(job), "model": job.model,
            "choices": choices}


def _stream(object_type: str, model: str | None, params: dict[str, Any]) -> Response:
    """The job's text as OpenAI's SSE chunks while it is generated, then `data: [DONE]`.
    Errors after the first byte come as a chunk with an `error` member, as OpenAI's do."""
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
                for artifact in succeeded(job).artifacts:
                    yield from _delta(sent, artifact.index, artifact.text or "", chunk)
                    yield chunk(artifact.index, None, "stop")
        except CompatError as error:
            yield f"data: {json.dumps(_openai_error(error))}\n\n"
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
        yield chunk(index, text[len(before):])


@openai_api.get("/models")
def models() -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"id": entry.name, "object": "model", "created": 0, "owned_by": "genq", "genq_kind": entry.kind}
            for entry in list_models(platform().settings)
        ],
    }


def _openai_error(error: CompatError) -> dict[str, Any]:
    error_type = "invalid_request_error" if error.status < 500 else "server_error"
    return {"error": {"message": error.message, "type": error_type, "param": error.param, "code": error.code}}


@openai_api.errorhandler(CompatError)
def _compat_error(error: CompatError) -> tuple[dict[str, Any], int, dict[str, str]]:
    return _openai_error(error), error.status, error.headers


@openai_api.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> tuple[dict[str, Any], int, dict[str, str]]:
    code = (error.name or "error").lower().replace(" ", "_")
    return _openai_error(CompatError(error.code or 500, code, error.description or code)), error.code or 500, {}


@openai_api.after_request
def _in_openai_shape(response: Response) -> Response:
    """Errors answered before a view ran (auth, rate limits, outages) in OpenAI's shape."""
    found = genq_error(response)
    if found is not None:
        code, message = found
        response.set_data(json.dumps(_openai_error(CompatError(response.status_code, code, message))))
    return response

