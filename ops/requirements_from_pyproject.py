"""Print pyproject.toml's runtime dependencies, one per line, leaving out the
ones named on the command line (by distribution name).

ops/Dockerfile.web uses it to install the web without torch, diffusers,
transformers and accelerate, which the web never imports, while pyproject.toml
stays the one list of dependencies. Standard library only (Python >= 3.11).
"""

import re
import sys
import tomllib
from pathlib import Path


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main() -> None:
    pyproject, *excluded = sys.argv[1:]
    leave_out = {canonical(name) for name in excluded}
    dependencies = tomllib.loads(Path(pyproject).read_text())["project"]["dependencies"]
    for requirement in dependencies:
        name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement).group(1)
        if canonical(name) not in leave_out:
            print(requirement)
        else:
            leave_out.discard(canonical(name))
    if leave_out:
        # A name that matched nothing is a typo or a renamed dependency: fail loudly.
        sys.exit(f"not among the dependencies: {', '.join(sorted(leave_out))}")


if __name__ == "__main__":
    main()
