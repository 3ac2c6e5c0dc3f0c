"""A reused keep-alive connection that the server closes without answering, over a real
socket: why the retry loop counts it as "sent".

A server closing an idle connection at the instant the client reuses it, and a server
that read the request, acted and dropped the connection, look the same to the client:
httpcore swallows a failed write and reports ``RemoteProtocolError`` ("Server
disconnected without sending a response") once it reads nothing back. No exception
proves that no byte of the request left, so a POST without an idempotency key is not
resent (``OutcomeUnknownError``) and a request with a key is resent with that key.
(An idle connection the server closed *before* it is reused is dropped by the pool
itself, which sees the socket readable, and never fails a request.)
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from cloverpay.api import CloverClient, OutcomeUnknownError, RetryPolicy

from .fake import CHARGE

TOKEN = "access-token-0123456789abcdef"
NO_WAIT = RetryPolicy(initial_backoff=0.0, max_retries=3)


@dataclass
class Received:
    connection: int
    method: str
    path: str
    idempotency_key: str | None


@dataclass
class ClosingServer:
    """Answers every request, except that on its first connection it reads the second
    request in full and then closes without a word. Records what it received."""

    sock: socket.socket
    received: list[Received] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def serve(self) -> None:
        n = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            n += 1
            threading.Thread(target=self._connection, args=(conn, n), daemon=True).start()

    def _connection(self, conn: socket.socket, n: int) -> None:
        buffer = b""
        with conn:
            served = 0
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = dict(
                    (k.strip().lower(), v.strip()) for k, v in (h.split(":", 1) for h in lines[1:])
                )
                length = int(headers.get("content-length", "0"))
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                buffer = buffer[length:]
                self.received.append(Received(n, method, path, headers.get("idempotency-key")))
                served += 1
                if n == 1 and served == 2:
                    return  # the whole request read, then closed: no answer
                body = json.dumps(CHARGE).encode()
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(body)}\r\n\r\n".encode()
                    + body
                )


@pytest.fixture
def server() -> Iterator[ClosingServer]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    srv = ClosingServer(sock)
    thread = threading.Thread(target=srv.serve, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        sock.shutdown(socket.SHUT_RDWR)  # wakes the accept
        sock.close()
        thread.join(5)
        assert not thread.is_alive()


def _client(server: ClosingServer) -> CloverClient:
    client = CloverClient(
        TOKEN, base_url=server.base_url, retry=NO_WAIT, client_ip="198.51.100.1", timeout=10
    )
    client._runner.sleep = lambda _s: None
    return client


def test_post_without_key_on_a_reused_connection_closed_unanswered_is_outcome_unknown(
    server: ClosingServer,
) -> None:
    with _client(server) as clover:
        clover.charges.retrieve(CHARGE["id"])  # opens the connection, leaves it idle
        with pytest.raises(OutcomeUnknownError):
            clover.customers.create(email="a@example.com")
    # the server had the whole request: "sent" was the only safe reading, not resent
    assert [(r.connection, r.method, r.path) for r in server.received] == [
        (1, "GET", f"/v1/charges/{CHARGE['id']}"),
        (1, "POST", "/v1/customers"),
    ]


def test_request_with_key_on_a_reused_connection_is_resent_with_its_key(
    server: ClosingServer,
) -> None:
    with _client(server) as clover:
        clover.charges.retrieve(CHARGE["id"])
        charge = clover.charges.create(
            amount=1000, currency="usd", source="clv_1x", idempotency_key="attempt-1"
        )
    assert charge.id == CHARGE["id"]
    posts = [(r.connection, r.idempotency_key) for r in server.received if r.method == "POST"]
    assert posts == [(1, "attempt-1"), (2, "attempt-1")]  # a new connection, the same key
