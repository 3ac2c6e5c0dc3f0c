"""A small HTTP/1.1 load generator and server-process helpers for the benchmarks.

The load generator is deliberately thin (pre-rendered request bytes, keep-alive
connections, a minimal response reader on asyncio streams, uvloop when available):
on a 2-core machine every microsecond it spends is taken from the server under test,
so it must cost far less per request than any HTTP client library. Its own CPU time
is measured and reported with the results.

Server processes are started with :func:`start_server` (reads one JSON line from
stdout) and their CPU time is read from ``/proc/<pid>/stat``.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@dataclass
class Server:
    proc: subprocess.Popen[str]
    info: dict[str, Any]

    @property
    def port(self) -> int:
        return int(self.info["port"])

    def cpu_s(self) -> float:
        return proc_cpu_s(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def settle_heap_as_serve_does() -> None:
    """What ``cloverpay serve`` does before it serves (``settle_heap``); a version of
    the service without it (a ``--baseline-src``) serves without it."""
    try:
        from cloverpay.service.core.heap import settle_heap
    except ImportError:
        return
    settle_heap()


def listening_socket(port: int = 0) -> socket.socket:
    """A server socket on 127.0.0.1 (``port`` 0: any free one), listening, for uvicorn
    to serve on (``server.run(sockets=[sock])``): bound before the JSON line that
    announces the port, so the port works once announced."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    return sock


def announce(info: dict[str, Any]) -> None:
    """The one JSON line on stdout that :func:`start_server` reads."""
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()


def server_config(app: Any, **options: Any) -> Any:
    """uvicorn's settings for a benchmark server: httptools and uvloop, no access log,
    and a keep-alive longer than httpx's 5 s expiry (with both at 5 s, a client
    connection idle between rounds could be reused as the server closed it).
    ``options`` override."""
    import uvicorn

    settings: dict[str, Any] = {
        "http": "httptools",
        "loop": "uvloop",
        "log_level": "warning",
        "access_log": False,
        "timeout_keep_alive": 75,
        **options,
    }
    return uvicorn.Config(app, **settings)


def start_server(
    argv: list[str], timeout: float = 600.0, env: dict[str, str] | None = None
) -> Server:
    """Start a server that prints one JSON line (with ``port``) once it listens."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = ""
    while not line:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"server did not start: {argv}")
        line = proc.stdout.readline()
    return Server(proc, json.loads(line))


def render(
    method: str,
    path: str,
    host: str,
    headers: dict[str, str],
    body: bytes = b"",
    idempotency: bool = False,
) -> Callable[[], bytes]:
    """A function returning the request bytes (a fresh idempotency key each time)."""
    head = f"{method} {path} HTTP/1.1\r\nhost: {host}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()
    )
    if body or method in ("POST", "PUT"):
        head += f"content-length: {len(body)}\r\n"
    fixed = head.encode()
    tail = b"\r\n" + body
    if not idempotency:
        whole = fixed + tail
        return lambda: whole
    return lambda: fixed + b"idempotency-key: " + uuid.uuid4().hex.encode() + b"\r\n" + tail


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    i = lower.find(b"content-length:")
    if i < 0:
        raise RuntimeError(f"response without content-length: {head[:200]!r}")
    j = lower.index(b"\r\n", i)
    length = int(lower[i + 15 : j])
    body = await reader.readexactly(length) if length else b""
    return status, body


@dataclass
class LoadResult:
    completed: int = 0
    wall_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    client_cpu_s: float = 0.0
    server_cpu_s: float = 0.0

    @property
    def per_s(self) -> float:
        return self.completed / self.wall_s if self.wall_s else 0.0

    def pct(self, p: float) -> float:
        xs = sorted(self.latencies_s)
        if not xs:
            return float("nan")
        return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


async def _load(
    port: int,
    make: Callable[[], bytes],
    concurrency: int,
    duration_s: float | None,
    total: int | None,
    ok: Callable[[int, bytes], bool],
) -> LoadResult:
    result = LoadResult()
    remaining = [total if total is not None else 1 << 62]
    stop_at = [float("inf")]

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while remaining[0] > 0:
                remaining[0] -= 1
                t = time.perf_counter()
                if t >= stop_at[0]:
                    return
                writer.write(make())
                status, body = await read_response(reader)
                done = time.perf_counter()
                if done <= stop_at[0]:
                    result.completed += 1
                    result.latencies_s.append(done - t)
                    result.statuses[status] = result.statuses.get(status, 0) + 1
                    if not ok(status, body):
                        raise RuntimeError(f"unexpected answer {status}: {body[:300]!r}")
        finally:
            writer.close()

    start = time.perf_counter()
    if duration_s is not None:
        stop_at[0] = start + duration_s
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    end = min(time.perf_counter(), stop_at[0])
    result.wall_s = end - start
    return result


def run_load(
    server: Server,
    make: Callable[[], bytes],
    *,
    concurrency: int,
    duration_s: float | None = None,
    total: int | None = None,
    ok: Callable[[int, bytes], bool] = lambda status, body: status < 300,
) -> LoadResult:
    """Closed-loop load: ``concurrency`` keep-alive connections, each sending the next
    request when the previous answer is read; for ``duration_s`` or ``total`` requests."""
    cpu0, srv0 = time.process_time(), server.cpu_s()
    result = _new_loop().run_until_complete(
        _load(server.port, make, concurrency, duration_s, total, ok)
    )
    result.client_cpu_s = time.process_time() - cpu0
    result.server_cpu_s = server.cpu_s() - srv0
    return result


_LOOP: asyncio.AbstractEventLoop | None = None


def _new_loop() -> asyncio.AbstractEventLoop:
    global _LOOP
    if _LOOP is None:
        try:
            import uvloop

            _LOOP = uvloop.new_event_loop()
        except ImportError:  # pragma: no cover
            _LOOP = asyncio.new_event_loop()
    return _LOOP


def request_once(server: Server, raw: bytes) -> tuple[int, bytes]:
    """One request on a fresh connection (set-up calls)."""

    async def go() -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(raw)
            return await read_response(reader)
        finally:
            writer.close()

    return _new_loop().run_until_complete(go())
