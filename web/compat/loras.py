"""AUTOMATIC1111's LoRAs: `<lora:NAME:WEIGHT>` in a prompt, which A1111 takes out
of the text and applies. Here NAME is one of the caller's adapters (GET
/sdapi/v1/loras lists them), trained on the job's model; each becomes one of the
job's `adapters` with WEIGHT as its scale. Never another owner's adapter."""

import re
from typing import Any

from sqlalchemy.orm import Session

from db.adapters import adapter_named
from db.models import Adapter
from db.refusals import FieldError, SubmissionRejected

# <lora:NAME>, <lora:NAME:WEIGHT>, and A1111's further multipliers (<lora:NAME:1:unet=0.5>), not read.
LORA_TAG = re.compile(r"<lora:(?P<name>[^:>]+)(?::(?P<weight>[^:>]*))?(?::[^>]*)?>")
DEFAULT_WEIGHT = 1.0


def _weight(text: str | None) -> float:
    if not text:
        return DEFAULT_WEIGHT
    try:
        return float(text)
    except ValueError:
        message = f"the weight of <lora:...:{text}> is not a number"
        raise SubmissionRejected("validation_error", [FieldError("prompt", message)]) from None


def lora_params(session: Session, prompt: Any, *, owner: str, model: Any) -> dict[str, Any]:
    """The params a prompt's LoRA tags stand for: the prompt without them and the
    adapters; {} when the prompt names none (or is no text: the spec refuses it).
    A name given twice is refused by the spec (it names an adapter more than once)."""
    if not isinstance(prompt, str):
        return {}
    tags = list(LORA_TAG.finditer(prompt))
    if not tags:
        return {}
    adapters = []
    for tag in tags:
        name, weight = tag["name"].strip(), _weight(tag["weight"])
        adapter = adapter_named(session, name, owner=owner, base_model=model) if isinstance(model, str) else None
        if adapter is None:
            message = f"no LoRA named {name!r} for model {model!r}; see GET /sdapi/v1/loras"
            raise SubmissionRejected("unknown_lora", [FieldError("prompt", message)])
        adapters.append({"id": str(adapter.id), "scale": weight})
    return {"prompt": LORA_TAG.sub("", prompt).strip(), "adapters": adapters}


def lora_json(adapter: Adapter) -> dict[str, Any]:
    """An adapter as an entry of A1111's LoRA list."""
    return {
        "name": adapter.name,
        "alias": adapter.name,
        "path": f"genq/adapters/{adapter.id}",
        "metadata": {"ss_sd_model_name": adapter.base_model, "ss_network_dim": str(adapter.rank)},
        "genq_adapter_id": str(adapter.id),
    }
