"""Collect, as wheels for the device machine's Python, what genq needs there and its
image lacks (`make bench-gpu-prepare`): genq's runtime dependencies and theirs,
at the versions installed here, less the packages of ops/bench/device_packages.txt.

The web stack's small pure-Python packages are carried even where the image has
them, so that Flask and its kin meet the versions they were tested with here;
the image's torch, transformers, numpy and the like are used as they are.
The wheels go to .whl/ (ignored by git), which the device command carries:
  python -m ops.bench.gpu_prepare [--python-version 3.12] [--dest .whl]
"""

import argparse
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[2]
DEVICE_PACKAGES = Path(__file__).with_name("device_packages.txt")
# Flask's own dependencies and pydantic's typing helpers: carried whatever the
# image holds (a few hundred kB), since an older one there would stop the web.
ALWAYS_CARRIED = {"werkzeug", "click", "itsdangerous", "blinker", "jinja2", "markupsafe", "typing-extensions"}
PLATFORMS = [
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_24_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python-version", default="3.12")
    parser.add_argument("--dest", type=Path, default=REPO_ROOT / ".whl")
    args = parser.parse_args()
    pins = carried_pins(args.python_version)
    args.dest.mkdir(parents=True, exist_ok=True)
    for stale in args.dest.glob("*.whl"):
        stale.unlink()
    platforms = [option for platform in PLATFORMS for option in ("--platform", platform)]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
        + ["--python-version", args.python_version, "--implementation", "cp", *platforms]
        + ["--dest", str(args.dest), *pins],
        check=True,
    )
    wheels = sorted(args.dest.glob("*.whl"))
    size = sum(wheel.stat().st_size for wheel in wheels)
    print(f"{len(wheels)} wheels, {size / 2**20:.1f} MiB, in {args.dest}: {', '.join(pins)}")


def carried_pins(python_version: str) -> list[str]:
    """name==version of each package to carry: genq's runtime dependency tree
    (markers evaluated for Linux and python_version), as installed here."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    environment = {**default_environment(), "python_version": python_version, "sys_platform": "linux"}
    image = {canonicalize_name(line) for line in DEVICE_PACKAGES.read_text().split() if not line.startswith("#")}
    skipped = image - ALWAYS_CARRIED
    seen: set[str] = set()
    pending = [Requirement(line) for line in project["dependencies"]]
    pins = []
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in seen or name in skipped:
            continue
        seen.add(name)
        distribution = metadata.distribution(name)
        pins.append(f"{name}=={distribution.version}")
        for line in distribution.requires or []:
            needed = Requirement(line)
            extras = requirement.extras or {""}
            if needed.marker is None or any(needed.marker.evaluate({**environment, "extra": e}) for e in extras):
                pending.append(needed)
    return sorted(pins)


if __name__ == "__main__":
    main()
