"""The `textgen` executor: a prompt to `num_return_sequences` continuations with a
cached transformers causal LM, one UTF-8 text artifact each.

Seeds: the global torch generator is seeded with the job's seed right before
generate(), so the same seed, model and params give the same texts. Temperature
0 is greedy decoding. Every new token goes through one StoppingCriteria, which
reports progress (tokens / max_new_tokens; a cancel raises there, so generation
stops within one token), reports each output's text so far, and ends an output
at its first stop string. Each output says why it ended (`stop`: a stop string
or the end-of-text token; `length`: max_new_tokens) and its prompt and
completion tokens (those generated until it ended, a stop string's included). Never touches Celery, the database or storage.
"""

from typing import Any

import torch
from transformers import PreTrainedTokenizerBase, StoppingCriteria, StoppingCriteriaList

from db.kinds.textgen import TextgenSpec
from worker.executors.interface import ArtifactOutput, JobContext, JobInput, KindExecutor, TextUsage
from worker.failures import JobFailure, parse_params

# What a byte-level tokenizer decodes an incomplete UTF-8 character to; held back
# from streamed text until the next token completes it.
REPLACEMENT_CHARACTER = "\ufffd"


def run_textgen(job: JobInput, context: JobContext) -> list[ArtifactOutput]:
    spec = parse_params(TextgenSpec, job.params, "textgen")
    loaded = context.text_models.get(job.model)
    model, tokenizer = loaded.model, loaded.tokenizer
    prompt_ids = tokenizer(spec.prompt, return_tensors="pt").input_ids.to(model.device)
    prompt_length = prompt_ids.shape[1]
    context_length = getattr(model.config, "max_position_embeddings", None)
    if context_length is not None and prompt_length + spec.max_new_tokens > context_length:
        raise JobFailure(
            "invalid_params",
            f"the prompt ({prompt_length} tokens) and max_new_tokens ({spec.max_new_tokens}) "
            f"exceed the model's context of {context_length} tokens",
        )
    # One row per output: greedy decoding would refuse num_return_sequences > 1.
    batch = prompt_ids.repeat(spec.num_return_sequences, 1)
    watcher = GenerationWatcher(tokenizer, prompt_length, spec, context)
    sampling: dict[str, Any] = {"do_sample": False}
    if spec.temperature > 0:
        sampling = {"do_sample": True, "temperature": spec.temperature, "top_p": spec.top_p, "top_k": spec.top_k}
    torch.manual_seed(spec.seed)
    with torch.inference_mode():
        output = model.generate(
            input_ids=batch,
            attention_mask=torch.ones_like(batch),
            max_new_tokens=spec.max_new_tokens,
            repetition_penalty=spec.repetition_penalty,
            pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
            stopping_criteria=StoppingCriteriaList([watcher]),
            **sampling,
        )
    outputs = []
    for index, row in enumerate(output):
        text = watcher.final_text(row)
        finish_reason, completion_tokens = watcher.ending(index, row)
        usage = TextUsage(finish_reason, prompt_tokens=prompt_length, completion_tokens=completion_tokens)
        outputs.append(
            ArtifactOutput(
                index=index,
                kind="text",
                content_type="text/plain; charset=utf-8",
                extension="txt",
                data=text.encode("utf-8"),
                seed=spec.seed,
                usage=usage,
            )
        )
    return outputs


class GenerationWatcher(StoppingCriteria):
    """Called by generate() after every new token of the whole batch."""

    def __init__(
        self, tokenizer: PreTrainedTokenizerBase, prompt_length: int, spec: TextgenSpec, context: JobContext
    ) -> None:
        self._tokenizer = tokenizer
        self._prompt_length = prompt_length
        self._spec = spec
        self._context = context
        self._reported = [""] * spec.num_return_sequences
        self._stopped = [False] * spec.num_return_sequences
        # Tokens each output had generated when a stop string ended it.
        self._generated = [0] * spec.num_return_sequences

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.Tensor:
        for index, row in enumerate(input_ids):
            if self._stopped[index]:
                continue
            text = self._new_text(row)
            cut = cut_at_stop(text, self._spec.stop)
            self._stopped[index] = cut is not None
            self._generated[index] = len(row) - self._prompt_length
            shown = cut if cut is not None else streamable(text, self._spec.stop)
            if shown != self._reported[index]:
                self._reported[index] = shown
                self._context.report_text(index, shown)
        # After the texts, so the write this may trigger carries them. Raises
        # JobCanceled on a cancel: generate() unwinds from here, one token late at most.
        self._context.report_progress(input_ids.shape[1] - self._prompt_length, self._spec.max_new_tokens)
        return torch.tensor(self._stopped, device=input_ids.device)

    def final_text(self, row: torch.Tensor) -> str:
        text = self._new_text(row)
        cut = cut_at_stop(text, self._spec.stop)
        return text if cut is None else cut

    def ending(self, index: int, row: torch.Tensor) -> tuple[str, int]:
        """Why output `index` ended (`stop`: a stop string or the end-of-text token;
        `length`: max_new_tokens) and how many tokens it generated until then."""
        if self._stopped[index]:
            return "stop", self._generated[index]
        generated = row[self._prompt_length :].tolist()
        eos = self._tokenizer.eos_token_id
        if eos is not None and eos in generated:
            return "stop", generated.index(eos)
        return "length", len(generated)

    def _new_text(self, row: torch.Tensor) -> str:
        text: str = self._tokenizer.decode(row[self._prompt_length :], skip_special_tokens=True)
        return text


def cut_at_stop(text: str, stops: list[str]) -> str | None:
    """The text before the first stop string in it, or None when there is none."""
    positions = [position for stop in stops if (position := text.find(stop)) >= 0]
    return text[: min(positions)] if positions else None


def streamable(text: str, stops: list[str]) -> str:
    """The part of unfinished text that no later token can take back: without a
    trailing partial UTF-8 character, nor a tail that may grow into a stop string."""
    text = text.rstrip(REPLACEMENT_CHARACTER)
    held = max(
        (length for stop in stops for length in range(1, len(stop)) if text.endswith(stop[:length])),
        default=0,
    )
    return text[: len(text) - held]


EXECUTOR = KindExecutor(run_textgen)
