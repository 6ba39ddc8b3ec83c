"""A bounded asyncio HTTP client for many watchers at once on loopback (ops/bench/load.py,
tests/e2e/test_many_streams.py): JSON requests and Server-Sent Event streams, one
connection each, HTTP/1.0 so that a stream's body comes as it is written."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Endpoint:
    """A genq web server on loopback and the API key to use there."""

    host: str
    port: int
    api_key: str

    @classmethod
    def of(cls, url: str, api_key: str) -> "Endpoint":
        parts = urlsplit(url)
        assert parts.hostname in ("127.0.0.1", "localhost"), "loopback only"
        return cls(parts.hostname, parts.port or 80, api_key)

    def head(self, method: str, path: str, extra: str = "") -> bytes:
        # HTTP/1.0: one request per connection, and a stream's body is not chunked.
        return (
            f"{method} {path} HTTP/1.0\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {self.api_key}\r\n{extra}\r\n"
        ).encode()


async def request(endpoint: Endpoint, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One JSON request; (status, decoded body or None)."""
    payload = b"" if body is None else json.dumps(body).encode()
    extra = f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n" if body is not None else ""
    reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port)
    try:
        writer.write(endpoint.head(method, path, extra) + payload)
        answer = await reader.read()
    finally:
        writer.close()
    head, _, content = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(content) if content else None


@dataclass(frozen=True)
class StreamEvent:
    type: str
    data: Any
    received_at: float  # time.time()


async def open_stream(endpoint: Endpoint, job_id: str) -> tuple[int, AsyncIterator[StreamEvent]]:
    """GET the job's events; (status, its events as they come). The iterator closes
    the connection when it ends."""
    reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port)
    writer.write(endpoint.head("GET", f"/api/v1/jobs/{job_id}/events", "Accept: text/event-stream\r\n"))
    status = int((await reader.readline()).split(b" ", 2)[1])
    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
        pass  # the headers

    async def events() -> AsyncIterator[StreamEvent]:
        fields: dict[str, str] = {}
        try:
            while line := await reader.readline():
                text = line.decode().rstrip("\r\n")
                if text == "" and "data" in fields:
                    yield StreamEvent(fields.get("event", "message"), json.loads(fields["data"]), time.time())
                if text == "":
                    fields = {}
                elif not text.startswith(":"):
                    name, _, value = text.partition(":")
                    fields[name] = value.removeprefix(" ")
        finally:
            writer.close()

    return status, events()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")
