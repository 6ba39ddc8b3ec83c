"""Counting the SQL statements a piece of code runs, on every engine of this
process (the test's own sessions and the app's): bounds on statements per page
keep a list from reading per row."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import event
from sqlalchemy.engine import Engine


@dataclass
class Statements:
    executed: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.executed)


@contextmanager
def counted_statements() -> Iterator[Statements]:
    statements = Statements()

    def count(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001 (the event's signature)
        statements.executed.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", count)
