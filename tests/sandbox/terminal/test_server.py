"""The terminal beside a real sandbox server (threads, real sockets), as the CLI runs it."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Iterator

import httpx
import pytest

from cloverpay.remotepay.protocol import FinishOk
from cloverpay.sandbox import Sandbox, SandboxServer
from cloverpay.sandbox.terminal import terminal_for

from .pos import MiniPos, sale

pytestmark = [pytest.mark.timeout(30)]


@pytest.fixture
def running() -> Iterator[SandboxServer]:
    sandbox = Sandbox(seed=3)
    with SandboxServer(sandbox, terminal_port=0, terminal_tls=True) as server:
        yield server
    sandbox.close()


def test_sale_over_wss_is_in_v3_over_http(running: SandboxServer) -> None:
    url = running.terminal_url
    assert url is not None
    assert url.startswith("wss://")
    creds = running.credentials
    with httpx.Client(base_url=running.base_url) as http:
        pem = http.get("/_sandbox/terminal/certificate")
        assert pem.status_code == 200
        status = http.get("/_sandbox/terminal").json()
        assert status["url"] == url
        assert status["tls"] is True
        http.post("/_sandbox/terminal/script", json={"tip": 100}).raise_for_status()

    async def pos_sale() -> str:
        pos = await MiniPos.connect(url, ssl.create_default_context(cadata=pem.text))
        await pos.ready()
        await pos.send(sale(1999, "threaded-1", tip_amount=None))
        finish = await pos.until(FinishOk)
        await pos.close()
        assert finish.payment is not None
        return finish.payment.id

    payment_id = asyncio.run(pos_sale())
    with httpx.Client(
        base_url=running.base_url, headers={"authorization": f"Bearer {creds.access_token}"}
    ) as http:
        resp = http.get(
            f"/v3/merchants/{creds.merchant_id}/payments",
            params={"filter": "externalPaymentId=threaded-1"},
        )
        assert resp.status_code == 200
        [payment] = resp.json()["elements"]
        assert payment["id"] == payment_id
        assert payment["tipAmount"] == 100
        one = http.get(f"/v3/merchants/{creds.merchant_id}/payments/{payment_id}")
        assert one.json()["externalPaymentId"] == "threaded-1"


def test_screen_event_stream(running: SandboxServer) -> None:
    terminal = terminal_for(running.sandbox.state)
    with (
        httpx.Client(base_url=running.base_url, timeout=5) as http,
        http.stream("GET", "/terminal/events") as stream,
    ):
        lines = stream.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
        assert json.loads(first.removeprefix("data: "))["screen"] == "WELCOME_SCREEN"
        terminal.show("DISPLAY_MESSAGE", "Hello there")
        update = next(line for line in lines if line.startswith("data: "))
        assert json.loads(update.removeprefix("data: "))["text"] == "Hello there"


def test_clover_terminal_server_fixture(clover_terminal_server: SandboxServer) -> None:
    url = clover_terminal_server.terminal_url
    assert url is not None
    assert url.startswith("ws://127.0.0.1:")

    async def one_sale() -> FinishOk:
        pos = await MiniPos.connect(url)
        await pos.ready()
        await pos.send(sale(321, "fixture-1"))
        finish = await pos.until(FinishOk)
        await pos.close()
        return finish

    finish = asyncio.run(one_sale())
    assert finish.payment is not None
    assert finish.payment.amount == 321
