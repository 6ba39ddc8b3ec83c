"""Adapters: LoRA weights a finetune job trained, usable by its owner's later
generate jobs on the same base model. Every read is scoped by owner: another
owner's adapter is a missing one.
"""

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Adapter
from db.paging import newest_first


def get_adapter(session: Session, adapter_id: uuid.UUID, *, owner: str) -> Adapter | None:
    """The adapter, or None when it does not exist or is another owner's."""
    return session.scalars(select(Adapter).where(Adapter.id == adapter_id, Adapter.owner == owner)).one_or_none()


def adapter_named(session: Session, name: str, *, owner: str, base_model: str) -> Adapter | None:
    """The owner's newest adapter of that name trained on base_model (names may repeat)."""
    query = select(Adapter).where(Adapter.owner == owner, Adapter.name == name, Adapter.base_model == base_model)
    return session.scalars(query.order_by(Adapter.created_at.desc(), Adapter.id.desc()).limit(1)).one_or_none()


def list_adapters(
    session: Session, *, owner: str, before: tuple[datetime, uuid.UUID] | None = None, limit: int = 20
) -> list[Adapter]:
    """Newest first; `before` is the (created_at, id) of the last adapter of the previous page."""
    query = select(Adapter).where(Adapter.owner == owner)
    return list(session.scalars(newest_first(query, Adapter, before=before, limit=limit)))
