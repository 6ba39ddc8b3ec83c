"""A TCP forwarder on loopback that a test can cut and restore, to make a service
unreachable for a while without losing what it holds (moto's S3 server keeps its
objects in memory: stopping it would lose them, an outage does not)."""

import selectors
import socket
import threading
from contextlib import suppress


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._down = False
        self._closed = False
        threading.Thread(target=self._accept, name="fault-proxy", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut(self) -> None:
        """From now on every connection is reset at once, and the open ones are closed."""
        with self._lock:
            self._down = True
            for connection in self._open:
                _reset(connection)

    def restore(self) -> None:
        with self._lock:
            self._down = False

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _address = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._down:
                    _reset(client)
                    continue
            threading.Thread(target=self._forward, args=(client,), daemon=True).start()

    def _forward(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _reset(client)
            return
        with self._lock:
            if self._down:
                _reset(client)
                upstream.close()
                return
            self._open.update((client, upstream))
        peers = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            for connection in peers:
                selector.register(connection, selectors.EVENT_READ)
            with suppress(OSError, ValueError):
                while True:
                    ready = selector.select(timeout=1)
                    data = b""
                    for key, _events in ready:
                        data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                        if not data:
                            break
                        peers[key.fileobj].sendall(data)  # type: ignore[index]
                    if ready and not data:
                        break
        with self._lock:
            self._open.difference_update((client, upstream))
        client.close()
        upstream.close()


def _reset(connection: socket.socket) -> None:
    """Close with RST rather than FIN, as a dead peer or a firewall would."""
    with suppress(OSError):
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        connection.close()
