"""Misconfiguration, as a new user meets it: every `genq` command, run for real as
a subprocess, checks its settings and what it talks to before it starts anything,
and refuses in one line on stderr (status 2) naming the variable with an example
value: no traceback, no password, nothing left behind."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli.preflight import example, url_without_password
from db.settings import Settings
from tests.support.cli_commands import leaf_commands
from tests.support.processes import REPO_ROOT
from tests.support.services import free_port

# Every command that reads settings, with the arguments it needs to get that far.
COMMANDS = [
    ["up"],
    ["web"],
    ["worker"],
    ["webhooks"],
    ["migrate"],
    ["models", "list"],
    ["keys", "create", "--owner", "alice"],
    ["keys", "list"],
    ["keys", "revoke", "gq_live_00000000"],
    ["keys", "retention", "alice"],
    ["queue", "status"],
    ["queue", "pause", "generate"],
    ["queue", "resume", "generate"],
]
# They write the offline models to the directory given and read no setting.
OFFLINE_BUILDERS = {
    ("models", "build-tiny"),
    ("models", "build-tiny-text"),
    ("models", "build-tiny-upscaler"),
    ("models", "build-tiny-speech"),
    ("models", "build-tiny-clip"),
    ("models", "build-random-inception"),
    ("models", "build-reference"),
}
PASSWORD = "s3cret-pw"


def run_genq(directory: Path, args: list[str], **variables: str) -> subprocess.CompletedProcess:
    """`genq ARGS` in `directory`, with these GENQ_* variables and no others."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GENQ_")}
    env.update(variables, PYTHONPATH=str(REPO_ROOT))
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=directory, env=env, capture_output=True, text=True, timeout=120
    )


def refusal(result: subprocess.CompletedProcess) -> str:
    """The one line a refused command printed, once it is known to be just that."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_the_commands_checked_here_are_every_command_that_reads_settings():
    assert set(leaf_commands()) == {
        tuple(args[: 2 if args[0] in ("models", "keys", "queue") else 1]) for args in COMMANDS
    } | (OFFLINE_BUILDERS)


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_every_command_refuses_a_malformed_setting_before_starting_anything(tmp_path, args):
    line = refusal(run_genq(tmp_path, args, GENQ_MAX_ATTEMPTS="many"))

    assert line.startswith("Error: GENQ_MAX_ATTEMPTS='many' is invalid: ")
    assert line.endswith("(e.g. GENQ_MAX_ATTEMPTS=3)")
    assert list(tmp_path.iterdir()) == []  # no database, no var/


@pytest.mark.parametrize("args", [["web"], ["worker"], ["webhooks"]], ids=" ".join)
def test_the_servers_refuse_to_start_without_a_broker(tmp_path, args):
    line = refusal(run_genq(tmp_path, args))

    assert "GENQ_BROKER_URL is not set" in line and "e.g. GENQ_BROKER_URL=redis://localhost:6379/0" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["up"], ["web"], ["worker"], ["webhooks"]], ids=" ".join)
def test_an_unreachable_broker_is_named_without_its_password(tmp_path, args):
    port = free_port()
    result = run_genq(tmp_path, args, GENQ_BROKER_URL=f"redis://:{PASSWORD}@127.0.0.1:{port}/0")

    line = refusal(result)
    assert line.startswith(f"Error: the broker at redis://:***@127.0.0.1:{port}/0 (GENQ_BROKER_URL) does not answer: ")
    assert PASSWORD not in result.stderr


@pytest.mark.parametrize("args", [["web"], ["worker"], ["migrate"], ["keys", "list"]], ids=" ".join)
def test_an_unreachable_database_is_named_without_its_password(tmp_path, redis_url, args):
    port = free_port()
    database_url = f"postgresql+psycopg://genq:{PASSWORD}@127.0.0.1:{port}/genq"
    result = run_genq(tmp_path, args, GENQ_DATABASE_URL=database_url, GENQ_BROKER_URL=redis_url)

    line = refusal(result)
    assert line.startswith(
        f"Error: the database at postgresql+psycopg://genq:***@127.0.0.1:{port}/genq (GENQ_DATABASE_URL) does not answer: "
    )
    assert PASSWORD not in result.stderr


@pytest.mark.parametrize("args", [["web"], ["worker"], ["webhooks"], ["keys", "list"]], ids=" ".join)
def test_a_database_never_migrated_is_refused_with_what_to_run(tmp_path, redis_url, args):
    # The default database, SQLite in var/, as a first `genq web` before `genq migrate` finds it.
    line = refusal(run_genq(tmp_path, args, GENQ_BROKER_URL=redis_url))

    assert (
        line
        == "Error: the database at sqlite:///var/genq.db (GENQ_DATABASE_URL) is not migrated: run `genq migrate` first"
    )


def test_a_list_setting_that_is_not_json_is_named(tmp_path):
    line = refusal(run_genq(tmp_path, ["models", "list"], GENQ_HUB_MODELS="stable-diffusion-v1-5"))

    assert line == (
        'Error: GENQ_HUB_MODELS is not valid JSON (e.g. GENQ_HUB_MODELS=["stable-diffusion-v1-5/stable-diffusion-v1-5"])'
    )


def test_a_kind_module_that_does_not_load_is_named(tmp_path, redis_url):
    line = refusal(run_genq(tmp_path, ["worker"], GENQ_BROKER_URL=redis_url, GENQ_KIND_MODULES='["no_such_kinds"]'))

    assert (
        line
        == "Error: GENQ_KIND_MODULES: No module named 'no_such_kinds' (e.g. GENQ_KIND_MODULES=[\"mykinds.upscale\"])"
    )


def test_an_unknown_storage_url_is_named(tmp_path, redis_url):
    line = refusal(run_genq(tmp_path, ["web"], GENQ_BROKER_URL=redis_url, GENQ_STORAGE_URL="ftp://files"))

    assert "GENQ_STORAGE_URL" in line and "'ftp://files'" in line and "e.g. GENQ_STORAGE_URL=file://var/objects" in line


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_settings_example_is_a_value_it_accepts(monkeypatch, name):
    shown = example(name)
    variable, _, value = shown.removeprefix("e.g. ").partition("=")
    assert variable == f"GENQ_{name.upper()}" and value not in ("", "None", "[]", "{}")
    monkeypatch.setenv(variable, value)

    parsed = getattr(Settings(_env_file=None), name)
    assert parsed == (json.loads(value) if value[0] in "[{" else parsed)


def test_a_urls_password_is_masked_and_the_rest_kept():
    assert (
        url_without_password("postgresql+psycopg://genq:pw@db:5432/genq")
        == "postgresql+psycopg://genq:***@db:5432/genq"
    )
    assert url_without_password("redis://:pw@redis:6379/0") == "redis://:***@redis:6379/0"
    assert url_without_password("redis://redis:6379/0") == "redis://redis:6379/0"
    assert url_without_password("sqlite:///var/genq.db") == "sqlite:///var/genq.db"
