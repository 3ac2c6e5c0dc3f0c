"""Sandbox charge creation over real sockets, one uvicorn worker, vs localstripe.

Three server processes, each on 127.0.0.1 with one worker:

* ``empty``: the sandbox (``bench/_sandbox_server.py``: uvicorn, httptools, uvloop),
  reset to an empty store (``POST /_sandbox/reset``) before each of its rounds;
* ``full``: the same, holding ``--fill`` charges (default 100,000) stored before it
  starts serving, in its own process: by default through the charge route's own
  functions plus the idempotency entry per charge (``--fill-mode domain``), or through
  the whole ASGI app (``--fill-mode app``, ~3x slower); either way the state 100,000
  HTTP charges leave behind (see ``_sandbox_server.py``);
* ``localstripe``: the peer, a stateful Stripe emulator (aiohttp), from the peers'
  venv (``bench/setup-peers``); its store is flushed (``DELETE /_config/data``) before
  each of its rounds, which favours it (it pickles its whole store after every POST).

This process is the load generator (``bench/_loadgen.py``: pre-rendered requests on
keep-alive connections, uvloop). Every request is a charge on a customer's card on
file (``source=<customer>`` for the sandbox, ``customer=<cus_>`` for localstripe) with
a fresh idempotency key. Rounds are interleaved (empty, full, localstripe, then the
then many short latency rounds, empty and full in alternating order) and the medians
over rounds are reported.

Figures:

* throughput, ``--concurrency`` connections (default 16) for ``--seconds`` per
  round: wall-clock charges/s, and **charges per server CPU-second** (requests
  answered / CPU time of the server process from ``/proc``): what one worker does
  with a core to itself. On a shared 2-core machine the wall figure mostly measures
  how much CPU the server was given, so the CPU figure is the headline; the load
  generator's own CPU per request is reported too (it competes for the same cores);
* latency, one connection (no queueing): p50 / p99 and server CPU per charge,
  empty vs full, and the ratio full / empty.

    .venv/bin/python bench/sandbox_load.py [--fill 100000] [--rounds 5] [--json PATH]

Goals: >= 2,000 charges/s on one worker; latency at 100,000 stored charges within
10 % of an empty store.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))

from _loadgen import LoadResult, Server, render, request_once, run_load, start_server

HERE = Path(__file__).parent
PEERS_PY = HERE / ".venv-peers" / "bin" / "python"
CARD = {"card": {"number": "4242424242424242", "exp_month": "12", "exp_year": "2031", "cvv": "123"}}
FORM = "application/x-www-form-urlencoded"


class Target:
    """One server and how to send it a charge."""

    def __init__(self, name: str, server: Server) -> None:
        self.name = name
        self.server = server
        self.host = f"127.0.0.1:{server.port}"

    def prepare(self) -> None:
        """Bring the store to its starting point and build the charge request."""
        raise NotImplementedError

    def charge(self) -> bytes:
        raise NotImplementedError


class Sandbox(Target):
    def __init__(self, name: str, server: Server, reset: bool) -> None:
        super().__init__(name, server)
        self.reset = reset
        self._make = self._charge_maker(server.info["access_token"], server.info["customer_id"])

    def _call(self, method: str, path: str, headers: dict[str, str], body: Any) -> Any:
        raw = json.dumps(body).encode()
        headers = {**headers, "content-type": "application/json"}
        status, out = request_once(self.server, render(method, path, self.host, headers, raw)())
        if status != 200:
            raise RuntimeError(f"{self.name}: {method} {path} -> {status} {out[:200]!r}")
        return json.loads(out)

    def _charge_maker(self, token: str, customer: str) -> Any:
        headers = {
            "authorization": f"Bearer {token}",
            "x-forwarded-for": "203.0.113.7",
            "content-type": "application/json",
        }
        body = json.dumps({"amount": 1000, "currency": "usd", "source": customer}).encode()
        return render("POST", "/v1/charges", self.host, headers, body, idempotency=True)

    def prepare(self) -> None:
        if not self.reset:
            return
        self._call("POST", "/_sandbox/reset", {}, {})
        creds = self._call("GET", "/_sandbox/credentials", {}, {})
        token = self._call("POST", "/v1/tokens", {"apikey": creds["api_access_key"]}, CARD)
        customer = self._call(
            "POST",
            "/v1/customers",
            {"authorization": f"Bearer {creds['access_token']}"},
            {"email": "bench@example.com", "source": token["id"]},
        )
        self._make = self._charge_maker(creds["access_token"], customer["id"])

    def charge(self) -> bytes:
        return bytes(self._make())


LS_AUTH = {"authorization": "Bearer sk_test_bench", "content-type": FORM}


class LocalStripe(Target):
    def _call(self, method: str, path: str, form: dict[str, Any]) -> Any:
        raw = urlencode(form).encode()
        status, out = request_once(self.server, render(method, path, self.host, LS_AUTH, raw)())
        if status != 200:
            raise RuntimeError(f"localstripe: {method} {path} -> {status} {out[:200]!r}")
        return json.loads(out) if out else None

    def prepare(self) -> None:
        self._call("DELETE", "/_config/data", {})
        card = {f"card[{k}]": v for k, v in CARD["card"].items() if k != "cvv"}
        token = self._call("POST", "/v1/tokens", {**card, "card[cvc]": "123"})
        customer = self._call(
            "POST", "/v1/customers", {"source": token["id"], "email": "bench@example.com"}
        )
        body = urlencode({"amount": 1000, "currency": "usd", "customer": customer["id"]})
        self._make = render(
            "POST", "/v1/charges", self.host, LS_AUTH, body.encode(), idempotency=True
        )

    def charge(self) -> bytes:
        return bytes(self._make())


def machine() -> dict[str, Any]:
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": sys.version.split()[0],
        "loadavg_1m": os.getloadavg()[0],
    }


def rss_mb(server: Server) -> float:
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_pressure() -> str:
    try:
        return Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except OSError:
        return "n/a"


def summarise(results: list[LoadResult]) -> dict[str, float]:
    return {
        "wall_per_s": statistics.median(r.per_s for r in results),
        "per_server_cpu_s": statistics.median(r.completed / r.server_cpu_s for r in results),
        "server_cpu_ms": statistics.median(r.server_cpu_s / r.completed * 1e3 for r in results),
        "client_cpu_ms": statistics.median(r.client_cpu_s / r.completed * 1e3 for r in results),
        "p50_ms": statistics.median(r.pct(50) * 1e3 for r in results),
        "p99_ms": statistics.median(r.pct(99) * 1e3 for r in results),
        "requests": sum(r.completed for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fill", type=int, default=100_000)
    parser.add_argument("--fill-mode", choices=("domain", "app"), default="domain")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=3.0, help="per throughput round")
    parser.add_argument("--latency-rounds", type=int, default=20)
    parser.add_argument("--latency-seconds", type=float, default=0.6, help="per latency round")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--no-peer", action="store_true", help="skip localstripe")
    parser.add_argument("--json", type=Path, default=None, help="write figures here")
    args = parser.parse_args()
    console = Console(width=max(120, Console().width))
    peer = not args.no_peer
    if peer and not PEERS_PY.exists():
        console.print("localstripe missing: run bench/setup-peers (or pass --no-peer)")
        sys.exit(2)

    ours = [sys.executable, str(HERE / "_sandbox_server.py")]
    servers: list[Server] = []
    try:
        t0 = time.perf_counter()
        with console.status(f"storing {args.fill:,} charges in the 'full' sandbox..."):
            full_srv = start_server(
                [*ours, "--fill", str(args.fill), "--fill-mode", args.fill_mode]
            )
            servers.append(full_srv)
        console.print(
            f"filled {args.fill:,} charges in {full_srv.info['fill_seconds']:.1f} s "
            f"(wall {time.perf_counter() - t0:.1f} s)"
        )
        empty_srv = start_server(ours)
        servers.append(empty_srv)
        targets: list[Target] = [
            Sandbox("sandbox empty", empty_srv, reset=True),
            Sandbox(f"sandbox {args.fill:,} charges", full_srv, reset=False),
        ]
        if peer:
            ls_srv = start_server([str(PEERS_PY), str(HERE / "_localstripe_server.py")])
            servers.append(ls_srv)
            targets.append(LocalStripe("localstripe (peer)", ls_srv))

        throughput: dict[str, list[LoadResult]] = {t.name: [] for t in targets}
        latency: dict[str, list[LoadResult]] = {t.name: [] for t in targets[:2]}
        for t in targets:  # warm-up
            t.prepare()
            run_load(t.server, t.charge, concurrency=4, total=200)
        total = args.rounds * args.seconds * len(targets)
        total += args.latency_rounds * args.latency_seconds * 2
        with Progress(console=console) as progress:
            task = progress.add_task("interleaved rounds", total=total)
            for _ in range(args.rounds):
                for t in targets:
                    t.prepare()
                    throughput[t.name].append(
                        run_load(
                            t.server,
                            t.charge,
                            concurrency=args.concurrency,
                            duration_s=args.seconds,
                        )
                    )
                    progress.advance(task, args.seconds)
            # many short rounds in alternating order, so that the load of other
            # processes on the machine falls on both stores alike
            for i in range(args.latency_rounds):
                for t in targets[:2] if i % 2 == 0 else targets[1::-1]:
                    t.prepare()
                    latency[t.name].append(
                        run_load(t.server, t.charge, concurrency=1, duration_s=args.latency_seconds)
                    )
                    progress.advance(task, args.latency_seconds)
        full_rss_mb = rss_mb(full_srv)
        empty_rss_mb = rss_mb(empty_srv)
    finally:
        for s in servers:
            s.stop()
        if peer:
            Path("/tmp/localstripe.pickle").unlink(missing_ok=True)

    mach = machine()
    pressure = cpu_pressure()
    tp = {name: summarise(rs) for name, rs in throughput.items()}
    lat = {name: summarise(rs) for name, rs in latency.items()}

    table = Table(
        title=f"charge creation, {args.concurrency} connections, median of {args.rounds} rounds "
        f"of {args.seconds:g} s"
    )
    for col in (
        "server",
        "charges/s (wall)",
        "charges per server CPU-s",
        "server CPU ms/charge",
        "loadgen CPU ms/req",
        "p50 ms",
        "p99 ms",
    ):
        table.add_column(col, justify="left" if col == "server" else "right")
    for name, s in tp.items():
        table.add_row(
            name,
            f"{s['wall_per_s']:,.0f}",
            f"{s['per_server_cpu_s']:,.0f}",
            f"{s['server_cpu_ms']:.3f}",
            f"{s['client_cpu_ms']:.3f}",
            f"{s['p50_ms']:.2f}",
            f"{s['p99_ms']:.2f}",
        )
    console.print(table)

    ltable = Table(
        title=f"latency, one connection, median of {args.latency_rounds} alternating rounds "
        f"of {args.latency_seconds:g} s"
    )
    for col in ("store", "p50 ms", "p99 ms", "server CPU ms/charge", "charges"):
        ltable.add_column(col, justify="left" if col == "store" else "right")
    for name, s in lat.items():
        ltable.add_row(
            name,
            f"{s['p50_ms']:.3f}",
            f"{s['p99_ms']:.3f}",
            f"{s['server_cpu_ms']:.3f}",
            f"{s['requests']:,.0f}",
        )
    console.print(ltable)

    e, f = lat[targets[0].name], lat[targets[1].name]
    ratios = {k: f[k] / e[k] for k in ("p50_ms", "p99_ms", "server_cpu_ms")}
    ours_tp = tp[targets[0].name]["per_server_cpu_s"]
    console.print(
        f"full / empty: p50 {ratios['p50_ms']:.3f}, p99 {ratios['p99_ms']:.3f}, "
        f"server CPU per charge {ratios['server_cpu_ms']:.3f}"
    )
    if peer:
        ls = tp[targets[2].name]
        console.print(
            f"sandbox / localstripe: {ours_tp / ls['per_server_cpu_s']:.1f}x charges per "
            f"server CPU-s, {tp[targets[0].name]['wall_per_s'] / ls['wall_per_s']:.1f}x wall"
        )
    console.print(
        f"goal >= 2,000 charges/s per worker: {ours_tp:,.0f} per server CPU-s -> "
        f"{'met' if ours_tp >= 2000 else 'NOT met'}; "
        f"wall {tp[targets[0].name]['wall_per_s']:,.0f}/s on a shared machine"
    )
    console.print(
        "goal latency at scale within 10 %: p50 ratio "
        f"{ratios['p50_ms']:.3f} -> {'met' if ratios['p50_ms'] <= 1.10 else 'NOT met'}"
    )
    console.print(
        f"server memory (RSS): empty {empty_rss_mb:.0f} MB, full {full_rss_mb:.0f} MB; "
        f"fill took {full_srv.info['fill_seconds']:.1f} s ({args.fill_mode})"
    )
    console.print(f"machine: {mach}; cpu pressure at end: {pressure}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "machine": mach,
                    "cpu_pressure": pressure,
                    "args": {k: str(v) for k, v in vars(args).items()},
                    "fill_seconds": full_srv.info["fill_seconds"],
                    "rss_mb": {"empty": empty_rss_mb, "full": full_rss_mb},
                    "throughput": tp,
                    "latency": lat,
                    "full_over_empty": ratios,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
