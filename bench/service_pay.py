"""Pay an invoice end to end through the service, beside the same Clover calls made
straight from ``cloverpay.api``, with 32 concurrent payers over real sockets.

One flow (a "payer" repeats it in a closed loop, on its own keep-alive connections):

* **service**: ``POST /v1/invoices`` (one line item, 10.00) → ``POST
  /v1/invoices/{id}/open`` (the service creates the Clover order) → ``POST /v1/tokens``
  at the sandbox (the payer's browser gets the ``clv_`` token from Clover, not from us)
  → ``POST /v1/invoices/{id}/pay`` with the token (the service commits the intent,
  pays the order, records the payment, answers 200 ``succeeded``). Every POST to the
  service carries an ``Idempotency-Key``, as a careful CRM would send.
* **direct**: the same Clover calls from ``cloverpay.api.AsyncCloverClient`` (one
  shared ``httpx.AsyncClient``): ``orders.create`` → ``tokens.create`` →
  ``orders.pay`` (with an idempotency key).
* **floor** (on unless ``--no-floor``): the same three service requests, from the same
  payers, to ``bench/_floor_server.py`` (as many processes as the service): FastAPI
  routes with pydantic bodies under the same uvicorn set-up, making the same two Clover
  calls with ``cloverpay.api``, and nothing else (no database, keys, idempotency,
  audit or outbox). What any service built this way pays at least: its throughput
  bounds the service's from above on the same machine, its added p50 from below.

Processes, all on 127.0.0.1: the sandbox (``bench/_sandbox_server.py``, one uvicorn
worker), the service (``bench/_service_server.py``: one process on SQLite; two
processes on one PostgreSQL database, the payers split between them), and this process
(the payers: raw HTTP/1.1 on asyncio streams for the service side, from
``bench/_loadgen.py``; the async client for the direct side). Service and direct rounds
alternate; medians over rounds are reported: invoices paid/s, p50 and p99 of a whole
flow, and the service's added p50 (service flow p50 − direct flow p50). The load
average is read at the start and the end of every round.

Also measured, outside the timed rounds:

* **database round trips per flow**, per request: the service app in this process
  (same code, same database kind, the same sandbox over a socket), counting statements
  (``before_cursor_execute``), transactions begun, commits and rollbacks, and pool
  check-outs (each one a ``SELECT 1`` ping on PostgreSQL: ``pool_pre_ping``);
* **where the time goes** (``--profile``): the service process samples its own
  threads' stacks every 2 ms (``_service_server.py --sample``, standard library only)
  during one extra service round; the samples of request threads are split into
  database driver (including waiting for the database), the Clover call (httpx,
  including waiting for the sandbox), SQLAlchemy, FastAPI/Starlette/pydantic, our code.

After each back end: every flow the service answered ``succeeded`` has exactly one
payment row and a paid invoice (counted in the database).

    .venv/bin/python bench/service_pay.py [--quick] [--seconds 10] [--rounds 3]
        [--concurrency 32] [--no-sqlite] [--no-postgres] [--profile] [--json PATH]

``--quick`` (< 60 s): one round of 3 s per side and back end, no profile.
Goals: the service adds ≤ 5 ms p50 over the direct path; ≥ 300 invoices/s on
PostgreSQL with two service processes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _loadgen import Server, _new_loop, read_response, start_server

HERE = Path(__file__).parent
PY = sys.executable
CARD = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2031", "cvv": "123"}
PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"


# --------------------------------------------------------------------------- set-up


def fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


@dataclass
class Backend:
    name: str
    url: str
    processes: int
    drop: Callable[[], None] = lambda: None


def sqlite_backend(tmp: str) -> Backend:
    return Backend("sqlite", f"sqlite:///{tmp}/bench.db", 1)


def pg_backend(processes: int) -> Backend:
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")

    def drop() -> None:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")

    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    return Backend("postgres", url, processes, drop)


def prepare_db(backend: Backend, key: str, sandbox: dict[str, Any]) -> str:
    """Migrate, connect the sandbox's merchant, make an API key; returns its secret."""
    from cloverpay.service.core.config import Settings
    from cloverpay.service.migrate import upgrade
    from cloverpay.service.services import ServiceContext
    from cloverpay.service.services.merchants import connect_merchant, create_api_key

    upgrade(backend.url)
    ctx = ServiceContext.build(Settings(database_url=backend.url, secret_key=key))
    try:
        m = connect_merchant(
            ctx,
            name="Bench Plumbing",
            clover_merchant_id=sandbox["merchant_id"],
            access_token=sandbox["access_token"],
            pakms_key=sandbox["api_access_key"],
            clover_base_url=sandbox["base_url"],
        )
        return create_api_key(ctx, m.id).secret
    finally:
        ctx.close()


