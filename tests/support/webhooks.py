"""A webhook receiver for tests: an http.server thread on loopback (allowlisted in
the test settings) that records what it is sent."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def receiver(statuses: list[int]) -> Iterator[tuple[str, list[dict]]]:
    """A webhook receiver answering `statuses` in turn (then 200); yields its URL and
    the requests it got: {headers, body, path, arrived (unix time)}."""
    received: list[dict] = []
    answers = iter(statuses)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"headers": dict(self.headers), "body": body, "path": self.path, "arrived": time.time()})
            self.send_response(next(answers, 200))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/genq?team=7", received
    finally:
        server.shutdown()
        server.server_close()
