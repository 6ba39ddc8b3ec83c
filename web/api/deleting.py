"""The answer of the API's DELETE routes on adapters, datasets and uploads: one
behaviour for each (what is deleted, and when it is in use, is db/deletion.py's)."""

import uuid
from typing import Protocol

from sqlalchemy.orm import Session

from db.deletion import Deletion
from db.storage import Storage
from web.api.errors import ApiError
from web.context import current_owner, db_session, platform


class OwnedDeletion(Protocol):
    def __call__(self, session: Session, storage: Storage, row_id: uuid.UUID, /, *, owner: str) -> Deletion: ...


def delete_owned(thing: str, delete: OwnedDeletion, row_id: uuid.UUID, in_use: str) -> tuple[str, int]:
    """204 once the caller's `thing` is deleted and committed; 404 for a missing or
    another owner's one; 409 `<thing>_in_use` (saying `in_use`) while a job in flight names it."""
    session = db_session()
    outcome = delete(session, platform().storage, row_id, owner=current_owner())
    if outcome == "not_found":
        raise ApiError(404, "not_found", f"no such {thing}")
    if outcome == "in_use":
        raise ApiError(409, f"{thing}_in_use", in_use)
    session.commit()
    return "", 204
