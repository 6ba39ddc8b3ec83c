"""The worker process's cache of loaded CLIP models (worker/model_cache.py: keys,
eviction, loading rules) and what they measure: CLIP scores of images against
prompts, and the image features FID is computed on (worker/executors/evaluate.py)
without an Inception network (worker/inception.py).

A CLIP score is torchmetrics' CLIPScore of one image and its prompt: 100 x the
cosine of their projected embeddings, floored at 0 (torchmetrics floors the mean
of a batch; genq floors each image's, and the mean of an evaluation is the mean of
those). Prompts longer than the text tower's positions are cut, as torchmetrics cuts them.
"""

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from PIL import Image
from transformers import CLIPModel, CLIPProcessor

from db.registry import default_model
from worker.failures import JobFailure
from worker.inception import FidInception, load_fid_inception
from worker.model_cache import ModelCache


@dataclass(frozen=True)
class ClipModel:
    model: CLIPModel
    processor: CLIPProcessor

    @property
    def feature_size(self) -> int:
        return int(self.model.config.projection_dim)

    def image_features(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """The projected, unit-length embedding of each image (float32, on the CPU)."""
        pixels = self.processor(images=list(images), return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            features = self.model.get_image_features(pixel_values=pixels.to(self.model.device, self.model.dtype))
        return _unit(features)

    def text_features(self, prompts: Sequence[str]) -> torch.Tensor:
        max_length = self.model.config.text_config.max_position_embeddings
        tokens = self.processor(
            text=list(prompts), return_tensors="pt", padding=True, truncation=True, max_length=max_length
        )
        with torch.inference_mode():
            features = self.model.get_text_features(
                input_ids=tokens["input_ids"].to(self.model.device),
                attention_mask=tokens["attention_mask"].to(self.model.device),
            )
        return _unit(features)

    def scores(self, images: Sequence[Image.Image], prompts: Sequence[str]) -> list[float]:
        """The CLIP score of each image against its prompt (same order, same length)."""
        return self.scores_of(self.image_features(images), prompts)

    def scores_of(self, image_features: torch.Tensor, prompts: Sequence[str]) -> list[float]:
        """The same from the images' features (image_features), when they serve FID too."""
        if len(image_features) != len(prompts):
            raise ValueError(f"{len(image_features)} images but {len(prompts)} prompts")
        cosines = (image_features * self.text_features(prompts)).sum(dim=-1)
        return [float(score) for score in (100 * cosines).clamp(min=0)]


def _unit(output: object) -> torch.Tensor:
    # transformers 5 returns a model output whose pooler_output is the projection;
    # 4.x returned the tensor itself.
    features: torch.Tensor = output if isinstance(output, torch.Tensor) else output.pooler_output  # type: ignore[attr-defined]
    return torch.nn.functional.normalize(features.float().cpu(), dim=-1)


class ClipModelCache(ModelCache[ClipModel]):
    """Loaded CLIP models (and their processors) of one worker process, and FID's
    Inception network when GENQ_FID_INCEPTION_WEIGHTS names one."""

    kind = "clip"
    noun = "clip model"

    @functools.cached_property
    def fid_inception(self) -> FidInception | None:
        """Loaded on the first FID (a failed load is tried again by the next job)."""
        path = self.settings.fid_inception_weights
        return None if path is None else load_fid_inception(path, self.device)

    def scorer(self) -> ClipModel:
        """The model that scores generated images: GENQ_SCORE_MODEL, else the first clip model."""
        scorer = self.installed_scorer()
        if scorer is None:
            raise JobFailure("model_not_found", "no clip model is installed to score images with (GENQ_SCORE_MODEL)")
        return scorer

    def installed_scorer(self) -> ClipModel | None:
        """The same, or None when no clip model is installed (scores that are a bonus)."""
        name = default_model(self.settings, "clip")
        return None if name is None else self.get(name)

    def _load(self, source: str) -> ClipModel:
        processor = CLIPProcessor.from_pretrained(source)
        model = CLIPModel.from_pretrained(source, dtype=self.dtype, use_safetensors=True)
        model.to(self.device)
        model.eval()
        return ClipModel(model, processor)
