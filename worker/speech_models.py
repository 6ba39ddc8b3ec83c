"""The worker process's cache of loaded text-to-speech models and their tokenizers,
for speech jobs (worker/model_cache.py: keys, eviction, loading rules). Loaded
with transformers' AutoModelForTextToWaveform, as the MMS-TTS checkpoints are."""

from dataclasses import dataclass

import torch
from transformers import AutoModelForTextToWaveform, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from db.settings import Settings
from worker.model_cache import ModelCache


@dataclass(frozen=True)
class SpeechModel:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase

    @property
    def sample_rate(self) -> int:
        return int(self.model.config.sampling_rate)


class SpeechModelCache(ModelCache[SpeechModel]):
    """Loaded speech models (and their tokenizers) of one worker process."""

    kind = "speech"
    noun = "speech model"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        # Always float32: these models are small (MMS-TTS has 36M parameters), and
        # VITS's duration predictor (rational-quadratic spline flows) is not made
        # for half precision.
        self.dtype = torch.float32

    def _load(self, source: str) -> SpeechModel:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForTextToWaveform.from_pretrained(source, dtype=self.dtype, use_safetensors=True)
        model.to(self.device)
        model.eval()
        return SpeechModel(model, tokenizer)
