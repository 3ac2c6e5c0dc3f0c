"""Sale round trip on loopback: CloverConnector.sale() against the emulated terminal,
beside a bare ``websockets`` echo of the same frames, in the same run.

The terminal (cloverpay.sandbox, default script: the customer taps a Visa at once, no
human delays) runs in a child process, with a bare websockets server beside it that
answers the first frame of each sale with the very frames the terminal sent for one
sale (recorded from a real sale first). The parent process times, per sale:

- ``connector``: ``await connector.sale(SaleRequest(...))`` (validation, TX_START,
  ACK, UI/TX states, FINISH_OK through both protocol cores and the terminal's flow,
  the money recorded in the sandbox state);
- ``bare echo``: send the same POS frames with ``websockets``, read the same number of
  answer frames (no JSON, no logic).

Rounds alternate between the two so machine noise hits both alike.

    .venv/bin/python bench/terminal_roundtrip.py [--sales 2000] [--round 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from typing import Any

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from cloverpay.remotepay import CloverConnector, ConnectorConfig, SaleRequest


async def _serve() -> None:
    from cloverpay.sandbox import Sandbox
    from cloverpay.sandbox.terminal import TerminalServer, TerminalSettings

    script: dict[str, list[str]] = {"answer": []}

    async def echo(ws: ServerConnection) -> None:
        async for frame in ws:
            if isinstance(frame, str) and frame.startswith("SCRIPT:"):
                script["answer"] = json.loads(frame[7:])
                await ws.send("OK")
            elif isinstance(frame, str) and '"TX_START"' in frame:
                for answer in script["answer"]:
                    await ws.send(answer)

    sandbox = Sandbox(seed=1)
    settings = TerminalSettings(ping_interval=None)
    async with (
        TerminalServer(sandbox, settings=settings) as terminal,
        serve(echo, "127.0.0.1", 0, compression=None) as bare,
    ):
        port = next(iter(bare.sockets)).getsockname()[1]
        print(json.dumps({"terminal": terminal.url, "echo": f"ws://127.0.0.1:{port}/"}))
        sys.stdout.flush()
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def _bench(urls: dict[str, str], sales: int, per_round: int) -> None:
    config = ConnectorConfig(
        url=urls["terminal"],
        remote_application_id="com.example.bench:1",
        allow_plain_ws=True,
        heartbeat_interval=None,
        request_timeout=30,
    )
    recorded: list[str] = []
    sent: list[str] = []
    async with CloverConnector(config) as c:
        # record one sale's frames, both ways
        receive, send = c._receive, c._ws.send  # type: ignore[union-attr]

        def rec_receive(text: str) -> None:
            recorded.append(text)
            receive(text)

        async def rec_send(frame: Any) -> None:
            sent.append(frame)
            await send(frame)

        c._receive = rec_receive  # type: ignore[method-assign]
        c._ws.send = rec_send  # type: ignore[method-assign,union-attr]
        await c.sale(SaleRequest(amount=100, external_id="bench-rt-record"))
        await asyncio.sleep(0.2)  # the thank-you screen after FINISH_OK
        c._receive = receive  # type: ignore[method-assign]
        c._ws.send = send  # type: ignore[method-assign,union-attr]
        tx = next(i for i, f in enumerate(sent) if '"TX_START"' in f)
        fin = next(i for i, f in enumerate(recorded) if '"FINISH_OK"' in f)
        answer = recorded[: fin + 1]
        pos_frames = sent[tx:]

        async with connect(urls["echo"], compression=None) as bare:
            await bare.send("SCRIPT:" + json.dumps(answer))
            await bare.recv()
            ours: list[float] = []
            echo: list[float] = []
            n = 0
            while n < sales:
                for _ in range(per_round):
                    t0 = time.perf_counter()
                    r = await c.sale(SaleRequest(amount=100, external_id=f"bench-rt-{n}"))
                    ours.append(time.perf_counter() - t0)
                    assert r.success, r
                    n += 1
                for _ in range(per_round):
                    t0 = time.perf_counter()
                    for frame in pos_frames[:1]:
                        await bare.send(frame)
                    for _ in answer:
                        await bare.recv()
                    for frame in pos_frames[1:]:
                        await bare.send(frame)
                    echo.append(time.perf_counter() - t0)
    print(f"{len(answer)} device frames per sale ({sum(map(len, answer))} chars), ", end="")
    print(f"{len(pos_frames)} POS frames; {sales} sales per side")
    print(f"{'side':32} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for name, xs in (("connector <-> emulated terminal", ours), ("bare websockets echo", echo)):
        p50, p99 = _pct(xs, 50) * 1e3, _pct(xs, 99) * 1e3
        print(f"{name:32} {p50:8.3f} {p99:8.3f} {statistics.fmean(xs) * 1e3:8.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=2000)
    parser.add_argument("--round", type=int, default=100)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve())
        return
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdin is not None
        urls = json.loads(child.stdout.readline())
        asyncio.run(_bench(urls, args.sales, args.round))
    finally:
        if child.stdin is not None:
            child.stdin.close()
        child.wait(30)


if __name__ == "__main__":
    main()
