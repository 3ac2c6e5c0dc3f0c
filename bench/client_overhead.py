"""CPU overhead of cloverpay.api per call, side by side with raw httpx doing the same request.

Every call is a charge create (``POST /v1/charges``: JSON body, bearer token,
``x-forwarded-for``, a fresh ``idempotency-key``) and reads the answer: raw httpx
with ``client.post(json=...)`` + ``response.json()``, cloverpay with
``client.charges.create(...)`` returning a validated ``Charge``. Sides alternate in
``ROUNDS`` rounds; each figure is the median over rounds of CPU time per call
(``time.process_time`` of this process, which runs no other thread). Two set-ups:

1. **in-memory** (the headline): both clients on an ``httpx.MockTransport`` that
   returns a canned charge (one the sandbox answered, 571 bytes); nothing but client
   code runs, so the difference is our own work (request building, idempotency key,
   limiter, retry loop, model validation);
2. **socket**: both clients against the sandbox served by uvicorn in another process
   (``bench/_sandbox_server.py``) over keep-alive connections on 127.0.0.1. Only this
   process's CPU is counted (the server's is not), so the figure adds httpx's
   connection pool and the socket system calls, the same for both sides, and is
   noisier.

"limiter on" uses a generous :class:`RateLimit` so that it measures the limiter's
bookkeeping, not waiting (the default 16/s would throttle a tight loop).

    .venv/bin/python bench/client_overhead.py [--n 6000] [--socket-n 3000] [--json PATH]

Goal: <= 0.15 ms CPU per call above raw httpx.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from cloverpay.api import AsyncCloverClient, CloverClient, RateLimit

sys.path.insert(0, str(Path(__file__).parent))

from _loadgen import start_server

HERE = Path(__file__).parent
GOAL_MS = 0.15
ROUNDS = 15
# a charge as the sandbox answers it (card token source, order, outcome, ref_num...)
CHARGE = json.dumps(
    {
        "id": "N0SV7E2E1WKZJ",
        "object": "charge",
        "amount": 1100,
        "amount_captured": 1100,
        "amount_refunded": 0,
        "tax_amount": 0,
        "tip_amount": 0,
        "currency": "usd",
        "created": 1795291736000,
        "captured": True,
        "paid": True,
        "refunded": False,
        "status": "succeeded",
        "order": "1BE3XFQPG8NNA",
        "source": {
            "id": "clv_1TST7WdAub10JdywPeBLpPIe",
            "exp_month": "12",
            "exp_year": "2031",
            "first6": "424242",
            "last4": "4242",
            "brand": "VISA",
        },
        "payment_method_details": "card",
        "ecomind": "ecom",
        "livemode": False,
        "outcome": {"network_status": "approved_by_network", "type": "authorized"},
        "ref_num": "468010604462",
        "auth_code": "532380",
    },
    separators=(",", ":"),
).encode()
CANNED_HEADERS = {"content-type": "application/json"}
IP = "198.51.100.1"
GENEROUS = RateLimit(requests_per_second=1e9, max_in_flight=5)


def handler(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=CHARGE, headers=CANNED_HEADERS)


async def ahandler(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=CHARGE, headers=CANNED_HEADERS)


class Setup:
    """Where the clients send: a canned transport or a server's base URL."""

    def __init__(self, base_url: str, token: str, source: str, socket: bool) -> None:
        self.base_url = base_url
        self.token = token
        self.body = {"amount": 1100, "currency": "usd", "source": source}
        self.socket = socket

    def transport(self) -> httpx.MockTransport | None:
        return None if self.socket else httpx.MockTransport(handler)

    def atransport(self) -> httpx.MockTransport | None:
        return None if self.socket else httpx.MockTransport(ahandler)

    def raw_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}", "x-forwarded-for": IP}


def sync_sides(s: Setup) -> dict[str, Callable[[], Any]]:
    raw = httpx.Client(transport=s.transport())
    url = s.base_url + "/v1/charges"
    headers = s.raw_headers()

    def raw_call() -> None:
        r = raw.post(url, json=s.body, headers={**headers, "idempotency-key": str(uuid.uuid4())})
        r.raise_for_status()
        r.json()

    def ours(limit: RateLimit | None) -> Callable[[], Any]:
        client = CloverClient(
            s.token, base_url=s.base_url, transport=s.transport(), client_ip=IP, rate_limit=limit
        )
        return lambda: client.charges.create(**s.body)

    return {
        "raw httpx": raw_call,
        "cloverpay, limiter off": ours(None),
        "cloverpay, limiter on": ours(GENEROUS),
    }


