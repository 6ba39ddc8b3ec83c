"""The `genq` commands as click knows them, for tests that must cover every one."""

import click

from cli import main


def leaf_commands(group: click.Group = main, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], click.Command]:
    """Each command that runs something, by its path under `genq` (("keys", "create"), ...)."""
    found: dict[tuple[str, ...], click.Command] = {}
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found |= leaf_commands(command, (*path, name))
        else:
            found[(*path, name)] = command
    return found
