"""A real HTTP receiver on 127.0.0.1 for webhook tests (Starlette under uvicorn, in a thread)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Records every POST; ``fail_first`` requests are answered with ``fail_status``."""

    fail_first: int = 0
    fail_status: int = 500
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _server: Any = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _hook(self, request: Request) -> Response:
        body = await request.body()
        with self._lock:
            self.received.append(Received(request.url.path, dict(request.headers), body))
            n = len(self.received)
        if n <= self.fail_first:
            return Response("nope", status_code=self.fail_status)
        return Response("ok")

    def start(self) -> Receiver:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("receiver did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 15.0) -> None:
        """Poll until ``predicate(received)`` holds (no timing is asserted, only a bound)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                snapshot = list(self.received)
            if predicate(snapshot):
                return
            time.sleep(0.02)
        raise AssertionError(f"receiver condition not met; got {len(self.received)} requests")
