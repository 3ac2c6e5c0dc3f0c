"""The payments service as a benchmark server: one uvicorn process.

What ``cloverpay serve`` runs (``create_app`` on a :class:`ServiceContext`), bound to
a socket first, one JSON line on stdout (``{"port": ..., "pid": ...}``), then uvicorn
with httptools and uvloop. Settings come from the environment (``DATABASE_URL``,
``CLOVERPAY_SECRET_KEY``); the reconciler and email threads are not started (they do
nothing while no attempt is due, and would only add noise).

The Clover client's rate limiter is off (``rate_limit=False``), as it is for the direct
path the benchmark compares with: the limiter holds a merchant to Clover's 16
requests/s, which is the point in production and not what is measured here.

``--sample PATH``: a sampling profiler from the standard library: a thread reads
``sys._current_frames()`` every ``--sample-ms`` and counts the stacks of the other
threads; on exit (SIGTERM) it writes the counts to ``PATH`` (JSON: collapsed stacks,
``frame;frame;... count``), for ``service_pay.py`` to summarise. Wall-clock samples:
a thread waiting for PostgreSQL or for the sandbox is counted where it waits.

    python bench/_service_server.py [--port 0] [--threads N] [--sample out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from types import FrameType
from typing import Any

import uvicorn
from _loadgen import announce, listening_socket, server_config, settle_heap_as_serve_does
from anyio import to_thread
from sqlalchemy import event

from cloverpay.service.api import create_app
from cloverpay.service.core.config import Settings
from cloverpay.service.services import ServiceContext


class Sampler(threading.Thread):
    """Counts the stacks of all other threads every ``interval_s`` (wall clock)."""

    def __init__(self, interval_s: float) -> None:
        super().__init__(daemon=True, name="sampler")
        self.interval_s = interval_s
        self.stacks: Counter[str] = Counter()
        self.samples = 0
        self._halt = threading.Event()

    @staticmethod
    def _stack(frame: FrameType | None) -> str:
        names: list[str] = []
        while frame is not None:
            code = frame.f_code
            mod = frame.f_globals.get("__name__", "?")
            names.append(f"{mod}:{code.co_name}")
            frame = frame.f_back
        return ";".join(reversed(names))

    def run(self) -> None:
        me = threading.get_ident()
        while not self._halt.wait(self.interval_s):
            self.samples += 1
            for ident, frame in sys._current_frames().items():
                if ident != me:
                    self.stacks[self._stack(frame)] += 1

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM after its shutdown, which would skip writing the
    samples; this process handles the signal itself."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("BENCH_THREADS", "0")) or None,
        help="anyio worker threads (default: the app's own, CLOVERPAY_REQUEST_THREADS; "
        "anyio's 40 for a version of the service without that setting)",
    )
    parser.add_argument("--sample", default=None, help="write sampled stacks here on exit")
    parser.add_argument("--sample-ms", type=float, default=2.0)
    args = parser.parse_args()

    settings = Settings()
    ctx = ServiceContext.build(settings, rate_limit=False)
    app = create_app(context=ctx)

    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with inner(a) as state:
            if args.threads:  # after the app's own lifespan, which may set it too
                to_thread.current_default_thread_limiter().total_tokens = args.threads
            yield state

    app.router.lifespan_context = lifespan

    sampler = Sampler(args.sample_ms / 1000) if args.sample else None
    connects = [0]

    @event.listens_for(ctx.engine.pool, "connect")
    def _connect(*_a: Any) -> None:
        connects[0] += 1

    sock = listening_socket(args.port)
    announce({"port": int(sock.getsockname()[1]), "pid": os.getpid()})
    config = server_config(app)
    server = _Server(config)
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    signal.signal(signal.SIGINT, lambda *_: setattr(server, "should_exit", True))
    settle_heap_as_serve_does()
    if sampler:
        sampler.start()
    t0 = time.monotonic()
    try:
        server.run(sockets=[sock])
    finally:
        if sampler and args.sample:
            sampler.stop()
            with open(args.sample, "w") as f:
                json.dump(
                    {
                        "samples": sampler.samples,
                        "interval_s": sampler.interval_s,
                        "seconds": time.monotonic() - t0,
                        "stacks": dict(sampler.stacks),
                        "db_connects": connects[0],
                    },
                    f,
                )
        ctx.close()


if __name__ == "__main__":
    main()
