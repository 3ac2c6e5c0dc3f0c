"""Sales through the sandbox's emulated terminal over real sockets: ws:// vs wss://.

A POS built from the protocol core (POS role) and a ``websockets`` client runs
sequential sales (TX_START ... FINISH_OK, default script: approve at once) against a
:class:`~cloverpay.sandbox.terminal.TerminalServer` running in its own thread, as
``SandboxServer`` runs it. Rounds alternate ws and wss; figures are medians of wall
time and process CPU time (POS + terminal, one process) per sale.

    .venv/bin/python bench/terminal_sales.py [--sales 200] [--rounds 6]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from websockets.asyncio.client import connect

from cloverpay.remotepay.protocol import (
    DiscoveryRequest,
    DiscoveryResponse,
    FinishOk,
    MessageReceived,
    PairingRequest,
    PairingResponse,
    PayIntent,
    RemotePayProtocol,
    RequestInfo,
    Role,
    TransactionType,
    TxStart,
)
from cloverpay.sandbox import Sandbox
from cloverpay.sandbox.terminal import TerminalServer


async def run_sales(url: str, ssl_ctx: object, sales: int, tag: str) -> tuple[float, float]:
    core = RemotePayProtocol(Role.POS, remote_application_id="com.example.bench:1.0")
    async with connect(url, ssl=ssl_ctx, ping_interval=None, max_size=None) as ws:

        async def until(kind: type) -> object:
            while True:
                for event in core.receive_data(str(await ws.recv())):
                    if isinstance(event, MessageReceived) and isinstance(event.message, kind):
                        return event.message

        for frame in core.send(PairingRequest(name="bench", serial_number="1")):
            await ws.send(frame)
        await until(PairingResponse)
        for frame in core.send(DiscoveryRequest()):
            await ws.send(frame)
        await until(DiscoveryResponse)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for i in range(sales):
            tx = TxStart(
                pay_intent=PayIntent(
                    amount=1000 + i,
                    tip_amount=0,
                    transaction_type=TransactionType.PAYMENT,
                    external_payment_id=f"{tag}-{i}",
                ),
                request_info=RequestInfo.SALE,
            )
            for frame in core.send(tx):
                await ws.send(frame)
            await until(FinishOk)
        return (time.perf_counter() - wall0) / sales, (time.process_time() - cpu0) / sales


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sales", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    sandbox = Sandbox(seed=1)
    results: dict[str, list[tuple[float, float]]] = {"ws": [], "wss": []}
    for rnd in range(args.rounds):
        for scheme in ("ws", "wss") if rnd % 2 == 0 else ("wss", "ws"):
            server = TerminalServer(sandbox, port=0, tls=scheme == "wss").start()
            ctx = server.certificate.client_context() if server.certificate else None
            try:
                results[scheme].append(
                    asyncio.run(run_sales(server.url, ctx, args.sales, f"{scheme}{rnd}"))
                )
            finally:
                server.stop()
    print(f"{args.sales} sales x {args.rounds} rounds per scheme (medians)")
    print("| scheme | wall ms / sale | CPU ms / sale (POS + terminal) |")
    print("|---|---|---|")
    base = statistics.median(w for w, _ in results["ws"])
    for scheme, runs in results.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"| {scheme} | {wall * 1000:.2f} ({wall / base:.2f}x) | {cpu * 1000:.2f} |")


if __name__ == "__main__":
    main()