def start_service(
    backend: Backend,
    key: str,
    sample: str | None = None,
    pythonpath: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Server:
    env = {**os.environ, "DATABASE_URL": backend.url, "CLOVERPAY_SECRET_KEY": key}
    if pythonpath:  # another version of the service (``--baseline-src``)
        env["PYTHONPATH"] = pythonpath
    env.update(SERVICE_ENV)
    env.update(extra_env or {})
    argv = [PY, str(HERE / "_service_server.py")]
    if sample:
        argv += ["--sample", sample]
    return start_server(argv, env=env, timeout=120)


def start_floor(sandbox_srv: Server) -> Server:
    """The floor (``_floor_server.py``): the three endpoints with only the Clover calls."""
    env = {**os.environ, "FLOOR_SANDBOX": json.dumps(sandbox_srv.info)}
    return start_server([PY, str(HERE / "_floor_server.py")], env=env, timeout=120)


# --------------------------------------------------------------------------- payers


class Conn:
    """One keep-alive HTTP/1.1 connection (raw bytes, as in ``_loadgen``)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.host = f"127.0.0.1:{port}"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        raw = json.dumps(body).encode() if body is not None else b""
        head = f"{method} {path} HTTP/1.1\r\nhost: {self.host}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()
        )
        if method == "POST":
            head += f"content-type: application/json\r\ncontent-length: {len(raw)}\r\n"
        data = head.encode() + b"\r\n" + raw
        for retry in (False, True):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            assert self.reader is not None
            self.writer.write(data)
            try:
                status, out = await read_response(self.reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                # The server closed an idle keep-alive connection: send again on a new
                # one (token creation is replay-safe; our POSTs carry Idempotency-Key).
                self.close()
                self.writer = None
                if retry:
                    raise
                continue
            return status, json.loads(out) if out else None
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@dataclass
class Round:
    side: str
    flows: int = 0
    wall_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    steps: dict[str, list[float]] = field(default_factory=dict)
    load: tuple[float, float] = (0.0, 0.0)
    client_cpu_s: float = 0.0
    server_cpu_s: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def per_s(self) -> float:
        return self.flows / self.wall_s if self.wall_s else 0.0

    def pct(self, p: float, xs: list[float] | None = None) -> float:
        data = sorted(self.latencies if xs is None else xs)
        if not data:
            return float("nan")
        return data[min(len(data) - 1, int(p / 100 * len(data)))]


class Timer:
    def __init__(self, rnd: Round, stop_at: float) -> None:
        self.rnd = rnd
        self.stop_at = stop_at
        self.t = time.perf_counter()

    def step(self, name: str) -> None:
        now = time.perf_counter()
        if now <= self.stop_at:
            self.rnd.steps.setdefault(name, []).append(now - self.t)
        self.t = now


class ServicePayers:
    def __init__(self, ports: list[int], sandbox_port: int, api_key: str, pakms: str) -> None:
        self.ports = ports
        self.sandbox_port = sandbox_port
        self.auth = {"authorization": f"Bearer {api_key}"}
        self.pakms = pakms
        self.succeeded = 0  # every flow answered 200 succeeded, measured or not

    async def flow(self, svc: Conn, sbx: Conn, tm: Timer) -> None:
        def h() -> dict[str, str]:
            return {**self.auth, "idempotency-key": uuid.uuid4().hex}

        body = {"line_items": [{"description": "Drain repair", "quantity": 1, "unit_amount": 1000}]}
        st, inv = await svc.request("POST", "/v1/invoices", h(), body)
        if st != 201:
            raise RuntimeError(f"create invoice: {st} {inv}")
        tm.step("create")
        st, out = await svc.request("POST", f"/v1/invoices/{inv['id']}/open", h(), {})
        if st != 200:
            raise RuntimeError(f"open: {st} {out}")
        tm.step("open")
        st, tok = await sbx.request("POST", "/v1/tokens", {"apikey": self.pakms}, {"card": CARD})
        if st != 200:
            raise RuntimeError(f"token: {st} {tok}")
        tm.step("token")
        st, out = await svc.request(
            "POST",
            f"/v1/invoices/{inv['id']}/pay",
            {**h(), "x-forwarded-for": "203.0.113.7"},
            {"token": tok["id"]},
        )
        if st != 200 or out.get("state") != "succeeded":
            raise RuntimeError(f"pay: {st} {out}")
        tm.step("pay")
        self.succeeded += 1

    async def run(self, rnd: Round, concurrency: int, seconds: float) -> None:
        start = time.perf_counter()
        stop_at = start + seconds

        async def payer(i: int) -> None:
            svc = Conn(self.ports[i % len(self.ports)])
            sbx = Conn(self.sandbox_port)
            try:
                while time.perf_counter() < stop_at:
                    t0 = time.perf_counter()
                    await self.flow(svc, sbx, Timer(rnd, stop_at))
                    done = time.perf_counter()
                    if done <= stop_at:
                        rnd.flows += 1
                        rnd.latencies.append(done - t0)
            finally:
                svc.close()
                sbx.close()

        await asyncio.gather(*(payer(i) for i in range(concurrency)))
        rnd.wall_s = min(time.perf_counter(), stop_at) - start


class DirectPayers:
    def __init__(self, sandbox: dict[str, Any], concurrency: int) -> None:
        self.sandbox = sandbox
        self.concurrency = concurrency

    async def run(self, rnd: Round, concurrency: int, seconds: float) -> None:
        import httpx

        from cloverpay.api import AsyncCloverClient

        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=30) as http:
            client = AsyncCloverClient(
                self.sandbox["access_token"],
                merchant_id=self.sandbox["merchant_id"],
                api_access_key=self.sandbox["api_access_key"],
                base_url=self.sandbox["base_url"],
                client_ip="203.0.113.7",
                http_client=http,
                rate_limit=None,
            )
            start = time.perf_counter()
            stop_at = start + seconds
            item = {"type": "sku", "amount": 1000, "quantity": 1, "description": "Drain repair"}

            async def payer() -> None:
                while time.perf_counter() < stop_at:
                    t0 = time.perf_counter()
                    tm = Timer(rnd, stop_at)
                    order = await client.orders.create(currency="usd", items=[{**item}])  # type: ignore[list-item]
                    tm.step("order")
                    tok = await client.tokens.create(card=CARD)  # type: ignore[arg-type]
                    tm.step("token")
                    paid = await client.orders.pay(
                        order.id, idempotency_key=str(uuid.uuid4()), source=tok.id
                    )
                    if not paid.charge:
                        raise RuntimeError(f"direct pay without a charge: {paid}")
                    tm.step("pay")
                    done = time.perf_counter()
                    if done <= stop_at:
                        rnd.flows += 1
                        rnd.latencies.append(done - t0)

            await asyncio.gather(*(payer() for _ in range(concurrency)))
            rnd.wall_s = min(time.perf_counter(), stop_at) - start


def timed_round(
    side: str, payers: Any, concurrency: int, seconds: float, servers: list[Server]
) -> Round:
    rnd = Round(side)
    load0 = os.getloadavg()[0]
    cpu0 = time.process_time()
    srv0 = sum(s.cpu_s() for s in servers)
    _new_loop().run_until_complete(payers.run(rnd, concurrency, seconds))
    rnd.client_cpu_s = time.process_time() - cpu0
    rnd.server_cpu_s = sum(s.cpu_s() for s in servers) - srv0
    rnd.load = (load0, os.getloadavg()[0])
    return rnd


# --------------------------------------------------------------------------- round trips


def count_round_trips(backend: Backend, key: str, api_key: str) -> dict[str, dict[str, int]]:
    """One flow through the app in this process, counting database work per request."""
    import httpx
    from fastapi.testclient import TestClient
    from sqlalchemy import event

    from cloverpay.service.api import create_app
    from cloverpay.service.core.config import Settings
    from cloverpay.service.services import ServiceContext

    settings = Settings(database_url=backend.url, secret_key=key)
    ctx = ServiceContext.build(settings, rate_limit=False)
    counts: Counter[str] = Counter()
    engine = ctx.engine

    show = os.environ.get("BENCH_SQL") == "1"  # print every statement, per request

    @event.listens_for(engine, "before_cursor_execute")
    def _stmt(_conn: Any, _cur: Any, statement: str, *_a: Any) -> None:
        counts["statements"] += 1
        if show:
            print("   SQL", " ".join(statement.split())[:160])

    @event.listens_for(engine, "begin")
    def _begin(*_a: Any) -> None:
        counts["begin"] += 1

    @event.listens_for(engine, "commit")
    def _commit(*_a: Any) -> None:
        counts["commit"] += 1

    @event.listens_for(engine, "rollback")
    def _rollback(*_a: Any) -> None:
        counts["rollback"] += 1

    @event.listens_for(engine.pool, "checkout")
    def _checkout(*_a: Any) -> None:
        counts["checkout"] += 1

    # PostgreSQL: what psycopg sends, one round trip each (a statement, the pool's
    # ping, BEGIN, COMMIT, ROLLBACK); a statement in autocommit mode has no BEGIN/COMMIT
    # although SQLAlchemy's events still report them.
    patched: list[tuple[Any, str, Any]] = []
    if backend.name == "postgres":
        import psycopg

        def wrap(owner: Any, name: str) -> None:
            orig = getattr(owner, name)

            def counted(*a: Any, **kw: Any) -> Any:
                counts["pg"] += 1
                return orig(*a, **kw)

            patched.append((owner, name, orig))
            setattr(owner, name, counted)

        wrap(psycopg.Connection, "_exec_command")
        wrap(psycopg.Cursor, "execute")
        wrap(psycopg.Cursor, "executemany")

    out: dict[str, dict[str, int]] = {}
    try:
        app = create_app(context=ctx)
        with TestClient(app) as c:
            auth = {"authorization": f"Bearer {api_key}"}

            def post(name: str, path: str, body: Any, extra: dict[str, str] | None = None) -> Any:
                counts.clear()
                if show:
                    print(" ", name)
                headers = {**auth, "idempotency-key": uuid.uuid4().hex, **(extra or {})}
                r = c.post(path, json=body, headers=headers)
                assert r.status_code < 300, r.text
                out[name] = dict(counts)
                return r.json()

            for _ in range(2):  # the second flow is the one kept (warm caches)
                body = {"line_items": [{"description": "x", "quantity": 1, "unit_amount": 1000}]}
                inv = post("create", "/v1/invoices", body)
                post("open", f"/v1/invoices/{inv['id']}/open", {})
                with httpx.Client(base_url=ctx_sandbox_url(ctx, backend)) as h:
                    tok = h.post(
                        "/v1/tokens", json={"card": CARD}, headers={"apikey": _PAKMS[0]}
                    ).json()
                post("pay", f"/v1/invoices/{inv['id']}/pay", {"token": tok["id"]})
    finally:
        for owner, name, orig in patched:
            setattr(owner, name, orig)
        ctx.close()
    return out


_PAKMS: list[str] = [""]
#: Extra settings for the service processes (``--no-pre-ping``, ``--pool-size``).
SERVICE_ENV: dict[str, str] = {}
_SANDBOX_URL: list[str] = [""]


def ctx_sandbox_url(_ctx: Any, _backend: Backend) -> str:
    return _SANDBOX_URL[0]


def round_trips_total(counts: dict[str, int], dialect: str) -> int:
    """PostgreSQL: what psycopg sent (statements, pings, BEGIN, COMMIT, ROLLBACK).
    SQLite: statements + commits + rollbacks + BEGINs (its BEGIN IMMEDIATE is a
    statement of our own, counted once in ``begin``, not in ``statements``)."""
    if "pg" in counts:
        return counts["pg"]
    n = counts.get("statements", 0) + counts.get("commit", 0) + counts.get("rollback", 0)
    n += counts.get("begin", 0)
    if dialect == "postgres":
        n += counts.get("checkout", 0)
    return n


# --------------------------------------------------------------------------- profile

#: What ``--cprofile`` reports: (label, a regular expression on cProfile's function keys).
CPU_PARTS = [
    ("pay route (intent + call + settle + answer)", r"routes/invoices.py:\d+\(pay\)"),
    ("  pay_invoice: intent transaction", r"services/payments.py:\d+\(pay_invoice\)"),
    ("  settle_charge: settle transaction", r"services/payments.py:\d+\(settle_charge\)"),
    ("  send_charge: the Clover call", r"clover_calls.py:\d+\(send_charge\)"),
    ("  attempt_response: the answer", r"routes/invoices.py:\d+\(attempt_response\)"),
    ("open route (order at Clover)", r"routes/invoices.py:\d+\(open_invoice\)"),
    ("create route", r"routes/invoices.py:\d+\(create_invoice\)"),
    ("Idempotency-Key: authenticate + claim", r"idempotency.py:\d+\(_begin\)"),
    ("Idempotency-Key: store the answer", r"idempotency.py:\d+\(_finish\)"),
    ("all SQLAlchemy session commits", r"sqlalchemy/orm/session.py:\d+\(commit\)"),
    ("all cloverpay.api requests", r"cloverpay/api/_client.py:\d+\(_request\)"),
]


def cpu_profile(backend: Backend, key: str, api_key: str, flows: int) -> dict[str, float]:
    """``flows`` flows one after another through the app in this process, its worker
    threads run inline so cProfile (CPU clock) sees all of it: CPU ms per flow, by part.
    cProfile roughly doubles the CPU of what it measures; compare the parts."""
    import cProfile
    import pstats
    import re

    import anyio.to_thread
    import httpx

    from cloverpay.service.api import create_app
    from cloverpay.service.core.config import Settings
    from cloverpay.service.services import ServiceContext

    async def inline(func: Any, *args: Any, **_kw: Any) -> Any:
        return func(*args)

    saved = anyio.to_thread.run_sync
    anyio.to_thread.run_sync = inline  # type: ignore[assignment]
    ctx = ServiceContext.build(Settings(database_url=backend.url, secret_key=key), rate_limit=False)
    prof = cProfile.Profile(time.process_time)
    try:
        app = create_app(context=ctx)
        sandbox = httpx.Client(base_url=_SANDBOX_URL[0])
        auth = {"authorization": f"Bearer {api_key}"}

        async def run() -> None:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://svc") as c:

                async def post(path: str, body: Any) -> Any:
                    h = {**auth, "idempotency-key": uuid.uuid4().hex}
                    r = await c.post(path, json=body, headers=h)
                    assert r.status_code < 300, r.text
                    return r.json()

                for i in range(flows + 3):
                    if i == 3:
                        prof.enable()
                    items = [{"description": "x", "quantity": 1, "unit_amount": 1000}]
                    inv = await post("/v1/invoices", {"line_items": items})
                    await post(f"/v1/invoices/{inv['id']}/open", {})
                    # blocking on purpose: one flow at a time, nothing else runs
                    tok = sandbox.post(  # noqa: ASYNC212
                        "/v1/tokens", json={"card": CARD}, headers={"apikey": _PAKMS[0]}
                    ).json()
                    await post(f"/v1/invoices/{inv['id']}/pay", {"token": tok["id"]})
                prof.disable()

        asyncio.run(run())
        sandbox.close()
    finally:
        anyio.to_thread.run_sync = saved  # type: ignore[assignment]
        ctx.close()
    dump = os.environ.get("BENCH_PSTATS")
    if dump:  # the whole profile, for pstats / snakeviz: <path>.<back end>
        prof.dump_stats(f"{dump}.{backend.name}")
    stats = pstats.Stats(prof)
    out = {"total (incl. the in-process client)": stats.total_tt / flows * 1e3}  # type: ignore[attr-defined]
    for label, pattern in CPU_PARTS:
        rx = re.compile(pattern)
        out[label] = (
            sum(
                v[3]
                for k, v in stats.stats.items()
                if rx.search(f"{k[0]}:{k[1]}({k[2]})")  # type: ignore[attr-defined]
            )
            / flows
            * 1e3
        )
    return out


def summarise_profile(paths: list[str]) -> dict[str, Any]:
    stacks: Counter[str] = Counter()
    samples = connects = 0
    for p in paths:
        data = json.loads(Path(p).read_text())
        samples += data["samples"]
        connects += data.get("db_connects", 0)
        stacks.update(data["stacks"])
    cats: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    main_busy = main_total = idle = 0
    for stack, n in stacks.items():
        frames = stack.split(";")
        in_request = any(f.startswith(("fastapi.", "starlette.", "cloverpay.")) for f in frames)
        if "anyio._backends._asyncio:run" in frames and "threading:_bootstrap" in frames[:2]:
            if not in_request:
                idle += n
                continue
            cats[_category(frames)] += n
            leaf[frames[-1]] += n
        elif frames and frames[0].endswith(":<module>"):
            main_total += n
            if in_request or any(f.startswith("uvicorn.protocols") for f in frames):
                main_busy += n
                cats["event loop: " + _category(frames)] += n
                leaf[frames[-1]] += n
    busy = sum(cats.values())
    return {
        "samples": samples,
        "db_connects": connects,
        "request_samples": busy,
        "categories": {k: round(v / busy, 3) for k, v in cats.most_common() if busy},
        "top_leaves": [(k, round(v / busy, 3)) for k, v in leaf.most_common(15) if busy],
        "event_loop_busy": round(main_busy / main_total, 3) if main_total else None,
        "worker_threads_idle": round(idle / (idle + busy), 3) if idle + busy else None,
    }


def _category(frames: list[str]) -> str:
    joined = ";".join(frames)
    if "sqlalchemy.pool" in joined and frames[-1] == "threading:wait":
        return "waiting for a pooled database connection"
    if any(
        m in joined
        for m in ("default:do_execute", "default:do_commit", "default:do_rollback", "psycopg")
    ) or any(f.startswith(("sqlalchemy.pool", "sqlalchemy.engine.create")) for f in frames[-6:]):
        return "database driver (incl. waiting for the server / SQLite's write lock)"
    if "httpcore" in joined or "h11" in joined:
        return "Clover call (httpx/httpcore, incl. waiting for the sandbox)"
    last = frames[-1]
    if last.startswith("sqlalchemy"):
        return "SQLAlchemy (Python)"
    if last.startswith(("fastapi", "starlette", "pydantic", "anyio")):
        return "FastAPI/Starlette/pydantic/anyio"
    if last.startswith("cryptography"):
        return "Fernet (token decryption)"
    if last.startswith("cloverpay.api"):
        return "cloverpay.api client"
    if last.startswith("cloverpay"):
        return "service code"
    if last.startswith(("httpx",)):
        return "httpx (Python)"
    return "other Python"


# --------------------------------------------------------------------------- main


def summarise(rounds: list[Round]) -> dict[str, Any]:
    steps: dict[str, float] = {}
    for name in rounds[0].steps:
        steps[name] = statistics.median(r.pct(50, r.steps.get(name, [])) * 1e3 for r in rounds)
    return {
        "per_s": statistics.median(r.per_s for r in rounds),
        "p50_ms": statistics.median(r.pct(50) * 1e3 for r in rounds),
        "p99_ms": statistics.median(r.pct(99) * 1e3 for r in rounds),
        "flows": sum(r.flows for r in rounds),
        "step_p50_ms": steps,
        "server_cpu_ms_per_flow": statistics.median(
            r.server_cpu_s / r.flows * 1e3 for r in rounds if r.flows
        ),
        "client_cpu_ms_per_flow": statistics.median(
            r.client_cpu_s / r.flows * 1e3 for r in rounds if r.flows
        ),
        "loadavg": [min(min(r.load) for r in rounds), max(max(r.load) for r in rounds)],
    }


def check_books(backend: Backend, expected: int) -> dict[str, int]:
    from sqlalchemy import func, select

    from cloverpay.service.db import Invoice, Payment, PaymentAttempt, make_engine

    engine = make_engine(backend.url)
    try:
        with engine.connect() as conn:
            payments = conn.scalar(select(func.count()).select_from(Payment)) or 0
            paid = conn.scalar(
                select(func.count()).select_from(Invoice).where(Invoice.status == "paid")
            )
            open_attempts = conn.scalar(
                select(func.count())
                .select_from(PaymentAttempt)
                .where(PaymentAttempt.state.in_(("pending", "unknown")))
            )
    finally:
        engine.dispose()
    books = {"expected": expected, "payments": payments, "paid_invoices": paid or 0}
    books["open_attempts"] = open_attempts or 0
    if payments != expected or paid != expected or open_attempts:
        raise RuntimeError(f"{backend.name}: the books do not add up: {books}")
    return books


def run_backend(
    backend: Backend,
    sandbox_srv: Server,
    args: argparse.Namespace,
    key: str,
) -> dict[str, Any]:
    info = sandbox_srv.info
    api_key = prepare_db(backend, key, info)
    trips = count_round_trips(backend, key, api_key)
    cpu = cpu_profile(backend, key, api_key, args.cprofile) if args.cprofile else None
    servers = [start_service(backend, key) for _ in range(backend.processes)]
    base_env = dict(kv.split("=", 1) for kv in args.baseline_env)
    base_servers = (
        [
            start_service(backend, key, pythonpath=args.baseline_src, extra_env=base_env)
            for _ in range(backend.processes)
        ]
        if args.baseline_src or base_env
        else []
    )
    floor_servers = (
        [start_floor(sandbox_srv) for _ in range(backend.processes)] if args.floor else []
    )
    result: dict[str, Any] = {"processes": backend.processes}
    if cpu is not None:
        result["cpu_profile_ms_per_flow"] = cpu
    pakms = info["api_access_key"]
    svc = ServicePayers([s.port for s in servers], sandbox_srv.port, api_key, pakms)
    base = ServicePayers([s.port for s in base_servers], sandbox_srv.port, api_key, pakms)
    direct = DirectPayers(info, args.concurrency)
    sides: dict[str, tuple[Any, list[Server]]] = {
        "service": (svc, [*servers, sandbox_srv]),
        "direct": (direct, [sandbox_srv]),
    }
    if base_servers:
        sides["baseline"] = (base, [*base_servers, sandbox_srv])
    if floor_servers:
        floor = ServicePayers([s.port for s in floor_servers], sandbox_srv.port, api_key, pakms)
        sides["floor"] = (floor, [*floor_servers, sandbox_srv])
    try:
        # warm-up: connections, caches, the first pages of code
        for payers, srvs in sides.values():
            timed_round("warm-up", payers, args.concurrency, 1.0, srvs)
        rounds: dict[str, list[Round]] = {side: [] for side in sides}
        names = list(sides)
        for i in range(args.rounds):
            order = names[i % len(names) :] + names[: i % len(names)]
            for side in order:
                payers, srvs = sides[side]
                rnd = timed_round(side, payers, args.concurrency, args.seconds, srvs)
                rounds[side].append(rnd)
                print(
                    f"  {backend.name} {side:8s} {rnd.per_s:7.1f}/s p50 {rnd.pct(50) * 1e3:6.1f} ms"
                    f" p99 {rnd.pct(99) * 1e3:6.1f} ms  load {rnd.load[0]:.1f}-{rnd.load[1]:.1f}",
                    flush=True,
                )
        for side in sides:
            result[side] = summarise(rounds[side])
        # one payer: the flow's latency without queueing behind 31 others
        single: dict[str, list[Round]] = {side: [] for side in sides}
        for i in range(max(1, args.rounds)):
            for side in names if i % 2 == 0 else names[::-1]:
                payers, srvs = sides[side]
                single[side].append(timed_round(side, payers, 1, args.single_seconds, srvs))
        for side in sides:
            result[side]["one_payer"] = summarise(single[side])
        result["one_payer_added_p50_ms"] = (
            result["service"]["one_payer"]["p50_ms"] - result["direct"]["one_payer"]["p50_ms"]
        )
        result["added_p50_ms"] = result["service"]["p50_ms"] - result["direct"]["p50_ms"]
        for extra in ("baseline", "floor"):
            if extra in result:
                result[f"{extra}_added_p50_ms"] = (
                    result[extra]["p50_ms"] - result["direct"]["p50_ms"]
                )
                result[f"{extra}_one_payer_added_p50_ms"] = (
                    result[extra]["one_payer"]["p50_ms"] - result["direct"]["one_payer"]["p50_ms"]
                )
        result["round_trips"] = {
            name: {**c, "total": round_trips_total(c, backend.name)} for name, c in trips.items()
        }
    finally:
        for s in [*servers, *base_servers, *floor_servers]:
            s.stop()
    # + the two flows of count_round_trips and those of --cprofile
    expected = svc.succeeded + base.succeeded + 2 + (args.cprofile + 3 if args.cprofile else 0)
    result["books"] = check_books(backend, expected)
    if args.profile:
        result["profile"] = profile_round(backend, key, api_key, sandbox_srv, args)
    return result


def profile_round(
    backend: Backend, key: str, api_key: str, sandbox_srv: Server, args: argparse.Namespace
) -> dict[str, Any]:
    tmp = tempfile.mkdtemp(prefix="cloverpay-prof-")
    paths = [f"{tmp}/sample-{i}.json" for i in range(backend.processes)]
    servers = [start_service(backend, key, sample=p) for p in paths]
    try:
        svc = ServicePayers(
            [s.port for s in servers], sandbox_srv.port, api_key, sandbox_srv.info["api_access_key"]
        )
        timed_round("service", svc, args.concurrency, 1.0, servers)
        rnd = timed_round("service", svc, args.concurrency, args.seconds, servers)
    finally:
        for s in servers:
            s.stop()
    summary = summarise_profile(paths)
    summary["per_s"] = rnd.per_s
    summary["loadavg"] = list(rnd.load)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one 3 s round per side (< 60 s)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--pg-processes", type=int, default=2)
    parser.add_argument("--no-sqlite", dest="sqlite", action="store_false")
    parser.add_argument("--no-postgres", dest="postgres", action="store_false")
    parser.add_argument("--profile", action="store_true", help="sample the service's stacks")
    parser.add_argument(
        "--single-seconds", type=float, default=3.0, help="seconds per one-payer round"
    )
    parser.add_argument(
        "--baseline-src",
        default=None,
        help="also run the service from this source tree (PYTHONPATH) in the same rounds",
    )
    parser.add_argument(
        "--baseline-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="settings for the baseline processes only (alone: the same code, other settings)",
    )
    parser.add_argument(
        "--no-pre-ping", action="store_true", help="CLOVERPAY_DB_POOL_PRE_PING=false"
    )
    parser.add_argument("--pool-size", type=int, default=None, help="CLOVERPAY_DB_POOL_SIZE")
    parser.add_argument("--threads", type=int, default=None, help="worker threads per process")
    parser.add_argument(
        "--cprofile",
        type=int,
        default=0,
        metavar="N",
        help="also N flows in-process under cProfile (CPU clock): CPU ms per flow by part "
        "(BENCH_PSTATS=PATH also writes the whole profile to PATH.<back end>)",
    )
    parser.add_argument(
        "--no-floor",
        dest="floor",
        action="store_false",
        help="leave out the floor (_floor_server.py: the endpoints with only the Clover calls)",
    )
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds, args.profile, args.single_seconds = 3.0, 1, False, 2.0
    if args.no_pre_ping:
        SERVICE_ENV["CLOVERPAY_DB_POOL_PRE_PING"] = "false"
    if args.pool_size:
        SERVICE_ENV["CLOVERPAY_DB_POOL_SIZE"] = str(args.pool_size)
    if args.threads:
        SERVICE_ENV["BENCH_THREADS"] = str(args.threads)

    started = time.monotonic()
    machine = {
        "nproc": os.cpu_count(),
        "python": sys.version.split()[0],
        "loadavg_start": os.getloadavg(),
        "command": " ".join(sys.argv),
    }
    key = fernet_key()
    sandbox_srv = start_server([PY, str(HERE / "_sandbox_server.py")])
    sandbox_srv.info["base_url"] = f"http://127.0.0.1:{sandbox_srv.port}"
    _PAKMS[0] = sandbox_srv.info["api_access_key"]
    _SANDBOX_URL[0] = sandbox_srv.info["base_url"]
    results: dict[str, Any] = {"machine": machine, "concurrency": args.concurrency}
    tmp = tempfile.mkdtemp(prefix="cloverpay-bench-")
    try:
        backends: list[Backend] = []
        if args.sqlite:
            backends.append(sqlite_backend(tmp))
        if args.postgres:
            backends.append(pg_backend(args.pg_processes))
        for backend in backends:
            print(f"{backend.name}: {backend.processes} service process(es)", flush=True)
            try:
                results[backend.name] = run_backend(backend, sandbox_srv, args, key)
            finally:
                backend.drop()
    finally:
        sandbox_srv.stop()
    machine["loadavg_end"] = os.getloadavg()
    machine["seconds"] = round(time.monotonic() - started, 1)
    report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))


def report(results: dict[str, Any]) -> None:
    m = results["machine"]
    print(
        f"\nnproc {m['nproc']}, Python {m['python']}, load average "
        f"{m['loadavg_start'][0]:.1f} -> {m['loadavg_end'][0]:.1f}, {m['seconds']} s"
    )
    print(
        f"{'back end':10s} {'side':8s} {'inv/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} "
        f"{'srv CPU ms':>10s}  load"
    )
    for name in ("sqlite", "postgres"):
        r = results.get(name)
        if not r:
            continue
        for side in ("service", "baseline", "floor", "direct"):
            if side not in r:
                continue
            s = r[side]
            print(
                f"{name:10s} {side:8s} {s['per_s']:8.1f} {s['p50_ms']:8.1f} {s['p99_ms']:8.1f} "
                f"{s['server_cpu_ms_per_flow']:10.2f}  {s['loadavg'][0]:.1f}-{s['loadavg'][1]:.1f}"
            )
        one = {k: r[k]["one_payer"] for k in ("service", "baseline", "floor", "direct") if k in r}
        print(
            f"{'':10s} one payer, p50 ms: "
            + ", ".join(f"{k} {v['p50_ms']:.1f} (p99 {v['p99_ms']:.1f})" for k, v in one.items())
            + f"; added {r['one_payer_added_p50_ms']:+.1f} ms; steps: service "
            f"{fmt(one['service']['step_p50_ms'])}, direct {fmt(one['direct']['step_p50_ms'])}"
        )
        if "baseline" in r:
            print(
                f"{'':10s} baseline added p50: {r['baseline_added_p50_ms']:+.1f} ms; "
                f"steps {fmt(r['baseline']['step_p50_ms'])}"
            )
        if "floor" in r:
            print(
                f"{'':10s} floor added p50: {r['floor_added_p50_ms']:+.1f} ms (one payer "
                f"{r['floor_one_payer_added_p50_ms']:+.1f} ms); "
                f"steps {fmt(r['floor']['step_p50_ms'])}"
            )
        print(
            f"{'':10s} added p50: {r['added_p50_ms']:+.1f} ms; steps (p50 ms): "
            f"service {fmt(r['service']['step_p50_ms'])}, direct {fmt(r['direct']['step_p50_ms'])}"
        )
        trips = r["round_trips"]
        print(
            f"{'':10s} DB work per request: "
            + "; ".join(
                f"{k} {v['total']} (stmts {v.get('statements', 0)}, commits {v.get('commit', 0)}, "
                f"checkouts {v.get('checkout', 0)})"
                for k, v in trips.items()
            )
        )
        print(f"{'':10s} books: {r['books']}")
        if "cpu_profile_ms_per_flow" in r:
            print(f"{'':10s} cProfile, CPU ms per flow (sequential, in-process):")
            for k, v in r["cpu_profile_ms_per_flow"].items():
                print(f"{'':12s}{v:7.1f}  {k}")
        if "profile" in r:
            p = r["profile"]
            print(
                f"{'':10s} profile ({p['request_samples']} request samples, "
                f"{p['per_s']:.0f}/s, event loop busy {p['event_loop_busy']}, "
                f"{p['db_connects']} DB connections opened):"
            )
            for k, v in p["categories"].items():
                print(f"{'':12s}{v:6.1%}  {k}")
            for k, v in p["top_leaves"][:8]:
                print(f"{'':12s}{v:6.1%}  leaf {k}")


def fmt(steps: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.1f}" for k, v in steps.items())


if __name__ == "__main__":
    main()
