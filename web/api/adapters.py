"""Adapters over the API: the owner's trained LoRA adapters, read one and list.
They are made by finetune jobs (worker), never through this API."""

import uuid
from typing import Any

from db.adapters import get_adapter, list_adapters
from web.api import api
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


@api.get("/adapters")
def list_all_adapters() -> dict[str, Any]:
    page = owned_page(list_adapters)
    return {"adapters": [serialize_adapter(adapter) for adapter in page.rows], "next_cursor": page.next_cursor}
