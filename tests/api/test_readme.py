"""The README says what the code does: its job and models examples have the
fields the API answers with, and every default it states for a job's params is
the spec's (README and docs/design.md)."""

import json
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from db.kinds.finetune import FinetuneSpec
from db.kinds.generate import GenerateSpec
from db.kinds.textgen import TextgenSpec
from db.specs import random_seed

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
DESIGN = (ROOT / "docs" / "design.md").read_text()
# `name` (value), `name` (…, default value) or `name` (value; more words), over line breaks.
QUOTED_DEFAULT = re.compile(r"`(\w+)`\s+\((?:[^()`;]*,\s*default\s+)?(`?)([-\w.]+)\2[;:)]")
# design.md writes the names bare: name (value).
BARE_DEFAULT = re.compile(r"\b(\w+)\s+\((`?)([-\w.]+)\2[;:)]")


def paragraph(text: str, marker: str) -> str:
    [found] = [part for part in text.split("\n\n") if marker in part]
    return found


def json_block_after(marker: str) -> dict:
    after = README[README.index(marker) :]
    return json.loads(re.search(r"```json\n(.*?)```", after, re.S).group(1))


def stated_defaults(text: str, pattern: re.Pattern, spec: type[BaseModel]) -> dict[str, str]:
    return {name: value for name, _quote, value in pattern.findall(text) if name in spec.model_fields}


def assert_is_the_default(spec: type[BaseModel], name: str, stated: str) -> None:
    field = spec.model_fields[name]
    if stated == "required":
        assert field.is_required(), name
    elif stated == "random":
        assert field.default_factory is random_seed, name
    elif stated == "none":
        assert field.default is None and field.default_factory is None, name
    elif isinstance(field.default, str):
        assert stated == field.default, name
    else:
        assert float(stated) == float(field.default), f"{name}: stated {stated}, the spec says {field.default}"


# Every param's default is stated, but for those the README describes in words.
SPEC_PARAGRAPHS = [
    (FinetuneSpec, "train_dreambooth_lora.py`:", {"lora_alpha", "adapter_name"}),
    (TextgenSpec, "transformers' `generate()`", {"stop"}),
]


@pytest.mark.parametrize(
    ("spec", "marker", "in_words"), SPEC_PARAGRAPHS, ids=lambda value: getattr(value, "__name__", "")
)
def test_the_readme_states_every_default_of_the_params_as_the_spec_has_it(spec, marker, in_words):
    stated = stated_defaults(paragraph(README, marker), QUOTED_DEFAULT, spec)

    assert set(stated) | in_words == set(spec.model_fields)
    for name, value in stated.items():
        assert_is_the_default(spec, name, value)


def test_the_generate_defaults_the_readme_states_are_the_specs():
    stated = stated_defaults(paragraph(README, "`generate` params: `prompt`"), QUOTED_DEFAULT, GenerateSpec)

    assert {"steps", "guidance_scale"} <= set(stated)
    for name, value in stated.items():
        assert_is_the_default(GenerateSpec, name, value)


def test_the_design_notes_state_the_finetune_defaults_as_the_spec_has_them():
    stated = stated_defaults(paragraph(DESIGN, "Params (`db.kinds.finetune.FinetuneSpec`)"), BARE_DEFAULT, FinetuneSpec)

    assert {"max_train_steps", "checkpointing_steps", "lr_warmup_steps"} <= set(stated)
    for name, value in stated.items():
        assert_is_the_default(FinetuneSpec, name, value)


def keys_of(job: dict) -> dict[str, set[str]]:
    return {"job": set(job), "progress": set(job["progress"]), "params": set(job["params"])}


def test_the_readme_job_example_has_the_fields_of_a_submitted_job(client):
    example = json_block_after("The answer is `202 Accepted`")
    body = {
        "kind": "generate",
        "params": {"prompt": "a lighthouse", "width": 64, "height": 64, "steps": 10, "seed": 42},
    }

    job = client.post("/api/v1/jobs", json=body).json

    assert keys_of(example) == keys_of(job)
    assert example["params"] == job["params"]


def test_the_readme_models_example_is_what_the_api_answers_with_the_tiny_models(client):
    example = json_block_after("- `GET /api/v1/models`:")

    assert client.get("/api/v1/models").json == example
