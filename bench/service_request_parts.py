"""Where one request's time goes: create, open and pay an invoice, one at a time, through
the service served by uvicorn (httptools, uvloop) in this process, over a real socket,
split into parts measured on every request:

* **statements**: time inside the database driver's ``execute`` (SQLAlchemy's
  ``before/after_cursor_execute``; on PostgreSQL the BEGIN that psycopg sends before a
  transaction's first statement is in it), the round trips and the database's work;
* **commits**: the driver's COMMIT (on PostgreSQL the WAL flush of
  ``synchronous_commit``);
* **Clover**: the sandbox answering the service's Clover calls (in process, through
  its transport: no socket; the client's own work is in the next part);
* **own code**: the rest of the route's unit of work (the service function): its own
  Python, SQLAlchemy's and the Clover client's (ORM objects, statements, answers);
* **DB outside**: statements outside the unit of work (the Idempotency-Key middleware's
  claim and stored answer for a route that does not claim its own key);
* **API**: the rest of the app's time: the middleware's own Python, FastAPI
  (dependencies, body validation, the answer's serialisation), the worker-thread hand-off;
* **HTTP**: outside the app: the HTTP client (httpx, in this process), the socket,
  uvicorn and httptools.

One payer, so nothing queues: this is the path's latency, what the ≤ 5 ms "added p50"
goal of ``service_pay.py`` is about. Also printed: the floor a durable flow cannot go
under on this database, (commits × the median commit) + (other round trips × the
median SELECT 1 round trip), measured here.

    .venv/bin/python bench/service_request_parts.py [--db postgresql://...|sqlite] [--flows 300]

PostgreSQL: a database ``cloverpay_bench_parts`` is created (dropped first) on the
server of ``--db``; SQLite: a temporary file.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import uvicorn
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from cloverpay.sandbox import Sandbox
from cloverpay.service.api import create_app
from cloverpay.service.api.routes import invoices as routes
from cloverpay.service.core.config import Settings
from cloverpay.service.db import Base, make_engine
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.merchants import connect_merchant, create_api_key

CARD = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2031", "cvv": "123"}
PARTS = ("statements", "commits", "Clover", "unit of work", "statements outside", "app")
STEPS = ("create", "open", "pay")


class Parts:
    """Seconds per part for the request running now (one at a time)."""

    def __init__(self) -> None:
        self.now = dict.fromkeys((*PARTS, "round trips", "commit count"), 0.0)
        self._local = threading.local()
        #: whether the route's unit of work is running (one request at a time)
        self.in_unit = False

    def reset(self) -> None:
        for k in self.now:
            self.now[k] = 0.0

    def watch(self, ctx: ServiceContext) -> None:
        engine = ctx.engine

        @event.listens_for(engine, "before_cursor_execute")
        def _before(*_a: Any) -> None:
            self._local.t = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def _after(*_a: Any) -> None:
            part = "statements" if self.in_unit else "statements outside"
            self.now[part] += time.perf_counter() - self._local.t
            self.now["round trips"] += 1

        commit = engine.dialect.do_commit

        def timed_commit(dbapi_conn: Any) -> None:
            t = time.perf_counter()
            commit(dbapi_conn)
            self.now["commits"] += time.perf_counter() - t
            self.now["commit count"] += 1

        engine.dialect.do_commit = timed_commit  # type: ignore[method-assign]

    def timed(self, part: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            unit = part == "unit of work"
            self.in_unit = self.in_unit or unit
            try:
                return func(*args, **kwargs)
            finally:
                self.now[part] += time.perf_counter() - t
                if unit:
                    self.in_unit = False

        return wrapper


def _database(url: str) -> str:
    if url == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp()}/parts.db"
    admin = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("DROP DATABASE IF EXISTS cloverpay_bench_parts"))
        conn.execute(text("CREATE DATABASE cloverpay_bench_parts"))
    admin.dispose()
    return str(make_url(url).set(database="cloverpay_bench_parts").render_as_string(False))


def _round_trip_floor(ctx: ServiceContext) -> tuple[float, float]:
    """(median SELECT 1 round trip, median INSERT + COMMIT minus one round trip), s."""
    selects, commits = [], []
    with ctx.engine.connect() as conn:
        # a table of the database's own (a temporary one is not in the WAL: no flush)
        conn.exec_driver_sql("CREATE TABLE parts_probe (v int)")
        conn.commit()
        for _ in range(300):
            t = time.perf_counter()
            conn.exec_driver_sql("SELECT 1").all()
            selects.append(time.perf_counter() - t)
        for _ in range(300):
            conn.exec_driver_sql("INSERT INTO parts_probe VALUES (1)")
            t = time.perf_counter()
            conn.commit()
            commits.append(time.perf_counter() - t)
        conn.exec_driver_sql("DROP TABLE parts_probe")
        conn.commit()
    return statistics.median(selects), statistics.median(commits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--flows", type=int, default=300)
    args = parser.parse_args()
    url = _database(args.db)
    with Sandbox(seed=7) as sandbox:
        settings = Settings(database_url=url, secret_key=Fernet.generate_key().decode())
        engine = make_engine(settings.database_url)
        Base.metadata.create_all(engine)
        engine.dispose()
        parts = Parts()
        transport = sandbox.sync_transport()
        # the sandbox answering the service's Clover calls (in process: its CPU is here)
        transport.handle_request = parts.timed("Clover", transport.handle_request)  # type: ignore[method-assign]
        ctx = ServiceContext.build(settings, transport=transport, retry=0, rate_limit=False)
        creds = sandbox.credentials
        merchant = connect_merchant(
            ctx,
            name="Parts",
            clover_merchant_id=creds.merchant_id,
            access_token=creds.access_token,
            pakms_key=creds.api_access_key,
            clover_base_url=creds.base_url,
        )
        key = create_api_key(ctx, merchant.id)
        parts.watch(ctx)
        routes.svc.create_invoice = parts.timed("unit of work", routes.svc.create_invoice)  # type: ignore[method-assign]
        routes.svc.open_invoice = parts.timed("unit of work", routes.svc.open_invoice)  # type: ignore[method-assign]
        routes.pay_invoice = parts.timed("unit of work", routes.pay_invoice)  # type: ignore[assignment]
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        app = create_app(context=ctx)

        async def timed_app(scope: Any, receive: Any, send: Any) -> None:
            t = time.perf_counter()
            try:
                await app(scope, receive, send)
            finally:
                parts.now["app"] += time.perf_counter() - t

        config = uvicorn.Config(timed_app, http="httptools", loop="uvloop", log_level="warning")
        server = uvicorn.Server(config)
        threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
        while not server.started:
            time.sleep(0.01)
        samples: dict[str, list[dict[str, float]]] = {s: [] for s in STEPS}
        body = {"line_items": [{"description": "Drain repair", "quantity": 1, "unit_amount": 1000}]}
        tokens = sandbox.client()
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {key.secret}"},
        ) as api:

            def step(name: str, path: str, payload: Any, flow: int) -> Any:
                parts.reset()
                t = time.perf_counter()
                r = api.post(path, json=payload, headers={"Idempotency-Key": uuid.uuid4().hex})
                total = time.perf_counter() - t
                if r.status_code >= 300:
                    raise RuntimeError(f"{name}: {r.status_code} {r.text}")
                if flow >= 30:  # warm caches, pools and prepared statements first
                    samples[name].append({"total": total, **parts.now})
                return r.json()

            for flow in range(args.flows + 30):
                inv = step("create", "/v1/invoices", body, flow)
                step("open", f"/v1/invoices/{inv['id']}/open", {}, flow)
                token = tokens.post(
                    "/v1/tokens", json={"card": CARD}, headers={"apikey": creds.api_access_key}
                ).json()["id"]
                step("pay", f"/v1/invoices/{inv['id']}/pay", {"token": token}, flow)
        rtt, commit = _round_trip_floor(ctx)
        server.should_exit = True
        ctx.close()
    _report(url, samples, rtt, commit)


def _report(
    url: str, samples: dict[str, list[dict[str, float]]], rtt: float, commit: float
) -> None:
    def med(step: str, key: str) -> float:
        return statistics.median(s[key] for s in samples[step]) * 1e3

    print(f"{make_url(url).get_backend_name()}: medians of {len(samples['create'])} flows, ms")
    columns = ("total", "HTTP", "API", "DB outside", "own code", "statements", "commits", "Clover")
    print(f"{'request':8} " + " ".join(f"{c:>10}" for c in columns) + f" {'round trips':>12}")
    totals = dict.fromkeys(columns, 0.0)
    trips = commit_count = 0.0
    for step in STEPS:
        total, unit = med(step, "total"), med(step, "unit of work")
        stmts, commits, clover = med(step, "statements"), med(step, "commits"), med(step, "Clover")
        outside_db = med(step, "statements outside")
        values = {
            "total": total,
            "HTTP": total - med(step, "app"),
            "API": med(step, "app") - unit - outside_db,
            "DB outside": outside_db,
            "own code": unit - stmts - commits - clover,
            "statements": stmts,
            "commits": commits,
            "Clover": clover,
        }
        n = statistics.median(s["round trips"] for s in samples[step])
        trips += n
        commit_count += statistics.median(s["commit count"] for s in samples[step])
        for k, v in values.items():
            totals[k] += v
        print(f"{step:8} " + " ".join(f"{values[c]:10.2f}" for c in columns) + f" {n:12.0f}")
    print(f"{'flow':8} " + " ".join(f"{totals[c]:10.2f}" for c in columns) + f" {trips:12.0f}")
    print(
        f"a round trip (SELECT 1): {rtt * 1e3:.3f} ms; a COMMIT after an INSERT: "
        f"{commit * 1e3:.3f} ms"
    )
    floor = (trips * rtt + commit_count * commit) * 1e3
    print(
        f"the flow's {trips:.0f} statements and {commit_count:.0f} commits at those costs, "
        f"with no Python at all: {floor:.2f} ms"
    )


if __name__ == "__main__":
    main()
