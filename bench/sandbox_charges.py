"""Sandbox throughput and latency at scale (not a test; see bench/README.md).

1. Charge creations per CPU-second on one worker, driving the ASGI app directly (no
   socket, no client library), body = charge on a customer's card on file, plus the
   same with a fresh card token per charge (tokenize + charge = 2 requests), side by
   side with a baseline: a bare Starlette app answering a fixed JSON body through the
   same driver. CPU time (``time.process_time``) is used because the machines are
   shared; the ratio to the baseline is the figure to compare across runs.
2. Median latency of create / retrieve / list with an empty store vs 100,000 stored
   charges (filled through the same payment code, without HTTP).

Run: ``.venv/bin/python bench/sandbox_charges.py [--fill 100000] [--n 5000]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from cloverpay.sandbox import Sandbox
from cloverpay.sandbox._payments import execute_charge, parse_charge, resolve_source


class Driver:
    """Calls the ASGI app the way a server would, with minimal overhead."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.app = sandbox.app
        m = sandbox.state.merchant
        self.auth = [
            (b"authorization", f"Bearer {m.access_token}".encode()),
            (b"apikey", m.api_access_key.encode()),
            (b"x-forwarded-for", b"203.0.113.1"),
            (b"content-type", b"application/json"),
        ]

    async def call(
        self, method: str, path: str, body: Any = None, query: str = ""
    ) -> tuple[int, bytes]:
        raw = b"" if body is None else json.dumps(body).encode()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [*self.auth, (b"content-length", str(len(raw)).encode())],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        sent = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            else:
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


CARD = {"card": {"number": "4242424242424242", "exp_month": "12", "exp_year": "2031", "cvv": "123"}}


async def baseline(n: int) -> float:
    """Requests per CPU-second of a bare Starlette app (one JSON route, no middleware)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def endpoint(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"id": "X" * 13, "object": "charge", "amount": 1000})

    d = Driver(Sandbox(seed=0))
    d.app = Starlette(routes=[Route("/v1/charges", endpoint, methods=["POST"])])
    body = {"amount": 1000, "currency": "usd", "source": "X" * 13}
    t0 = time.process_time()
    for _ in range(n):
        await d.call("POST", "/v1/charges", body)
    return n / (time.process_time() - t0)


async def throughput(n: int) -> dict[str, float]:
    base = await baseline(n)
    sb = Sandbox(seed=1)
    d = Driver(sb)
    _, tok = await d.call("POST", "/v1/tokens", CARD)
    _, cust = await d.call(
        "POST", "/v1/customers", {"email": "b@example.com", "source": json.loads(tok)["id"]}
    )
    body = {"amount": 1000, "currency": "usd", "source": json.loads(cust)["id"]}
    t0 = time.process_time()
    for _ in range(n):
        status, _ = await d.call("POST", "/v1/charges", body)
        assert status == 200
    cof = n / (time.process_time() - t0)
    t0 = time.process_time()
    for _ in range(n // 2):
        _, tok = await d.call("POST", "/v1/tokens", CARD)
        status, _ = await d.call(
            "POST",
            "/v1/charges",
            {"amount": 1000, "currency": "usd", "source": json.loads(tok)["id"]},
        )
        assert status == 200
    tok_charge = (n // 2) / (time.process_time() - t0)
    return {
        "baseline_bare_starlette_req_per_cpu_s": base,
        "charges_per_cpu_s_card_on_file": cof,
        "token_plus_charge_pairs_per_cpu_s": tok_charge,
        "charge_cost_vs_baseline": base / cof,
    }


def fill(sb: Sandbox, count: int) -> None:
    state = sb.state
    m = state.merchant
    cust_id = next(iter(state.ecommerce.customers.objects))
    req = parse_charge({"amount": 500, "currency": "usd", "source": cust_id})
    with state.lock:
        resolved = resolve_source(state, m, req)
        for _ in range(count):
            execute_charge(state, m, req, resolved)


async def _timed(out: dict[str, list[float]], d: Driver, source: str, charge_id: str) -> None:
    t = time.perf_counter()
    await d.call("POST", "/v1/charges", {"amount": 100, "currency": "usd", "source": source})
    out["create"].append(time.perf_counter() - t)
    t = time.perf_counter()
    await d.call("GET", f"/v1/charges/{charge_id}")
    out["retrieve"].append(time.perf_counter() - t)
    t = time.perf_counter()
    await d.call("GET", "/v1/charges", query="limit=10")
    out["list"].append(time.perf_counter() - t)
    t = time.perf_counter()
    await d.call("GET", "/v1/charges", query=f"limit=10&starting_after={charge_id}")
    out["list_page"].append(time.perf_counter() - t)


async def _prepare(seed: int) -> tuple[Sandbox, Driver, str, str]:
    sb = Sandbox(seed=seed)
    d = Driver(sb)
    _, tok = await d.call("POST", "/v1/tokens", CARD)
    _, cust = await d.call(
        "POST", "/v1/customers", {"email": "s@example.com", "source": json.loads(tok)["id"]}
    )
    source = json.loads(cust)["id"]
    _, ch = await d.call(
        "POST", "/v1/charges", {"amount": 100, "currency": "usd", "source": source}
    )
    return sb, d, source, json.loads(ch)["id"]


async def scale(fill_count: int, rounds: int) -> dict[str, Any]:
    """Two sandboxes, one empty and one holding ``fill_count`` charges, measured in
    alternation so machine noise hits both equally."""
    _, d_empty, src_empty, ch_empty = await _prepare(2)
    sb_full, d_full, src_full, ch_full = await _prepare(3)
    fill(sb_full, fill_count)
    keys = ("create", "retrieve", "list", "list_page")
    empty: dict[str, list[float]] = {k: [] for k in keys}
    full: dict[str, list[float]] = {k: [] for k in keys}
    for _ in range(50):  # warm-up
        await _timed({k: [] for k in keys}, d_empty, src_empty, ch_empty)
        await _timed({k: [] for k in keys}, d_full, src_full, ch_full)
    for _ in range(rounds):
        await _timed(empty, d_empty, src_empty, ch_empty)
        await _timed(full, d_full, src_full, ch_full)
    med_e = {k: statistics.median(v) * 1e6 for k, v in empty.items()}
    med_f = {k: statistics.median(v) * 1e6 for k, v in full.items()}
    return {
        "stored_charges": len(sb_full.state.ecommerce.charges),
        "median_us_empty": med_e,
        "median_us_full": med_f,
        "ratio_full_over_empty": {k: med_f[k] / med_e[k] for k in keys},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--fill", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=400)
    args = parser.parse_args()
    result = {
        "throughput": asyncio.run(throughput(args.n)),
        "scale": asyncio.run(scale(args.fill, args.rounds)),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
