"""An owner's retention through the real `genq keys retention` command: shown with
where each period comes from, overridden (a number or `keep`), put back to the
default; a missing owner or a bad period is refused. The sweep reads what it
stores (tests/db/test_retention.py)."""

from db.models import Owner
from tests.api.test_key_lifecycle import genq


def shown(output: str) -> dict[str, tuple[str, str]]:
    return {name: (value, origin) for name, value, origin in (line.split("\t") for line in output.splitlines())}


def test_an_owners_retention_is_shown_overridden_and_reset(settings, session):
    assert genq(settings, "keys", "create", "--owner", "alice").returncode == 0

    before = genq(settings, "keys", "retention", "alice")
    changed = genq(settings, "keys", "retention", "alice", "--result-days", "2", "--job-days", "keep")
    session.expire_all()
    stored = session.get(Owner, "alice").retention
    reset = genq(settings, "keys", "retention", "alice", "--result-days", "default")

    assert before.returncode == 0, before.stderr
    assert shown(before.stdout) == {
        "result_days": ("keep", "default"),
        "checkpoint_hours": ("24", "default"),
        "upload_days": ("keep", "default"),
        "job_days": ("keep", "default"),
    }
    assert changed.returncode == 0, changed.stderr
    assert shown(changed.stdout)["result_days"] == ("2", "override")
    assert shown(changed.stdout)["job_days"] == ("keep", "override")
    assert stored == {"result_days": 2.0, "job_days": None}
    assert shown(reset.stdout)["result_days"] == ("keep", "default")
    session.expire_all()
    assert session.get(Owner, "alice").retention == {"job_days": None}


def test_a_missing_owner_or_a_bad_period_is_refused(settings):
    missing = genq(settings, "keys", "retention", "nobody", "--result-days", "3")
    negative = genq(settings, "keys", "retention", "nobody", "--result-days", "-1")
    word = genq(settings, "keys", "retention", "nobody", "--upload-days", "soon")

    assert missing.returncode == 2 and "no owner 'nobody'" in missing.stderr
    assert negative.returncode == 2 and "must be 0 or more" in negative.stderr
    assert word.returncode == 2 and "'soon' is not a number" in word.stderr
