"""Adapters over the API: the owner's trained LoRA adapters, read one, list and
delete. They are made by finetune jobs (worker), never through this API."""

import uuid
from typing import Any

from db.adapters import get_adapter, list_adapters
from db.deletion import delete_adapter
from web.api import api
from web.api.deleting import delete_owned
from web.api.errors import ApiError
from web.api.listing import owned_page
from web.api.serializers import serialize_adapter
from web.context import current_owner, db_session


@api.get("/adapters/<uuid:adapter_id>")
def get_adapter_by_id(adapter_id: uuid.UUID) -> dict[str, Any]:
    adapter = get_adapter(db_session(), adapter_id, owner=current_owner())
    if adapter is None:
        raise ApiError(404, "not_found", "no such adapter")
    return serialize_adapter(adapter)


@api.delete("/adapters/<uuid:adapter_id>")
def delete_adapter_by_id(adapter_id: uuid.UUID) -> tuple[str, int]:
    """204 once the adapter and its weights are gone (its training job stays, the
    weights artifact expired); 409 while a queued or running job uses it."""
    return delete_owned("adapter", delete_adapter, adapter_id, "a queued or running job uses the adapter")


@api.get("/adapters")
def list_all_adapters() -> dict[str, Any]:
    page = owned_page(list_adapters)
    return {"adapters": [serialize_adapter(adapter) for adapter in page.rows], "next_cursor": page.next_cursor}
