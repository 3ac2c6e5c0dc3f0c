"""The sandbox as a benchmark server: one uvicorn worker in its own process.

Serves like ``cloverpay sandbox`` (:func:`cloverpay.sandbox.serve`: a listening
socket first, one JSON line on stdout, then uvicorn) with the HTTP parser and event
loop chosen on the command line, after optionally storing ``--fill`` charges.

Two ways to store the ``--fill`` charges before serving, both in this process:

* ``--fill-mode domain`` (default, ~10x faster): what the charge route does, without
  HTTP: ``parse_charge`` / ``resolve_source`` / ``execute_charge`` under the state
  lock (the charge, its order, the index entries, the notifications), then the
  idempotency entry the middleware would keep (key, body fingerprint, the rendered
  charge as the stored answer). Skipped: the event log (bounded at 10,000 entries
  anyway), routing and middleware dispatch, which keep no state per charge.
* ``--fill-mode app``: through the whole ASGI app (every middleware, then the route)
  with the load generator's headers and body and an idempotency key per charge.

Either way the stored state is what the same number of HTTP charges would leave.

    python bench/_sandbox_server.py [--fill 100000] [--fill-mode domain|app]
                                    [--http httptools] [--loop uvloop]

Stdout line: credentials, ``customer_id`` (card on file, used as charge source),
``fill`` and ``fill_seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from typing import Any

import uvicorn
from _loadgen import announce, listening_socket, server_config

from cloverpay.sandbox import Sandbox

CARD = {"card": {"number": "4242424242424242", "exp_month": "12", "exp_year": "2031", "cvv": "123"}}


class InProcess:
    """Calls the ASGI app as a server would (one request, one response)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.app = sandbox.app
        self.sandbox = sandbox

    async def call(
        self, method: str, path: str, body: Any, headers: list[tuple[bytes, bytes]]
    ) -> tuple[int, bytes]:
        raw = json.dumps(body).encode()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [
                *headers,
                (b"content-type", b"application/json"),
                (b"content-length", str(len(raw)).encode()),
            ],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        done = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal done
            if done:
                await asyncio.sleep(3600)
            done = True
            return {"type": "http.request", "body": raw, "more_body": False}

        async def send(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            else:
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


def fill_domain(sandbox: Sandbox, customer_id: str, count: int) -> None:
    """Store ``count`` charges through the charge route's own functions (no HTTP)."""
    from cloverpay.sandbox import fingerprint
    from cloverpay.sandbox._payments import execute_charge, parse_charge, resolve_source

    state = sandbox.state
    m = state.merchant
    body = {"amount": 1000, "currency": "usd", "source": customer_id}
    raw = json.dumps(body).encode()
    ttl = state.config.idempotency_ttl_s
    for _ in range(count):
        parsed = json.loads(raw)
        key = (m.merchant_id, "/v1/charges", str(uuid.uuid4()))
        state.idempotency.begin(
            key, fingerprint("POST", "/v1/charges", parsed, raw), state.clock.now(), ttl
        )
        req = parse_charge(parsed)
        with state.lock:
            charge = execute_charge(state, m, req, resolve_source(state, m, req))
        out = json.dumps(charge.to_json(), separators=(",", ":")).encode()
        headers = [
            (b"content-length", str(len(out)).encode()),
            (b"content-type", b"application/json"),
        ]
        state.idempotency.finish(key, 200, headers, out)


async def prepare(sandbox: Sandbox, fill: int, mode: str = "app") -> tuple[str, float]:
    m = sandbox.state.merchant
    driver = InProcess(sandbox)
    auth = [
        (b"authorization", f"Bearer {m.access_token}".encode()),
        (b"x-forwarded-for", b"203.0.113.7"),
    ]
    status, tok = await driver.call(
        "POST", "/v1/tokens", CARD, [(b"apikey", m.api_access_key.encode())]
    )
    assert status == 200, tok
    status, cust = await driver.call(
        "POST",
        "/v1/customers",
        {"email": "bench@example.com", "source": json.loads(tok)["id"]},
        auth,
    )
    assert status == 200, cust
    customer_id = str(json.loads(cust)["id"])
    body = {"amount": 1000, "currency": "usd", "source": customer_id}
    t0 = time.perf_counter()
    if mode == "domain":
        fill_domain(sandbox, customer_id, fill)
        return customer_id, time.perf_counter() - t0
    for _ in range(fill):
        key = (b"idempotency-key", str(uuid.uuid4()).encode())
        status, out = await driver.call("POST", "/v1/charges", body, [*auth, key])
        if status != 200:
            raise RuntimeError(f"fill charge failed: {status} {out[:200]!r}")
    return customer_id, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fill", type=int, default=0)
    parser.add_argument("--fill-mode", choices=("domain", "app"), default="domain")
    parser.add_argument("--http", default="httptools")
    parser.add_argument("--loop", default="uvloop")
    args = parser.parse_args()

    sandbox = Sandbox(seed=args.seed)
    customer_id, fill_s = asyncio.run(prepare(sandbox, args.fill, args.fill_mode))

    sock = listening_socket(args.port)
    port = int(sock.getsockname()[1])
    info: dict[str, Any] = sandbox.credentials_for(f"http://127.0.0.1:{port}").to_json()
    info.update(customer_id=customer_id, fill=args.fill, fill_seconds=fill_s, port=port)
    announce(info)
    config = server_config(sandbox.app, http=args.http, loop=args.loop, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
