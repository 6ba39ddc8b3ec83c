"""The model registry: which models jobs may name, and where each one loads from.

A model is a directory under GENQ_MODELS_DIR holding a diffusers model_index.json,
or a hub id / path listed in GENQ_HUB_MODELS. Both web (validation, listing) and
worker (loading) read it; nothing here loads weights.
"""

from dataclasses import dataclass

from db.settings import Settings


@dataclass(frozen=True)
class ModelEntry:
    name: str
    source: str  # what from_pretrained is given: a local directory or a hub id
    origin: str  # "local" or "hub"


def list_models(settings: Settings) -> list[ModelEntry]:
    entries: dict[str, ModelEntry] = {}
    if settings.models_dir.is_dir():
        for directory in sorted(settings.models_dir.iterdir()):
            if (directory / "model_index.json").is_file():
                entries[directory.name] = ModelEntry(
                    directory.name, str(directory.resolve()), "local"
                )
    for hub_id in settings.hub_models:
        entries.setdefault(hub_id, ModelEntry(hub_id, hub_id, "hub"))
    return list(entries.values())


def find_model(settings: Settings, name: str) -> ModelEntry | None:
    return next((entry for entry in list_models(settings) if entry.name == name), None)


def default_model(settings: Settings) -> str | None:
    if settings.default_model:
        return settings.default_model
    models = list_models(settings)
    return models[0].name if models else None
