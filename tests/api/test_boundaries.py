"""The web's import boundary: building the app and serving a request loads no
torch, diffusers, transformers or worker code (ops/Dockerfile.web ships without them)."""

import os
import subprocess
import sys

from tests.support.processes import REPO_ROOT, settings_env

PROBE = """
import os, sys
from web import create_app
response = create_app().test_client().get("/api/v1/models", headers={"Authorization": os.environ["PROBE_AUTHORIZATION"]})
assert response.status_code == 200, response.status_code
heavy = sorted(name for name in sys.modules if name.split(".")[0] in {"torch", "diffusers", "transformers", "worker"})
print(",".join(heavy))
"""


def test_the_web_app_never_imports_the_worker_side(settings, api_key):
    env = {**settings_env(settings), "PROBE_AUTHORIZATION": f"Bearer {api_key}"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == ""


ONE_MODULE = """
import sys
import web.submission
print(",".join(sorted(name for name in sys.modules if name.split(".")[:2] in (["web", "api"], ["web", "compat"], ["web", "pages"]))))
"""


def test_importing_one_web_module_does_not_import_the_whole_app():
    # create_app imports the blueprints (as Flask's tutorial does), so a module such
    # as web.submission can be imported, and tested, on its own.
    result = subprocess.run(
        [sys.executable, "-c", ONE_MODULE],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == ""
