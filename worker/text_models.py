"""The worker process's cache of loaded causal language models and their
tokenizers, for textgen jobs (worker/model_cache.py: keys, eviction, loading rules)."""

from dataclasses import dataclass

from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from worker.model_cache import ModelCache


@dataclass(frozen=True)
class TextModel:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase


class TextModelCache(ModelCache[TextModel]):
    """Loaded text models (and their tokenizers) of one worker process."""

    kind = "text"
    noun = "text model"

    def _load(self, source: str) -> TextModel:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=self.dtype, use_safetensors=True)
        model.to(self.device)
        model.eval()
        return TextModel(model, tokenizer)
