"""The worker process's cache of loaded causal language models and their tokenizers,
for textgen jobs: the text twin of worker/pipelines.py's PipelineCache, with the
same keys (source, dtype, device), the same least-recently-used eviction, the same
device and dtype choice and the same refusal of pickle-format weights.
"""

import gc
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from db.registry import find_model
from db.settings import Settings
from worker.failures import JobFailure
from worker.pipelines import CacheStats, resolve_device, resolve_dtype
from worker.weights import refuse_pickle_weights

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextModel:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase


class TextModelCache:
    """Loaded text models of one worker process, at most `settings.pipeline_cache_size`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.capacity = settings.pipeline_cache_size
        self.device = resolve_device(settings.device)
        self.dtype = resolve_dtype(settings.dtype, self.device)
        self.stats = CacheStats()
        self._models: OrderedDict[tuple[str, str, str], TextModel] = OrderedDict()

    def __len__(self) -> int:
        return len(self._models)

    def get(self, model_name: str) -> TextModel:
        """The model and its tokenizer, loading them (and evicting the oldest) on a miss."""
        entry = find_model(self.settings, model_name)
        if entry is None:
            raise JobFailure("model_not_found", f"model {model_name!r} is not installed on this worker")
        if entry.kind != "text":
            raise JobFailure("model_kind_mismatch", f"model {model_name!r} is not a text model")
        key = (entry.source, str(self.dtype), str(self.device))
        if key in self._models:
            self._models.move_to_end(key)
            self.stats.hits += 1
            return self._models[key]
        while len(self._models) >= self.capacity:
            self._evict_oldest()
        loaded = self._load(model_name, entry.source)
        self._models[key] = loaded
        return loaded

    def _load(self, model_name: str, source: str) -> TextModel:
        started = time.monotonic()
        refuse_pickle_weights(model_name, source)
        try:
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = AutoModelForCausalLM.from_pretrained(source, dtype=self.dtype, use_safetensors=True)
        except (OSError, ValueError) as error:
            # The details (paths on this machine) go to the worker log, not to the job's owner.
            raise JobFailure(
                "model_load_failed",
                f"model {model_name!r} could not be loaded ({type(error).__name__}); see the worker log",
            ) from error
        model.to(self.device)
        model.eval()
        self.stats.loads += 1
        log.info(
            "loaded text model %s (%s, %s, %s) in %.1f s",
            model_name, type(model).__name__, self.dtype, self.device, time.monotonic() - started,
        )
        return TextModel(model, tokenizer)

    def _evict_oldest(self) -> None:
        (source, _, _), evicted = self._models.popitem(last=False)
        self.stats.evictions += 1
        log.info("evicted text model %s from the cache", source)
        del evicted
        # Give the accelerator memory back before the next model loads into it.
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
