"""The model registry: which models jobs may name, and where each one loads from.

A model is a directory under GENQ_MODELS_DIR, or a hub id / path listed in
GENQ_HUB_MODELS. Each has a kind: an `image` model is a diffusers pipeline (a
model_index.json), an `upscaler` one of diffusers' upscale pipelines (its
model_index.json names one of UPSCALE_PIPELINES), a `text` model a transformers causal LM (a config.json naming a
*ForCausalLM / *LMHeadModel architecture, and no model_index.json), a `speech`
model a transformers text-to-waveform model (a config.json naming one of
SPEECH_ARCHITECTURES: VITS, the MMS-TTS family), a `clip` model a transformers
CLIPModel with its processor (scores images against prompts); hub ids are image models. Both web (validation, listing) and worker (loading) read it;
nothing here loads weights.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from db.settings import Settings

ModelKind = Literal["image", "text", "upscaler", "speech", "clip"]
MODEL_KINDS: tuple[ModelKind, ...] = ("image", "text", "upscaler", "speech", "clip")
# The diffusers pipelines that make an image larger (upscale jobs, a generate job's hires pass).
UPSCALE_PIPELINES = ("StableDiffusionUpscalePipeline", "StableDiffusionLatentUpscalePipeline")
CAUSAL_LM_SUFFIXES = ("ForCausalLM", "LMHeadModel")
# Text-to-waveform architectures whose forward pass returns the waveform (and takes
# a speaking rate): what worker/speech_models.py loads with AutoModelForTextToWaveform.
SPEECH_ARCHITECTURES = ("VitsModel",)
CLIP_ARCHITECTURES = ("CLIPModel",)


@dataclass(frozen=True)
class ModelEntry:
    name: str
    source: str  # what from_pretrained is given: a local directory or a hub id
    origin: str  # "local" or "hub"
    kind: ModelKind = "image"


def local_model_kind(directory: Path) -> ModelKind | None:
    """What a directory under models_dir holds, or None when it is no model genq loads."""
    if (directory / "model_index.json").is_file():
        index = _json_file(directory / "model_index.json")
        return "upscaler" if index.get("_class_name") in UPSCALE_PIPELINES else "image"
    architectures = _json_file(directory / "config.json").get("architectures")
    names = [name for name in architectures if isinstance(name, str)] if isinstance(architectures, list) else []
    if any(name.endswith(CAUSAL_LM_SUFFIXES) for name in names):
        return "text"
    if any(name in SPEECH_ARCHITECTURES for name in names):
        return "speech"
    if any(name in CLIP_ARCHITECTURES for name in names):
        return "clip"
    return None


def _json_file(path: Path) -> dict:
    """The JSON object in this file; empty when it is missing or not an object."""
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def list_models(settings: Settings) -> list[ModelEntry]:
    entries: dict[str, ModelEntry] = {}
    if settings.models_dir.is_dir():
        for directory in sorted(settings.models_dir.iterdir()):
            kind = local_model_kind(directory) if directory.is_dir() else None
            if kind is not None:
                entries[directory.name] = ModelEntry(directory.name, str(directory.resolve()), "local", kind)
    for hub_id in settings.hub_models:
        entries.setdefault(hub_id, ModelEntry(hub_id, hub_id, "hub"))
    return list(entries.values())


def find_model(settings: Settings, name: str) -> ModelEntry | None:
    return next((entry for entry in list_models(settings) if entry.name == name), None)


def default_model(settings: Settings, kind: ModelKind = "image") -> str | None:
    """The model named in settings when it is of this kind (GENQ_SCORE_MODEL for
    clip, GENQ_DEFAULT_MODEL for the others), else the first of the kind."""
    names = [entry.name for entry in list_models(settings) if entry.kind == kind]
    preferred = settings.score_model if kind == "clip" else settings.default_model
    if preferred in names:
        return preferred
    return names[0] if names else None
