"""Webhook intake: verified, deduplicated, persisted Hosted Checkout webhooks per second
on PostgreSQL, over a real socket (uvicorn), with a concurrent load generator.

Every request is a Hosted Checkout webhook signed with the merchant's secret (HMAC
verified against the secret decrypted from the database), inserted into
``webhook_inbox`` with ``ON CONFLICT DO NOTHING``; a share of the requests are exact
redeliveries of earlier events (``--dup``), which the unique ``event_key`` absorbs.
Processing (fetching from Clover, applying) is not part of intake and is not run.

    python bench/service_webhooks.py [--procs 1] [--concurrency 32] [--duration 10]
                                     [--dup 0.2] [--db postgresql://postgres@127.0.0.1/test]

``--procs`` service processes share one port (SO_REUSEPORT). Prints JSON: events/s
(new rows), requests/s, p50/p99, CPU of server and load generator, load average.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import sys
import uuid
from itertools import cycle
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))

from _loadgen import Server, render, run_load, settle_heap_as_serve_does, start_server

SECRET = "bench-signing-secret-" + "x" * 24
FERNET = "uQ9b1mNBv2o8Lq5e6QHcV1S2Wf5GxqYtqj7ZyB8m3kU="


def _url(db: str, schema: str) -> str:
    sep = "&" if "?" in db else "?"
    return f"{db}{sep}options=-csearch_path%3D{schema}"


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from cloverpay.service.api import create_app
    from cloverpay.service.core.config import Settings
    from cloverpay.service.services import ServiceContext

    settings = Settings(database_url=args.url, env="test", secret_key=FERNET, db_pool_size=20)
    ctx = ServiceContext.build(settings)
    app = create_app(context=ctx)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", args.port))
    print(json.dumps({"port": args.port, "pid": os.getpid()}), flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    settle_heap_as_serve_does()
    uvicorn.Server(config).run(sockets=[sock])


def _setup(db: str) -> tuple[str, str, str, str]:
    import psycopg

    from cloverpay.service.core.config import Settings
    from cloverpay.service.migrate import upgrade
    from cloverpay.service.services import ServiceContext
    from cloverpay.service.services.merchants import connect_merchant
    from cloverpay.service.webhooks import set_checkout_signing_secret

    schema = f"bench_wh_{uuid.uuid4().hex[:8]}"
    dsn = db.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    url = _url(db, schema)
    upgrade(url)
    ctx = ServiceContext.build(Settings(database_url=url, env="test", secret_key=FERNET))
    merchant = connect_merchant(
        ctx, name="Bench", clover_merchant_id="BENCHMERCHANT", access_token="t"
    )
    set_checkout_signing_secret(ctx, merchant.id, SECRET, actor="bench")
    ctx.close()
    return url, schema, merchant.id, dsn


def _requests(merchant_id: str, n: int, dup: float, host: str) -> list[bytes]:
    from cloverpay.api import build_checkout_webhook

    rng = random.Random(7)
    out: list[bytes] = []
    made: list[bytes] = []
    for i in range(n):
        if made and rng.random() < dup:
            out.append(rng.choice(made))
            continue
        body, headers = build_checkout_webhook(
            secret=SECRET,
            payment_id=f"P{i:012d}",
            merchant_id="BENCHMERCHANT",
            checkout_session_id=str(uuid.UUID(int=rng.getrandbits(128))),
        )
        raw = render("POST", f"/webhooks/clover/checkout/{merchant_id}", host, headers, body)()
        made.append(raw)
        out.append(raw)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--db", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--procs", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--dup", type=float, default=0.2)
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return

    import psycopg

    url, schema, merchant_id, dsn = _setup(args.db)
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    servers: list[Server] = [
        start_server(
            [sys.executable, __file__, "--serve", "--url", url, "--port", str(port)],
            timeout=120,
        )
        for _ in range(args.procs)
    ]
    try:
        expected = int(args.duration * 4000) + 1000
        pool = _requests(merchant_id, expected, args.dup, f"127.0.0.1:{port}")
        it = cycle(pool)
        first = servers[0]
        # warm-up: connections, imports, the pool
        run_load(first, lambda: next(it), concurrency=args.concurrency, total=200)
        with psycopg.connect(dsn) as conn:
            conn.execute(f"SET search_path TO {schema}")
            before = conn.execute("SELECT count(*) FROM webhook_inbox").fetchone()
        load0 = os.getloadavg()
        cpu0 = [s.cpu_s() for s in servers]
        result = run_load(
            first, lambda: next(it), concurrency=args.concurrency, duration_s=args.duration
        )
        server_cpu = sum(s.cpu_s() - c for s, c in zip(servers, cpu0, strict=True))
        load1 = os.getloadavg()
        with psycopg.connect(dsn) as conn:
            conn.execute(f"SET search_path TO {schema}")
            after = conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE verified) FROM webhook_inbox"
            ).fetchone()
        assert before is not None
        assert after is not None
        new_rows = int(after[0]) - int(before[0])
        out: dict[str, Any] = {
            "procs": args.procs,
            "concurrency": args.concurrency,
            "duration_s": round(result.wall_s, 2),
            "requests": result.completed,
            "requests_per_s": round(result.per_s, 1),
            "new_events_persisted": new_rows,
            "events_per_s": round(new_rows / result.wall_s, 1),
            "all_verified": int(after[0]) == int(after[1]),
            "statuses": result.statuses,
            "p50_ms": round(result.pct(50) * 1000, 2),
            "p99_ms": round(result.pct(99) * 1000, 2),
            "server_cpu_s": round(server_cpu, 2),
            "loadgen_cpu_s": round(result.client_cpu_s, 2),
            "loadavg_before": [round(x, 2) for x in load0],
            "loadavg_after": [round(x, 2) for x in load1],
            "cpus": os.cpu_count(),
        }
        print(json.dumps(out, indent=2))
    finally:
        for s in servers:
            s.stop()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
