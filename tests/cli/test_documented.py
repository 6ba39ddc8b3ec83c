"""Every `genq` command and each of its options is in the README, on a line that
names the command, so that a new one cannot go undocumented."""

from pathlib import Path

import click
import pytest

from tests.support.cli_commands import leaf_commands

README_LINES = (Path(__file__).resolve().parents[2] / "README.md").read_text().splitlines()
COMMANDS = list(leaf_commands().items())


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(path) for path, _ in COMMANDS])
def test_the_readme_shows_the_command_with_each_of_its_options(path, command):
    invocation = "genq " + " ".join(path)
    lines = [line for line in README_LINES if f"{invocation} " in line or line.endswith(invocation)]
    assert lines, f"the README never shows {invocation}"
    for option in command.params:
        if isinstance(option, click.Option):
            [name] = [flag for flag in option.opts if flag.startswith("--")]
            assert any(name in line for line in lines), f"the README never shows {invocation} {name}"
