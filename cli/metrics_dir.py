"""prometheus-client's multiprocess mode for a command whose requests or jobs run in
forked children (gunicorn's workers, Celery's pool): each child writes its samples
to files in PROMETHEUS_MULTIPROC_DIR and whoever serves /metrics sums them. The
variable must be set before anything imports prometheus_client (it picks how it
stores values at import), so the commands enter this first."""

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def multiprocess_metrics(name: str) -> Iterator[Path]:
    """A directory of this command's own for its children's samples, removed when it
    ends; one the operator gave in PROMETHEUS_MULTIPROC_DIR (a Kubernetes emptyDir)
    is emptied first instead, as samples of an earlier run's processes must not count."""
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before its multiprocess directory was set")
    given = os.environ.get(MULTIPROC_DIR_VARIABLE)
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
        yield directory
        return
    directory = Path(tempfile.mkdtemp(prefix=f"genq-{name}-metrics-"))
    os.environ[MULTIPROC_DIR_VARIABLE] = str(directory)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)
