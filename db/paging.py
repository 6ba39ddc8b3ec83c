"""Newest-first pages of an owner's rows (jobs, datasets, adapters), keyed by
(created_at, id) so a page boundary is stable while rows are added."""

import uuid
from datetime import datetime

from sqlalchemy import Select

from db.models import Adapter, Dataset, Job

# The models whose rows are paged.
Paged = type[Job] | type[Dataset] | type[Adapter]


def newest_first(query: Select, model: Paged, *, before: tuple[datetime, uuid.UUID] | None, limit: int) -> Select:
    """`query` ordered by (created_at, id) descending, after the `before` row, at most `limit` rows."""
    query = query.order_by(model.created_at.desc(), model.id.desc()).limit(limit)
    if before is None:
        return query
    created_at, row_id = before
    return query.where((model.created_at < created_at) | ((model.created_at == created_at) & (model.id < row_id)))
