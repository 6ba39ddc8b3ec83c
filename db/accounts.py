"""Owners and their API keys: create, authenticate, list, revoke.

A key is shown once, when it is created; the database keeps only its visible
prefix and the SHA-256 of the whole key. Never store, log or return a raw key.
"""

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from db.models import ApiKey, Owner, utcnow
from db.session import rows_changed

KEY_SCHEME = "gq_live_"
# Prefix = scheme + this many hex characters; it names the key in lists and logs.
PREFIX_HEX_CHARS = 8
PREFIX_LENGTH = len(KEY_SCHEME) + PREFIX_HEX_CHARS
SECRET_BYTES = 32
OWNER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
# last_used_at is a hint for people, not an audit log: one write a minute per key
# instead of one per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# Built once: every API call authenticates, and composing the statement cost more
# than running it.
_KEY_BY_PREFIX = select(ApiKey).where(ApiKey.prefix == bindparam("prefix"))


@dataclass(frozen=True)
class KeyLimits:
    """Per-key overrides of the settings' defaults; None keeps the default."""

    requests_per_minute: int | None = None
    max_active_jobs: int | None = None
    daily_image_budget: int | None = None


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def ensure_owner(session: Session, name: str) -> Owner:
    """The owner called `name`, created (with a fresh webhook secret) if missing."""
    if not OWNER_NAME.fullmatch(name):
        raise ValueError("an owner name is 1-64 letters, digits and _.@- starting with a letter or digit")
    owner = session.get(Owner, name)
    if owner is None:
        owner = Owner(name=name, webhook_secret=secrets.token_urlsafe(32))
        session.add(owner)
        session.flush()
    return owner


def create_api_key(
    session: Session, *, owner: str, name: str | None = None, limits: KeyLimits = KeyLimits(), admin: bool = False
) -> tuple[ApiKey, str]:
    """A new key for `owner` (created if missing; admin: it also administers the
    queues); returns the row and the raw key, which exists nowhere else afterwards."""
    ensure_owner(session, owner)
    prefix = KEY_SCHEME + secrets.token_hex(PREFIX_HEX_CHARS // 2)
    raw_key = f"{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
    key = ApiKey(
        owner=owner,
        prefix=prefix,
        key_hash=hash_key(raw_key),
        name=name,
        requests_per_minute=limits.requests_per_minute,
        max_active_jobs=limits.max_active_jobs,
        daily_image_budget=limits.daily_image_budget,
        admin=admin,
    )
    session.add(key)
    session.flush()
    return key, raw_key


def key_prefix(raw_key: str) -> str:
    """The visible part of a key, safe to print: it names the key, it does not open anything."""
    return raw_key[:PREFIX_LENGTH]


def authenticate_key(session: Session, raw_key: str) -> ApiKey | None:
    """The live key this raw key is, or None for a malformed, unknown or revoked one.

    The row is found by the prefix; the hashes are compared in constant time so
    the answer's timing says nothing about how close a guess was."""
    prefix = key_prefix(raw_key)
    if not prefix.startswith(KEY_SCHEME):
        return None
    key = session.scalars(_KEY_BY_PREFIX, {"prefix": prefix}).one_or_none()
    if key is None or not hmac.compare_digest(key.key_hash, hash_key(raw_key)):
        return None
    return key if key.revoked_at is None else None


def get_live_key(session: Session, key_id: uuid.UUID) -> ApiKey | None:
    """The key a browser session was signed in with, unless it was revoked since."""
    return session.scalars(select(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))).one_or_none()


def newest_live_key(session: Session, owner: str) -> ApiKey | None:
    return session.scalars(
        select(ApiKey)
        .where(ApiKey.owner == owner, ApiKey.revoked_at.is_(None))
        .order_by(ApiKey.created_at.desc())
        .limit(1)
    ).first()


def record_key_use(session: Session, key: ApiKey) -> bool:
    """Move last_used_at forward when it is older than the resolution; True if it wrote."""
    now = utcnow()
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
        return False
    stale = ApiKey.last_used_at.is_(None) | (ApiKey.last_used_at < now - LAST_USED_RESOLUTION)
    changed = rows_changed(
        session,
        update(ApiKey)
        .where(ApiKey.id == key.id, stale)
        .values(last_used_at=now)
        .execution_options(synchronize_session=False),
    )
    return changed == 1


def list_api_keys(session: Session, *, owner: str | None = None) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.owner, ApiKey.created_at)
    if owner is not None:
        query = query.where(ApiKey.owner == owner)
    return list(session.scalars(query))


def revoke_api_key(session: Session, prefix: str) -> bool:
    """Revoke the key with this prefix; False if there is none or it was already revoked."""
    changed = rows_changed(
        session,
        update(ApiKey)
        .where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False),
    )
    return changed == 1
