"""Adapters over the API: the owner's trained LoRA adapters, read one, list and
delete. They are made by finetune jobs (worker), never through this API."""

import uuid
from typing import Any

from db import contract
from db.adapters import get_adapter, list_adapters
from db.deletion import delete_adapter
from web.api import api
from web.api.deleting import delete_owned
from web.api.errors import ApiError
from web.api.listing import PageQuery, owned_page, query_of
from web.api.operations import DELETED, Answer, error, operation
from web.api.serializers import serialize_adapter
from web.context import current_owner, db_session

NO_ADAPTER = error("no such adapter, or another owner's (the same answer for both)")


@api.get("/adapters/<uuid:adapter_id>")
@operation("Read an adapter", {200: Answer("the adapter", contract.Adapter), 404: NO_ADAPTER})
def get_adapter_by_id(adapter_id: uuid.UUID) -> dict[str, Any]:
    adapter = get_adapter(db_session(), adapter_id, owner=current_owner())
    if adapter is None:
        raise ApiError(404, "not_found", "no such adapter")
    return serialize_adapter(adapter).model_dump(mode="json")


@api.delete("/adapters/<uuid:adapter_id>")
@operation(
    "Delete an adapter and its weights (its training job stays, the artifact expired)",
    {204: DELETED, 404: NO_ADAPTER, 409: error("adapter_in_use: a queued or running job uses it")},
)
def delete_adapter_by_id(adapter_id: uuid.UUID) -> tuple[str, int]:
    """204 once the adapter and its weights are gone (its training job stays, the
    weights artifact expired); 409 while a queued or running job uses it."""
    return delete_owned("adapter", delete_adapter, adapter_id, "a queued or running job uses the adapter")


@api.get("/adapters")
@operation(
    "List own adapters (trained by finetune jobs), newest first",
    {
        200: Answer("a page of adapters", contract.AdapterPage),
        400: error("a cursor this API did not hand out"),
        422: error("an invalid limit"),
    },
    query=PageQuery,
)
def list_all_adapters() -> dict[str, Any]:
    page = owned_page(list_adapters, query_of(PageQuery))
    adapters = [serialize_adapter(adapter) for adapter in page.rows]
    return contract.AdapterPage(adapters=adapters, next_cursor=page.next_cursor).model_dump(mode="json")
