"""The client's rate limiter against the sandbox with Clover's per-token limits on.

The sandbox runs in its own process (``bench/_sandbox_server.py``, one uvicorn worker)
with ``POST /_sandbox/rate_limits {"enabled": true}``: 16 requests per sliding second
and 5 in flight per token, 429 beyond. A :class:`~cloverpay.api.CloverClient` with
retries off (``retry=0``, so every 429 surfaces as :class:`RateLimitError`) is shared
by ``--threads`` threads that create charges as fast as they can for ``--seconds``:

* ``sync, limiter on``: the client's default limiter (16/s, 5 in flight);
* ``async, limiter on``: the same with :class:`AsyncCloverClient` and as many tasks;
* ``sync, limiter off`` (``rate_limit=None``), for contrast: 429s expected.

Reported per run: successful calls per second over the whole run (answers read
before the end of the run; the last calls in flight then are not counted), the lowest count in
any whole one-second window after the first second (sustained), the 429s, and other
errors. The server's limiter state is cleared before each run.

    .venv/bin/python bench/limiter.py [--seconds 25] [--threads 8] [--json PATH]

Goal: >= 15.5 requests/s sustained per token with zero 429s (limiter on).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from cloverpay.api import AsyncCloverClient, CloverClient, RateLimitError

sys.path.insert(0, str(Path(__file__).parent))

from _loadgen import Server, start_server

HERE = Path(__file__).parent
GOAL = 15.5


class Tally:
    def __init__(self, start: float) -> None:
        self.start = start
        self.ok_at: list[float] = []
        self.errors: Counter[str] = Counter()
        self.lock = threading.Lock()

    def ok(self) -> None:
        with self.lock:
            self.ok_at.append(time.monotonic() - self.start)

    def error(self, exc: Exception) -> None:
        with self.lock:
            self.errors["429" if isinstance(exc, RateLimitError) else type(exc).__name__] += 1

    def summary(self, seconds: float) -> dict[str, Any]:
        per_window = Counter(int(t) for t in self.ok_at if t < int(seconds))
        windows = [per_window.get(i, 0) for i in range(1, int(seconds))]
        in_run = sum(1 for t in self.ok_at if t < seconds)
        return {
            "ok": len(self.ok_at),
            "per_s": in_run / seconds,
            "min_1s_window": min(windows) if windows else 0,
            "max_1s_window": max(windows) if windows else 0,
            "http_429": self.errors.get("429", 0),
            "other_errors": {k: v for k, v in self.errors.items() if k != "429"},
        }


def control(server: Server, path: str, body: dict[str, Any]) -> None:
    httpx.post(f"http://127.0.0.1:{server.port}{path}", json=body).raise_for_status()


def run_sync(server: Server, limiter_on: bool, threads: int, seconds: float) -> Tally:
    info = server.info
    kwargs: dict[str, Any] = {} if limiter_on else {"rate_limit": None}
    client = CloverClient(
        info["access_token"],
        base_url=info["base_url"],
        client_ip="203.0.113.7",
        retry=0,
        **kwargs,
    )
    start = time.monotonic()
    tally = Tally(start)
    stop_at = start + seconds

    def worker() -> None:
        while time.monotonic() < stop_at:
            try:
                client.charges.create(amount=1000, currency="usd", source=info["customer_id"])
                tally.ok()
            except Exception as exc:
                tally.error(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    client.close()
    return tally


def run_async(server: Server, tasks: int, seconds: float) -> Tally:
    info = server.info

    async def go() -> Tally:
        async with AsyncCloverClient(
            info["access_token"], base_url=info["base_url"], client_ip="203.0.113.7", retry=0
        ) as client:
            start = time.monotonic()
            tally = Tally(start)
            stop_at = start + seconds

            async def worker() -> None:
                while time.monotonic() < stop_at:
                    try:
                        await client.charges.create(
                            amount=1000, currency="usd", source=info["customer_id"]
                        )
                        tally.ok()
                    except Exception as exc:
                        tally.error(exc)

            await asyncio.gather(*(worker() for _ in range(tasks)))
            return tally

    return asyncio.run(go())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    console = Console(width=max(110, Console().width))

    server = start_server([sys.executable, str(HERE / "_sandbox_server.py")])
    results: dict[str, dict[str, Any]] = {}
    runs = [
        ("sync, limiter on", lambda: run_sync(server, True, args.threads, args.seconds)),
        ("async, limiter on", lambda: run_async(server, args.threads, args.seconds)),
        ("sync, limiter off", lambda: run_sync(server, False, args.threads, args.seconds)),
    ]
    try:
        with Progress(console=console) as progress:
            task = progress.add_task("runs", total=len(runs))
            for name, run in runs:
                control(server, "/_sandbox/rate_limits", {"enabled": True})  # clears counters
                time.sleep(1.1)
                progress.update(task, description=name)
                results[name] = run().summary(args.seconds)
                progress.advance(task)
    finally:
        server.stop()

    table = Table(
        title=f"{args.threads} workers, {args.seconds:g} s per run, sandbox limits 16/s and "
        "5 in flight per token, client retries off"
    )
    for col in ("run", "ok/s", "min ok in a 1 s window", "max", "429s", "other errors"):
        table.add_column(col, justify="left" if col == "run" else "right")
    for name, r in results.items():
        table.add_row(
            name,
            f"{r['per_s']:.2f}",
            str(r["min_1s_window"]),
            str(r["max_1s_window"]),
            str(r["http_429"]),
            ", ".join(f"{k}: {v}" for k, v in r["other_errors"].items()) or "0",
        )
    console.print(table)
    for name in ("sync, limiter on", "async, limiter on"):
        r = results[name]
        met = r["per_s"] >= GOAL and r["http_429"] == 0 and not r["other_errors"]
        console.print(
            f"goal ({name}): >= {GOAL}/s with zero 429s -> {r['per_s']:.2f}/s, "
            f"{r['http_429']} x 429: {'met' if met else 'NOT met'}"
        )
    mach = {
        "nproc": os.cpu_count(),
        "python": sys.version.split()[0],
        "loadavg_1m": os.getloadavg()[0],
    }
    console.print(f"machine: {mach}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": mach, "results": results}, indent=2))


if __name__ == "__main__":
    main()
