"""`genq keys create --admin` and `genq queue status|pause|resume` against the
configured database, as an administrator runs them."""

import pytest
from click.testing import CliRunner

from cli import main
from db.accounts import authenticate_key
from db.settings import get_settings


@pytest.fixture
def genq(settings, monkeypatch):
    monkeypatch.setenv("GENQ_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(main, list(args), catch_exceptions=False)
    get_settings.cache_clear()


def test_an_admin_key_is_made_and_listed_as_admin(genq, sessions):
    created = genq("keys", "create", "--owner", "ops", "--admin")

    assert created.exit_code == 0
    raw_key = created.stdout.strip()
    with sessions() as session:
        assert authenticate_key(session, raw_key).admin is True
    [row] = [line.split("\t") for line in genq("keys", "list", "--owner", "ops").stdout.splitlines()[1:]]
    assert (row[0], row[1], row[-1]) == (raw_key[:16], "ops", "yes")


def test_a_queue_is_paused_and_resumed_from_the_command_line(genq):
    def generate_row() -> list[str]:
        lines = genq("queue", "status").stdout.splitlines()
        assert lines[0].split("\t") == [
            "kind",
            "queue",
            "queued",
            "running",
            "oldest_queued_seconds",
            "paused",
            "workers",
        ]
        return next(line.split("\t") for line in lines[1:] if line.startswith("generate\t"))

    assert generate_row()[5] == "no"
    assert genq("queue", "pause", "generate").stdout == "generate: paused\n"
    assert generate_row()[5] == "yes"
    assert genq("queue", "resume", "generate").stdout == "generate: resumed\n"
    assert generate_row()[5] == "no"


def test_an_unknown_kind_is_named(genq):
    result = genq("queue", "pause", "nonsense")
    assert result.exit_code == 2
    assert "no job kind 'nonsense'" in result.output