def async_sides(s: Setup) -> dict[str, Callable[[], Awaitable[Any]]]:
    raw = httpx.AsyncClient(transport=s.atransport())
    url = s.base_url + "/v1/charges"
    headers = s.raw_headers()

    async def raw_call() -> None:
        r = await raw.post(
            url, json=s.body, headers={**headers, "idempotency-key": str(uuid.uuid4())}
        )
        r.raise_for_status()
        r.json()

    def ours(limit: RateLimit | None) -> Callable[[], Awaitable[Any]]:
        client = AsyncCloverClient(
            s.token, base_url=s.base_url, transport=s.atransport(), client_ip=IP, rate_limit=limit
        )
        return lambda: client.charges.create(**s.body)

    return {
        "raw httpx": raw_call,
        "cloverpay, limiter off": ours(None),
        "cloverpay, limiter on": ours(GENEROUS),
    }


def measure_sync(
    sides: dict[str, Callable[[], Any]], n: int, tick: Callable[[], None]
) -> dict[str, float]:
    def per_call(fn: Callable[[], Any], count: int) -> float:
        start = time.process_time()
        for _ in range(count):
            fn()
        return (time.process_time() - start) / count * 1e3

    for fn in sides.values():
        per_call(fn, min(300, n))
    rounds: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(ROUNDS):
        for name, fn in sides.items():
            rounds[name].append(per_call(fn, max(1, n // ROUNDS)))
        tick()
    return {name: statistics.median(r) for name, r in rounds.items()}


def measure_async(
    make: Callable[[], dict[str, Callable[[], Awaitable[Any]]]], n: int, tick: Callable[[], None]
) -> dict[str, float]:
    async def run() -> dict[str, float]:
        sides = make()

        async def per_call(fn: Callable[[], Awaitable[Any]], count: int) -> float:
            start = time.process_time()
            for _ in range(count):
                await fn()
            return (time.process_time() - start) / count * 1e3

        for fn in sides.values():
            await per_call(fn, min(300, n))
        rounds: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(ROUNDS):
            for name, fn in sides.items():
                rounds[name].append(await per_call(fn, max(1, n // ROUNDS)))
            tick()
        return {name: statistics.median(r) for name, r in rounds.items()}

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=6000, help="calls per side, in-memory")
    parser.add_argument("--socket-n", type=int, default=3000, help="calls per side, socket")
    parser.add_argument("--no-socket", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    console = Console(width=max(100, Console().width))

    results: dict[str, dict[str, float]] = {}
    mem = Setup(
        "http://clover.test", "bench-token-0123456789abcdef", "clv_1TSTS89P1vANcEi3DXaQ", False
    )
    parts = 2 if args.no_socket else 4
    with Progress(console=console) as progress:
        task = progress.add_task("interleaved rounds", total=parts * ROUNDS)

        def tick() -> None:
            progress.advance(task)

        results["in-memory, sync"] = measure_sync(sync_sides(mem), args.n, tick)
        results["in-memory, async"] = measure_async(lambda: async_sides(mem), args.n, tick)
        if not args.no_socket:
            server = start_server([sys.executable, str(HERE / "_sandbox_server.py")])
            try:
                info = server.info
                sock = Setup(info["base_url"], info["access_token"], info["customer_id"], True)
                results["socket, sync"] = measure_sync(sync_sides(sock), args.socket_n, tick)
                results["socket, async"] = measure_async(
                    lambda: async_sides(sock), args.socket_n, tick
                )
            finally:
                server.stop()

    table = Table(title=f"client CPU ms per charge create, median of {ROUNDS} interleaved rounds")
    for col in ("set-up", "side", "CPU ms/call", "vs raw httpx", "ratio"):
        table.add_column(col, justify="left" if col in ("set-up", "side") else "right")
    overheads: dict[str, float] = {}
    for setup, sides in results.items():
        raw = sides["raw httpx"]
        for name, ms in sides.items():
            diff = ms - raw
            if name != "raw httpx":
                overheads[f"{setup}, {name}"] = diff
            table.add_row(
                setup,
                name,
                f"{ms:.4f}",
                "" if name == "raw httpx" else f"{diff:+.4f}",
                f"{ms / raw:.2f}",
            )
    console.print(table)
    worst = max(overheads.values())
    head = max(v for k, v in overheads.items() if k.startswith("in-memory"))
    console.print(
        f"goal: <= {GOAL_MS} ms CPU per call above raw httpx -> in-memory (headline) worst "
        f"{head:+.4f} ms, all set-ups worst {worst:+.4f} ms: "
        f"{'met' if head <= GOAL_MS else 'NOT met'}"
    )
    mach = {
        "nproc": os.cpu_count(),
        "python": sys.version.split()[0],
        "loadavg_1m": os.getloadavg()[0],
    }
    console.print(f"machine: {mach}; httpx {httpx.__version__}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": mach, "results": results}, indent=2))


if __name__ == "__main__":
    main()
