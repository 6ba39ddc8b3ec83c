"""Each owner's AUTOMATIC1111 settings (GET/POST /sdapi/v1/options): the image
model their /sdapi/v1 calls use when a call names none. One row per owner, read
and written only for that owner; the caller commits."""

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.models import A1111Options, utcnow


def chosen_checkpoint(session: Session, *, owner: str) -> str | None:
    """The model the owner last chose, or None when they never chose one."""
    return session.scalars(select(A1111Options.sd_model_checkpoint).where(A1111Options.owner == owner)).one_or_none()


def choose_checkpoint(session: Session, *, owner: str, model: str) -> None:
    """Remember the owner's model: one statement, so concurrent choices of one owner
    never collide on the row's insert (the last one wins)."""
    # The two backends genq runs on; both spell the upsert the same way.
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    now = utcnow()
    statement = insert(A1111Options).values(owner=owner, sd_model_checkpoint=model, updated_at=now)
    chosen = {"sd_model_checkpoint": model, "updated_at": now}
    session.execute(statement.on_conflict_do_update(index_elements=[A1111Options.owner], set_=chosen))
