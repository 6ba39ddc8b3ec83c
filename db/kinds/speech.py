"""The `speech` kind: text to speech with a transformers text-to-waveform model
(VITS, the MMS-TTS family), on its own queue; one audio artifact per job. The text
is spoken sentence by sentence (split_sentences, shared with the executor), so its
progress counts sentences and a cancel stops it within one. Counts nothing
against the image budget. Never imports torch.
"""

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from db.kinds.definition import JobKind
from db.specs import MAX_SEED, NOT_BLANK, Capped, JsonBody, random_seed

SPEECH_QUEUE = "speech"
AUDIO_FORMATS = ("wav", "flac")
# Where a sentence ends: after . ! ? or … and the spaces that follow, right after
# the full stops of scripts written without spaces, and at every line break.
SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[。！？])|\s*\n\s*")


def split_sentences(text: str) -> list[str]:
    """The text's sentences, in order, without the spaces between them."""
    return [sentence.strip() for sentence in SENTENCE_END.split(text) if sentence.strip()]


class SpeechSpec(JsonBody):
    """Params of a speech job: the text and how fast it is spoken (VITS's
    speaking_rate: 2 is twice as fast), the seed of the model's noise, and the
    file format of the audio."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: Annotated[str, NOT_BLANK, Capped("max_speech_chars")] = Field(min_length=1)
    speaking_rate: float = Field(default=1.0, ge=0.25, le=4)
    seed: int = Field(default_factory=random_seed, ge=0, le=MAX_SEED)
    format: Literal["wav", "flac"] = "wav"
    # The voice a client asked for (OpenAI's `voice`): recorded with the job; the
    # models genq loads speak in one voice each.
    voice: str | None = Field(default=None, min_length=1, max_length=64)


def count_sentences(params: Mapping[str, Any]) -> int:
    return len(split_sentences(params.get("text") or ""))


KIND = JobKind(
    name="speech",
    spec=SpeechSpec,
    queue=SPEECH_QUEUE,
    model_kind="speech",
    executor_module="worker.executors.speech",
    steps_param=count_sentences,
    eta_params=("speaking_rate",),
)
