"""The API does what its OpenAPI document says, checked by schemathesis's own CLI
with every check it has (`--checks all`) against the production shape: `genq web`
(gunicorn) and a real worker on Postgres, Redis and S3. A fixed seed makes a run
repeatable; the ids of a finished job (with an image), an upload, a dataset and
an adapter of the key's owner are given to it as dictionaries, so every operation
is reached with ids that exist as well as with ones that do not."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from db.accounts import KeyLimits, create_api_key
from db.kinds import job_kinds
from db.queue_admin import pause_queue
from db.session import make_session_factory
from tests.support.adapters import insert_adapter
from tests.support.http import auth_headers, submit, wait_until_finished
from tests.support.processes import REPO_ROOT
from tests.support.uploads import image_bytes

SEED = 2026
EXAMPLES_PER_OPERATION = 25
# Half the cases name an object that exists; the rest keep schemathesis's own ids.
EXISTING_ID_PROBABILITY = 0.5


def make_fuzzer_key(settings) -> str:
    sessions = make_session_factory(settings.database_url)
    with sessions() as session:
        _key, raw_key = create_api_key(
            session, owner="fuzzer", limits=KeyLimits(requests_per_minute=1_000_000, max_active_jobs=1_000_000)
        )
        session.commit()
    sessions.kw["bind"].dispose()
    return raw_key


def existing_objects(web_url: str, key: str, settings) -> dict[str, str]:
    """One finished job with an image, an upload, a dataset and an adapter of the key's owner: their ids."""
    job = submit(web_url, {"prompt": "a lighthouse", "width": 64, "height": 64, "steps": 2, "seed": 1}, key=key)
    assert wait_until_finished(web_url, job["id"], key=key)["status"] == "succeeded"
    headers = auth_headers(key)
    upload = requests.post(
        f"{web_url}/api/v1/uploads", files={"file": ("a.png", image_bytes((16, 16)), "image/png")}, headers=headers
    )
    files = [("files", (f"{index}.png", image_bytes((16, 16)), "image/png")) for index in range(2)]
    dataset = requests.post(f"{web_url}/api/v1/datasets", files=files, headers=headers)
    assert upload.status_code == dataset.status_code == 201, (upload.text, dataset.text)
    sessions = make_session_factory(settings.database_url)
    with sessions() as session:
        adapter = insert_adapter(session, owner="fuzzer", base_model="tiny-sd", storage_key="adapters/fuzzed")
        adapter_id = str(adapter.id)
        # The fuzzer's own jobs wait in paused queues: the worker is not held for
        # minutes by generated jobs at the largest size and step count.
        for kind in job_kinds():
            pause_queue(session, kind, by="fuzzer")
        session.commit()
    sessions.kw["bind"].dispose()
    return {
        "job_id": job["id"],
        "upload_id": upload.json()["id"],
        "dataset_id": dataset.json()["id"],
        "adapter_id": adapter_id,
    }


def schemathesis_config(web_url: str, key: str, ids: dict[str, str]) -> str:
    lines = [
        f'headers = {{ Authorization = "Bearer {key}" }}',
        'hooks = "tests.support.schemathesis_hooks"',
        "",
        "[dictionaries]",
    ]
    lines += [f'{name} = {{ values = ["{value}"] }}' for name, value in ids.items()]
    lines += ["index = { values = [0] }", "", "[parameters]"]
    lines += [
        f'"path.{name}" = {{ dictionary = "{name}", probability = {EXISTING_ID_PROBABILITY} }}'
        for name in [*ids, "index"]
    ]
    return "\n".join(lines) + "\n"


@pytest.mark.timeout(900)
def test_schemathesis_with_every_check_passes_against_the_running_platform(platform, settings, tmp_path):
    key = make_fuzzer_key(settings)
    ids = existing_objects(platform, key, settings)
    config = tmp_path / "schemathesis.toml"
    config.write_text(schemathesis_config(platform, key, ids))
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(config),
        "run",
        f"{platform}/api/v1/openapi.json",
        "--checks",
        "all",
        "--seed",
        str(SEED),
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "GENQ_FUZZ_WEBHOOK_URL": "http://127.0.0.1:9/hook"}
    run = subprocess.run(command, capture_output=True, text=True, timeout=840, cwd=tmp_path, env=env)
    (tmp_path / "schemathesis.out").write_text(run.stdout + run.stderr)
    assert run.returncode == 0, run.stdout[-20_000:] + run.stderr[-5_000:]
