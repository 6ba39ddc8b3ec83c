"""Read Server-Sent Events the way EventSource does: blank-line separated
messages of `id:`, `event:`, `data:` and `retry:` fields; `:` lines are comments."""

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServerSentEvent:
    type: str
    data: Any
    id: int | None = None


def parse_events(lines: Iterable[str]) -> Iterator[ServerSentEvent]:
    """Events from the stream's lines (without line ends); `retry:`-only messages are skipped."""
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in fields:
                event_id = fields.get("id")
                yield ServerSentEvent(
                    fields.get("event", "message"),
                    json.loads(fields["data"]),
                    int(event_id) if event_id is not None else None,
                )
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


def events_of(text: str) -> list[ServerSentEvent]:
    return list(parse_events(text.split("\n")))
