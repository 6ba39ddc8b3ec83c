"""OpenAI's POST /v1/audio/speech as an ordinary speech job of the key's owner:
the body is mapped to the job's params, the call waits for the job
(web/compat/jobs.py) and answers the audio file itself, as OpenAI does. `pcm` is
the WAV's samples without the header. docs/compatibility.md maps every field."""

import re
from typing import Annotated, Any, Literal

from flask import Response

from db.kinds.speech import KIND as SPEECH
from db.registry import find_model
from web.audio import raw_pcm
from web.compat.bodies import CompatBody, JobParam, present, reworded
from web.compat.jobs import artifact_bytes, run_compat_job
from web.compat.openai import openai_api
from web.context import platform

# Model names OpenAI speech clients send: genq's default speech model, unless one is installed by that name.
OPENAI_SPEECH_MODELS = re.compile(r"^(tts-1(-hd)?|gpt-4o(-mini)?-tts.*)$")
# The job's format for each response format; pcm is cut from the WAV.
JOB_FORMATS = {"wav": "wav", "flac": "flac", "pcm": "wav"}
PCM_CONTENT_TYPE = "audio/pcm"


class SpeechRequest(CompatBody):
    """POST /v1/audio/speech; genq's own params (seed) ride in the SDK's extra_body."""

    model: str | None = None
    input: JobParam = None
    voice: JobParam = None
    response_format: Annotated[
        Literal["wav", "flac", "pcm"] | None, reworded("must be wav, flac or pcm (genq encodes no mp3, opus or aac)")
    ] = None
    speed: JobParam = None
    # OpenAI's `sse` streams base64 chunks; genq answers the whole file once it is spoken.
    stream_format: Annotated[Literal["audio"] | None, reworded("must be audio (genq streams no sse)")] = None
    seed: JobParam = None

    def job_params(self) -> dict[str, Any]:
        return {"text": self.input, "format": JOB_FORMATS[self.response_format or "wav"]} | present(
            {"voice": self.voice, "speaking_rate": self.speed, "seed": self.seed}
        )


@openai_api.post("/audio/speech")
def create_speech() -> Response:
    body = SpeechRequest.from_request()
    model = body.model
    if model is not None and OPENAI_SPEECH_MODELS.match(model) and not find_model(platform().settings, model):
        model = None
    job = run_compat_job(SPEECH.name, model, body.job_params())
    [artifact] = job.artifacts
    data = artifact_bytes(artifact)
    content_type = artifact.content_type
    if body.response_format == "pcm":
        data, content_type = raw_pcm(data), PCM_CONTENT_TYPE
    headers = {"X-Genq-Job-Id": str(job.id), "X-Genq-Sample-Rate": str(artifact.sample_rate)}
    if body.voice is not None:
        headers["X-Genq-Voice"] = str(job.params.get("voice"))
    return Response(data, content_type=content_type, headers=headers)
