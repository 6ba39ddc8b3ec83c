"""A worker process's local copies of adapter weights: diffusers' load_lora_weights
reads a file, the weights live in object storage.

Each process keeps its own directory (never shared with the parent that forked it
or a sibling, so one process's eviction cannot pull a file from under another's
load), holding the most recently used few files. Never imports web.
"""

import atexit
import os
import shutil
import tempfile
import uuid
from collections import OrderedDict
from collections.abc import Callable
from functools import cache
from pathlib import Path

# LoRA files are a few MB (rank 4 on SD 1.5: about 3 MB); a handful covers the
# adapters one worker switches between without refetching.
CACHED_FILES = 8


class AdapterFiles:
    """Adapter weights on local disk, named by adapter id (an adapter's weights never change)."""

    def __init__(self, directory: Path, capacity: int = CACHED_FILES) -> None:
        self.directory = directory
        self.capacity = capacity
        self._paths: OrderedDict[uuid.UUID, Path] = OrderedDict()  # least recently used first

    def path_for(self, adapter_id: uuid.UUID, download: Callable[[], bytes]) -> Path:
        """The local file of the adapter's weights, downloaded on first use."""
        if adapter_id in self._paths:
            self._paths.move_to_end(adapter_id)
            return self._paths[adapter_id]
        path = self.directory / f"{adapter_id}.safetensors"
        partial = path.with_name(f".{path.name}.partial")
        partial.write_bytes(download())
        partial.replace(path)  # atomic: an interrupted download leaves no half file behind
        self._paths[adapter_id] = path
        while len(self._paths) > self.capacity:
            _, evicted = self._paths.popitem(last=False)
            evicted.unlink(missing_ok=True)
        return path


@cache
def _files_of_process(pid: int) -> AdapterFiles:
    directory = Path(tempfile.mkdtemp(prefix=f"genq-adapters-{pid}-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return AdapterFiles(directory)


def process_adapter_files() -> AdapterFiles:
    """This process's adapter files, in a temporary directory removed when it exits.
    Keyed by pid: a child forked after the parent used it makes its own."""
    return _files_of_process(os.getpid())
