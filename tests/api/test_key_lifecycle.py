"""A key's life through the real `genq keys` command: create (printed once), use,
list (never the key), revoke, 401 from then on. The database holds the prefix
and the SHA-256, and the raw key appears in no column of any table."""

import hashlib
import subprocess
import sys

from sqlalchemy import select

from db.accounts import PREFIX_LENGTH
from db.models import ApiKey, Base, Owner
from tests.support.processes import REPO_ROOT, settings_env


def genq(settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env=settings_env(settings),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def every_stored_text(session) -> str:
    """Every value of every row of every table, as text."""
    values = []
    for table in Base.metadata.sorted_tables:
        for row in session.execute(select(table)):
            values.extend(str(value) for value in row)
    return "\n".join(values)


def test_a_key_is_created_used_listed_and_revoked(settings, anonymous_client, session):
    created = genq(settings, "keys", "create", "--owner", "alice", "--name", "laptop", "--max-active-jobs", "5")
    assert created.returncode == 0, created.stderr
    raw_key = created.stdout.strip()
    assert raw_key.startswith("gq_live_") and len(raw_key) > 50
    assert "cannot be shown again" in created.stderr

    headers = {"Authorization": f"Bearer {raw_key}"}
    submitted = anonymous_client.post("/api/v1/jobs", json={"params": {"prompt": "a fox"}}, headers=headers)
    assert submitted.status_code == 202

    key = session.scalars(select(ApiKey)).one()
    assert (key.owner, key.name, key.max_active_jobs) == ("alice", "laptop", 5)
    assert raw_key.startswith(key.prefix)
    assert key.key_hash == hashlib.sha256(raw_key.encode()).hexdigest()
    assert session.get(Owner, "alice").webhook_secret
    stored = every_stored_text(session)
    secret = raw_key[PREFIX_LENGTH + 1 :]  # after "gq_live_<prefix>_"; it may hold "_" itself
    assert raw_key not in stored and secret not in stored

    listed = genq(settings, "keys", "list")
    assert listed.returncode == 0 and key.prefix in listed.stdout and "alice\tlaptop" in listed.stdout
    assert raw_key not in listed.stdout and raw_key not in listed.stderr

    revoked = genq(settings, "keys", "revoke", key.prefix)
    assert revoked.returncode == 0, revoked.stderr
    refused = anonymous_client.get("/api/v1/jobs", headers=headers)
    assert refused.status_code == 401 and refused.json["error"]["code"] == "unauthorized"
    assert genq(settings, "keys", "revoke", key.prefix).returncode != 0  # already revoked


def test_an_invalid_owner_name_is_refused(settings):
    result = genq(settings, "keys", "create", "--owner", "no spaces please")
    assert result.returncode == 2 and "owner name" in result.stderr
