"""CPU overhead of cloverpay.api per call, compared with raw httpx doing the same request.

Both sides talk to the same in-memory ``httpx.MockTransport`` (no network), so the
difference is our client's own work: building the request, headers, idempotency key,
limiter, retry loop, and validating the response into a pydantic model.

    .venv/bin/python bench/client_overhead.py [--n 20000]

Goal: <= 0.15 ms CPU per call above raw httpx (DESIGN.md, "speed goals").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid

import httpx

from cloverpay.api import AsyncCloverClient, CloverClient

CHARGE = json.dumps(
    {
        "id": "2G1RQC0VTH7WY",
        "object": "charge",
        "amount": 1100,
        "currency": "usd",
        "created": 1623551758243,
        "captured": True,
        "paid": True,
        "status": "succeeded",
        "source": {"id": "clv_1", "brand": "VISA", "first6": "424242", "last4": "4242"},
        "outcome": {"network_status": "approved_by_network", "type": "authorized"},
    }
).encode()
HEADERS = {"content-type": "application/json"}
BODY = {"amount": 1100, "currency": "usd", "source": "clv_1TSTS89P1vANcEi3DXaQEck7"}
TOKEN = "bench-token-0123456789abcdef"


def handler(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=CHARGE, headers=HEADERS)


async def ahandler(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=CHARGE, headers=HEADERS)


ROUNDS = 15


def per_call(fn: object, n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        fn()  # type: ignore[operator]
    return (time.process_time() - start) / n * 1e3


def interleaved(fns: list[object], n: int) -> list[float]:
    """Median CPU ms per call of each function, measured in alternating rounds so that
    machine noise hits every side alike."""
    for fn in fns:
        per_call(fn, min(500, n))
    rounds: list[list[float]] = [[] for _ in fns]
    for _ in range(ROUNDS):
        for i, fn in enumerate(fns):
            rounds[i].append(per_call(fn, max(1, n // ROUNDS)))
    return [statistics.median(r) for r in rounds]


def bench_sync(n: int) -> tuple[float, float, float]:
    raw = httpx.Client(transport=httpx.MockTransport(handler))
    headers = {"authorization": f"Bearer {TOKEN}", "x-forwarded-for": "198.51.100.1"}

    def raw_call() -> None:
        r = raw.post(
            "http://clover.test/v1/charges",
            json=BODY,
            headers={**headers, "idempotency-key": str(uuid.uuid4())},
        )
        r.json()

    ours_nolimit = CloverClient(
        TOKEN,
        base_url="http://clover.test",
        transport=httpx.MockTransport(handler),
        client_ip="198.51.100.1",
        rate_limit=None,
    )
    # the limiter would (correctly) throttle a tight loop to 16/s; make it generous so the
    # benchmark measures its uncontended cost
    from cloverpay.api import RateLimit

    ours_limited = CloverClient(
        TOKEN,
        base_url="http://clover.test",
        transport=httpx.MockTransport(handler),
        client_ip="198.51.100.1",
        rate_limit=RateLimit(requests_per_second=1e9, max_in_flight=5),
    )
    r, a, b = interleaved(
        [
            raw_call,
            lambda: ours_nolimit.charges.create(**BODY),  # type: ignore[arg-type]
            lambda: ours_limited.charges.create(**BODY),  # type: ignore[arg-type]
        ],
        n,
    )
    return r, a, b


def bench_async(n: int) -> tuple[float, float]:
    async def run() -> tuple[float, float]:
        raw = httpx.AsyncClient(transport=httpx.MockTransport(ahandler))
        ours = AsyncCloverClient(
            TOKEN,
            base_url="http://clover.test",
            transport=httpx.MockTransport(ahandler),
            client_ip="198.51.100.1",
            rate_limit=None,
        )
        headers = {"authorization": f"Bearer {TOKEN}", "x-forwarded-for": "198.51.100.1"}

        async def loop(fn: object, count: int) -> float:
            start = time.process_time()
            for _ in range(count):
                await fn()  # type: ignore[operator]
            return (time.process_time() - start) / count * 1e3

        async def raw_call() -> None:
            r = await raw.post(
                "http://clover.test/v1/charges",
                json=BODY,
                headers={**headers, "idempotency-key": str(uuid.uuid4())},
            )
            r.json()

        def ours_call() -> object:
            return ours.charges.create(**BODY)  # type: ignore[arg-type]

        await loop(raw_call, min(500, n))
        await loop(ours_call, min(500, n))
        raw_ms: list[float] = []
        ours_ms: list[float] = []
        for _ in range(ROUNDS):
            raw_ms.append(await loop(raw_call, max(1, n // ROUNDS)))
            ours_ms.append(await loop(ours_call, max(1, n // ROUNDS)))
        return statistics.median(raw_ms), statistics.median(ours_ms)

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    n = parser.parse_args().n
    raw, ours, ours_lim = bench_sync(n)
    araw, aours = bench_async(n)
    print(f"calls per side: {n} in {ROUNDS} interleaved rounds; median CPU ms per call")
    print(f"sync  raw httpx            {raw:.4f}")
    print(f"sync  cloverpay (no limit) {ours:.4f}  overhead {ours - raw:+.4f} ms")
    print(f"sync  cloverpay (limiter)  {ours_lim:.4f}  overhead {ours_lim - raw:+.4f} ms")
    print(f"async raw httpx            {araw:.4f}")
    print(f"async cloverpay (no limit) {aours:.4f}  overhead {aours - araw:+.4f} ms")


if __name__ == "__main__":
    main()
