"""One process drives 1,000 emulated terminals at once, sales back to back.

The terminals (:class:`cloverpay.sandbox.terminal.TerminalFarm`, one sandbox merchant,
``ws://127.0.0.1:PORT/devices/<n>/remote_pay``, default script: approve at once, no
human delays) run in a child process. This process opens one :class:`CloverConnector`
per terminal (pairing included), then every connector runs sales back to back for
``--seconds``. Reported: aggregate sales/s over the measured window, this process's
peak RSS and CPU time, and the check that no sale was lost or doubled: every sale
answered SUCCESS here has exactly one payment with its externalPaymentId in the
sandbox state, and the state holds no other payment.

    .venv/bin/python bench/terminal_fleet.py [--devices 1000] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from collections import Counter

from cloverpay.remotepay import CloverConnector, ConnectorConfig, SaleRequest


def _raise_fd_limit(need: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, need)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, target), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def _serve(devices: int) -> None:
    from cloverpay.sandbox import Sandbox
    from cloverpay.sandbox._platform import PlatformStore
    from cloverpay.sandbox.terminal import TerminalFarm

    sandbox = Sandbox(seed=1)
    loop = asyncio.get_running_loop()
    async with TerminalFarm(sandbox, devices=devices) as farm:
        print(json.dumps({"url0": farm.url(0)}), flush=True)
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if line.strip() != "COUNT":
                break
            state = sandbox.state
            with state.lock:
                payments = list(state.domain(PlatformStore).payments.values())
            ext = Counter(p.get("externalPaymentId") for p in payments)
            usage = resource.getrusage(resource.RUSAGE_SELF)
            report = {
                "payments": len(payments),
                "results": Counter(p.get("result") for p in payments),
                "external_ids": {k: v for k, v in ext.items() if k},
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "rss_mib": usage.ru_maxrss / 1024,
            }
            print(json.dumps(report), flush=True)


async def _drive(url0: str, devices: int, seconds: float, warmup: float) -> dict[str, object]:
    base = url0.rsplit("/devices/", 1)[0]

    def cfg(n: int) -> ConnectorConfig:
        return ConnectorConfig(
            url=f"{base}/devices/{n}/remote_pay",
            remote_application_id="com.example.bench.fleet:1",
            allow_plain_ws=True,
            heartbeat_interval=None,
            request_timeout=120,
            connect_timeout=120,
            recovery_timeout=120,
        )

    connectors = [CloverConnector(cfg(n)) for n in range(devices)]
    t0 = time.perf_counter()
    gate = asyncio.Semaphore(100)

    async def open_one(c: CloverConnector) -> None:
        async with gate:
            await c.connect(timeout=300)

    await asyncio.gather(*(open_one(c) for c in connectors))
    connect_s = time.perf_counter() - t0
    ok: list[str] = []
    other: Counter[str] = Counter()
    counting = False
    stop = False

    async def lane(n: int, c: CloverConnector) -> None:
        i = 0
        while not stop:
            ext = f"f{n}-{i}"
            i += 1
            try:
                r = await c.sale(SaleRequest(amount=100 + n % 50, external_id=ext))
            except Exception as exc:  # counted and reported
                other[type(exc).__name__] += 1
                continue
            if r.success:
                ok.append(ext)
                if counting:
                    window.append(ext)
            else:
                other[f"{r.result.value}:{r.reason}"] += 1

    window: list[str] = []
    cpu0 = time.process_time()
    tasks = [asyncio.create_task(lane(n, c)) for n, c in enumerate(connectors)]
    await asyncio.sleep(warmup)
    counting = True
    w0, c0 = time.perf_counter(), time.process_time()
    await asyncio.sleep(seconds)
    counting = False
    w1, c1 = time.perf_counter(), time.process_time()
    stop = True
    await asyncio.gather(*tasks)  # each lane ends after its sale in flight
    for c in connectors:
        await c.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "connect_s": connect_s,
        "window_s": w1 - w0,
        "window_sales": len(window),
        "window_cpu_s": c1 - c0,
        "total_cpu_s": time.process_time() - cpu0,
        "ok": ok,
        "other": dict(other),
        "rss_mib": rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    limit = _raise_fd_limit(args.devices * 2 + 256)
    if args.serve:
        asyncio.run(_serve(args.devices))
        return
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--devices", str(args.devices)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdin is not None
        url0 = json.loads(child.stdout.readline())["url0"]
        res = asyncio.run(_drive(url0, args.devices, args.seconds, args.warmup))
        child.stdin.write("COUNT\n")
        child.stdin.flush()
        state = json.loads(child.stdout.readline())
    finally:
        if child.stdin is not None:
            child.stdin.close()
        child.wait(60)
    ok = res["ok"]
    assert isinstance(ok, list)
    ids = state["external_ids"]
    doubled = sorted(k for k, v in ids.items() if v > 1)
    lost = sorted(set(ok) - set(ids))
    extra = sorted(set(ids) - set(ok))
    rate = res["window_sales"] / res["window_s"]  # type: ignore[operator]
    print(f"python {sys.version.split()[0]}, fd limit {limit}, {args.devices} terminals")
    print(f"connect + pair all: {res['connect_s']:.1f} s")
    print(
        f"sales/s (window {res['window_s']:.1f} s after {args.warmup:.0f} s warm-up): "
        f"{rate:.0f}  ({res['window_sales']} sales)"
    )
    print(
        f"connector process: peak RSS {res['rss_mib']:.0f} MiB, CPU in window "
        f"{res['window_cpu_s']:.1f} s ({100 * res['window_cpu_s'] / res['window_s']:.0f} % "  # type: ignore[operator]
        f"of a core)"
    )
    per_sale = 1e3 * res["window_cpu_s"] / max(1, res["window_sales"])  # type: ignore[operator]
    print(f"connector CPU per sale: {per_sale:.2f} ms (one core: {1e3 / per_sale:.0f} sales/s)")
    t_sale = 1e3 * state["cpu_s"] / max(1, state["payments"])
    print(
        f"terminal process: peak RSS {state['rss_mib']:.0f} MiB, CPU {state['cpu_s']:.1f} s "
        f"in all ({t_sale:.2f} ms per payment, pairing and start-up included)"
    )
    print(f"sales answered SUCCESS: {len(ok)}; other answers: {res['other'] or 'none'}")
    print(
        f"sandbox state: {state['payments']} payments {dict(state['results'])}; "
        f"lost {len(lost)}, doubled {len(doubled)}, unexpected {len(extra)}"
    )


if __name__ == "__main__":
    main()
