"""The API does what its OpenAPI document says, checked by schemathesis's own CLI
with every check it has (`--checks all`) against the production shape: `genq web`
(gunicorn) and a real worker on Postgres, Redis and S3. A fixed seed makes a run
repeatable; the ids of a finished job (with an image), an upload, a dataset and
an adapter of the key's owner are given to it as dictionaries, so every operation
is reached with ids that exist as well as with ones that do not."""

import json
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
from tests.support.processes import REPO_ROOT, running_web
from tests.support.uploads import image_bytes

SEED = 2026
EXAMPLES_PER_OPERATION = 25
# Half the cases name an object that exists; the rest keep schemathesis's own ids.
EXISTING_ID_PROBABILITY = 0.5
STREAM_SECONDS = 2.0


def make_fuzzer_key(settings) -> str:
    sessions = make_session_factory(settings.database_url)
    with sessions() as session:
        _key, raw_key = create_api_key(
            session, owner="fuzzer", limits=KeyLimits(requests_per_minute=1_000_000, max_active_jobs=1_000_000)
        )
        session.commit()
    sessions.kw["bind"].dispose()
    return raw_key


def existing_objects(web_url: str, key: str, settings) -> dict[str, list[str]]:
    """Objects of the key's owner, by the path parameter that names them: jobs that
    succeeded (with an image), wait queued and were canceled, an upload, a dataset, an
    adapter; and under `deletable_<name>` another of each for the DELETE operations,
    so that deleting one leaves the others to the operations after it."""
    headers = auth_headers(key)
    tiny = {"prompt": "a lighthouse", "width": 64, "height": 64, "steps": 2, "seed": 1}
    succeeded = submit(web_url, tiny, key=key)["id"]
    assert wait_until_finished(web_url, succeeded, key=key)["status"] == "succeeded"
    sessions = make_session_factory(settings.database_url)
    with sessions() as session:
        adapters = [
            str(insert_adapter(session, owner="fuzzer", base_model="tiny-sd", storage_key=f"adapters/{n}").id)
            for n in range(2)
        ]
        # From here on jobs wait in paused queues: the worker is not held for minutes
        # by the generated jobs at the largest size and step count.
        for kind in job_kinds():
            pause_queue(session, kind, by="fuzzer")
        session.commit()
    sessions.kw["bind"].dispose()
    queued, canceled, deletable = (submit(web_url, tiny, key=key)["id"] for _ in range(3))
    for job_id in (canceled, deletable):
        assert requests.post(f"{web_url}/api/v1/jobs/{job_id}/cancel", headers=headers, timeout=10).ok
    uploads = [_created(web_url, "uploads", headers, files={"file": ("a.png", image_bytes((16, 16)), "image/png")})]
    uploads.append(_created(web_url, "uploads", headers, files={"file": ("b.png", image_bytes((8, 8)), "image/png")}))
    pictures = [("files", (f"{index}.png", image_bytes((16, 16)), "image/png")) for index in range(2)]
    datasets = [_created(web_url, "datasets", headers, files=pictures) for _ in range(2)]
    return {
        "job_id": [succeeded, queued, canceled],
        "upload_id": uploads[:1],
        "dataset_id": datasets[:1],
        "adapter_id": adapters[:1],
        "index": [0],  # the succeeded job's one image
        # A queued job's event stream stays open: a stream is read of finished jobs only.
        "finished_job_id": [succeeded, canceled],
        "deletable_job_id": [deletable],
        "deletable_upload_id": uploads[1:],
        "deletable_dataset_id": datasets[1:],
        "deletable_adapter_id": adapters[1:],
    }


def _created(web_url: str, collection: str, headers: dict, files) -> str:
    response = requests.post(f"{web_url}/api/v1/{collection}", files=files, headers=headers, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def schemathesis_config(key: str, objects: dict[str, list[str]]) -> str:
    """Every path parameter names an existing object in EXISTING_ID_PROBABILITY of the
    cases; a DELETE operation's names its deletable one."""

    def binding(name: str, dictionary: str) -> str:
        return f'"path.{name}" = {{ dictionary = "{dictionary}", probability = {EXISTING_ID_PROBABILITY} }}'

    shared = [name for name in objects if not name.startswith(("deletable_", "finished_"))]
    lines = [
        f'headers = {{ Authorization = "Bearer {key}" }}',
        'hooks = "tests.support.schemathesis_hooks"',
        f"parameters = {{ {', '.join(binding(name, name) for name in shared)} }}",
        "",
        "[dictionaries]",
        *(f"{name} = {{ values = {json.dumps(values)} }}" for name, values in objects.items()),
    ]
    for collection, name in (
        ("jobs", "job_id"),
        ("uploads", "upload_id"),
        ("datasets", "dataset_id"),
        ("adapters", "adapter_id"),
    ):
        lines += ["", "[[operations]]", f'include-name = "DELETE /{collection}/{{{name}}}"']
        lines += [f"parameters = {{ {binding(name, f'deletable_{name}')} }}"]
    lines += ["", "[[operations]]", 'include-name = "GET /jobs/{job_id}/events"']
    lines += [f"parameters = {{ {binding('job_id', 'finished_job_id')} }}"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def short_streams_web(platform, settings, tmp_path):
    """Another `genq web` beside the platform's, on its database, broker and storage,
    whose event streams close after STREAM_SECONDS: a stream of a waiting job stays
    open (with keep-alives, so no read times out) for GENQ_EVENT_STREAM_SECONDS, and
    schemathesis opens streams of the jobs it submits."""
    with running_web(settings.model_copy(update={"event_stream_seconds": STREAM_SECONDS}), tmp_path / "web.log") as url:
        yield url


@pytest.mark.timeout(900)
def test_schemathesis_with_every_check_passes_against_the_running_platform(short_streams_web, settings, tmp_path):
    platform = short_streams_web
    key = make_fuzzer_key(settings)
    config = tmp_path / "schemathesis.toml"
    config.write_text(schemathesis_config(key, existing_objects(platform, key, settings)))
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
    output = tmp_path / "schemathesis.out"
    with output.open("w") as log:
        run = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, timeout=840, cwd=tmp_path, env=env)
    assert run.returncode == 0, output.read_text()[-25_000:]
