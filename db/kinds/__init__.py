"""The job kinds this process knows: the built-in ones and those named in
GENQ_KIND_MODULES, found the same way (a module whose KIND is a
db.kinds.definition.JobKind). Web and worker load them at start-up
(load_kind_modules); everything else asks here which kinds exist.
"""

import importlib
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from db.kinds.definition import JobKind
from db.registry import ModelKind
from db.specs import JsonBody

BUILTIN_KIND_MODULES = (
    "db.kinds.generate",
    "db.kinds.finetune",
    "db.kinds.textgen",
    "db.kinds.upscale",
    "db.kinds.speech",
    "db.kinds.evaluate",
)

_kinds: dict[str, JobKind] = {}


class KindModuleInvalid(ValueError):
    """A module named as a kind module has no JobKind as its KIND, or reuses a name."""


def load_kind_modules(modules: Iterable[str] = ()) -> Mapping[str, JobKind]:
    """Import these modules (after the built-in ones) and register the KIND of each;
    loading a module again changes nothing. Returns every kind known."""
    for module_name in (*BUILTIN_KIND_MODULES, *modules):
        kind = getattr(importlib.import_module(module_name), "KIND", None)
        if not isinstance(kind, JobKind):
            raise KindModuleInvalid(f"{module_name} has no KIND = JobKind(...)")
        if not issubclass(kind.spec, JsonBody):
            # Its checks of JSON types and of U+0000 keep stored params readable (db/specs.py).
            raise KindModuleInvalid(f"{module_name}: the spec of kind {kind.name!r} must be a db.specs.JsonBody")
        known = _kinds.setdefault(kind.name, kind)
        if known is not kind:
            raise KindModuleInvalid(f"{module_name} defines kind {kind.name!r}, which another module defined")
    return job_kinds()


def job_kinds() -> Mapping[str, JobKind]:
    if not _kinds:
        load_kind_modules()
    return MappingProxyType(_kinds)


def list_kind_names(schema: dict[str, Any]) -> None:
    """The json_schema_extra of a field that names a kind: its schema lists the kinds
    known when the schema is made (after start-up loaded them all)."""
    schema["enum"] = list(job_kinds())


def find_kind(name: str) -> JobKind | None:
    """The kind of this name; None for one this process does not know (a row of a
    kind whose module is not loaded here)."""
    return job_kinds().get(name)


def defaulted_model_kinds() -> list[ModelKind]:
    """The registry kinds that jobs run on a default model of when they name none
    (GET /api/v1/models' `defaults`); a kind whose params choose its model has none."""
    return list(dict.fromkeys(kind.model_kind for kind in job_kinds().values() if kind.model_param is None))


def job_queues() -> list[str]:
    """Every kind's queue, which `genq worker` takes by default (webhook deliveries
    have their own queue and process, `genq webhooks`)."""
    return list(dict.fromkeys(kind.queue for kind in job_kinds().values()))


def kinds_on_queue(queue: str) -> list[str]:
    """The kinds whose jobs a wake-up message on this queue may claim."""
    return [kind.name for kind in job_kinds().values() if kind.queue == queue]
