"""Which weight files a worker agrees to load: .safetensors only. Pickle-based
formats (.bin, .ckpt, .pt, .pth, .pkl) can run code while they load, so a model
directory that has weights only in those is refused before anything reads them.
Never unpickle a file here or anywhere in genq.
"""

from pathlib import Path

from worker.failures import JobFailure

PICKLE_SUFFIXES = frozenset({".bin", ".ckpt", ".pt", ".pth", ".pkl", ".pickle"})


def pickle_only_weights(directory: Path) -> list[str]:
    """Relative paths of pickle-format weights in folders (the model's own or a
    component's) with no .safetensors file beside them."""
    found = []
    for folder in [directory, *sorted(path for path in directory.iterdir() if path.is_dir())]:
        files = [path for path in folder.iterdir() if path.is_file()]
        if any(path.suffix == ".safetensors" for path in files):
            continue  # diffusers loads the safetensors file and ignores the rest
        found += sorted(str(path.relative_to(directory)) for path in files if path.suffix in PICKLE_SUFFIXES)
    return found


def refuse_pickle_weights(model_name: str, source: str) -> None:
    """Raise JobFailure("unsafe_weights") for a local model directory with pickle-only weights.

    Hub ids are left to from_pretrained(use_safetensors=True), which refuses them too."""
    directory = Path(source)
    if not directory.is_dir():
        return
    unsafe = pickle_only_weights(directory)
    if unsafe:
        raise JobFailure(
            "unsafe_weights",
            f"model {model_name!r} has weights only in pickle formats ({', '.join(unsafe[:3])}); "
            "genq loads .safetensors only: convert them (safetensors.torch.save_file)",
        )
