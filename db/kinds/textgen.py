"""The `textgen` kind: text generation with a transformers causal LM, on its own
queue; it counts nothing against the image budget."""

from typing import Annotated

from pydantic import ConfigDict, Field

from db.kinds.definition import JobKind
from db.specs import MAX_SEED, Capped, JsonBody, Prompt, random_seed

TEXTGEN_QUEUE = "textgen"


class TextgenSpec(JsonBody):
    """Params of a text-generation job: the names and meanings of transformers'
    generate(); temperature 0 means greedy decoding."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: Prompt = Field(min_length=1)
    max_new_tokens: Annotated[int, Capped("max_new_tokens")] = Field(default=64, ge=1)
    temperature: float = Field(default=1.0, ge=0, le=2)
    top_p: float = Field(default=1.0, gt=0, le=1)
    top_k: int = Field(default=50, ge=0)
    repetition_penalty: float = Field(default=1.0, gt=0, le=10)
    seed: int = Field(default_factory=random_seed, ge=0, le=MAX_SEED)
    num_return_sequences: int = Field(default=1, ge=1, le=8)
    # Generation of a sequence ends where one of these appears (it is cut there).
    stop: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default=[], max_length=4)


KIND = JobKind(
    name="textgen",
    spec=TextgenSpec,
    queue=TEXTGEN_QUEUE,
    model_kind="text",
    executor_module="worker.executors.textgen",
    steps_param="max_new_tokens",
    eta_params=("num_return_sequences",),
)
