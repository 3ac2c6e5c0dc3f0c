"""A real HTTP endpoint on 127.0.0.1 (standard library server, in a thread) that records
every POST and answers 200: what Clover's sandbox sends, kept for a test to inspect or
to deliver again, in any order, many times."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Hook:
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A real HTTP endpoint on 127.0.0.1 that records every POST."""

    def __init__(self) -> None:
        self.hooks: list[Hook] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    outer.hooks.append(Hook(dict(self.headers.items()), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, n: int, timeout: float = 15.0) -> list[Hook]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.hooks) >= n:
                    return list(self.hooks)
            time.sleep(0.02)
        raise AssertionError(f"expected {n} webhooks, got {len(self.hooks)}")

    @contextlib.contextmanager
    def running(self) -> Iterator[Receiver]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
            thread.join(5)
