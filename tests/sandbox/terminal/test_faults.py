"""Reboots and dropped sockets: what the device forgets, what the merchant keeps."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from cloverpay.remotepay.protocol import (
    DiscoveryRequest,
    DiscoveryResponse,
    FinishOk,
    QueryStatus,
    RetrieveDeviceStatusRequest,
    RetrieveDeviceStatusResponse,
    RetrievePaymentRequest,
    RetrievePaymentResponse,
    TxStartResponse,
)
from cloverpay.sandbox import Sandbox
from cloverpay.sandbox.terminal import CustomerScript, Terminal, TerminalServer

from .conftest import v3_payments
from .pos import WAIT, MiniPos, sale

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


async def _closed(pos: MiniPos) -> int | None:
    """Read until the socket closes; the close code (None if dropped without one)."""

    async def drain() -> None:
        while True:
            await pos.next()

    with pytest.raises(ConnectionClosed) as info:
        await drain()
    rcvd = info.value.rcvd
    return None if rcvd is None else rcvd.code


async def _reconnect(server: TerminalServer, token: str) -> MiniPos:
    pos = await MiniPos.connect(server.url)
    code, _ = await pos.pair(token)
    assert code is None  # the token survives a reboot
    await pos.send(DiscoveryRequest())
    await pos.until(DiscoveryResponse)
    return pos


async def _paired(server: TerminalServer) -> tuple[MiniPos, str]:
    pos = await MiniPos.connect(server.url)
    _, token = await pos.pair()
    await pos.send(DiscoveryRequest())
    await pos.until(DiscoveryResponse)
    return pos, token


async def test_reboot_before_authorization_charges_nothing(
    server: TerminalServer, terminal: Terminal, sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    pos, token = await _paired(server)
    terminal.push_script(CustomerScript(outcome="reboot_mid_sale"))
    await pos.send(sale(1500, "reboot-1"))
    assert (await pos.until(TxStartResponse)).accepted
    assert await _closed(pos) == 1001
    assert "FINISH_OK" not in pos.methods()
    assert "FINISH_CANCEL" not in pos.methods()
    assert terminal.in_flight is None
    assert terminal.boots == 2

    again = await _reconnect(server, token)
    await again.send(RetrievePaymentRequest(external_payment_id="reboot-1"))
    assert (await again.until(RetrievePaymentResponse)).query_status is QueryStatus.NOT_FOUND
    await again.send(RetrieveDeviceStatusRequest(send_last_message=True))
    status = await again.until(RetrieveDeviceStatusResponse)
    assert status.state == "IDLE"
    assert status.data == {}  # the in-flight sale is forgotten
    assert await v3_payments(http, sandbox, "reboot-1") == []
    # the same external id can now be charged
    await again.send(sale(1500, "reboot-1"))
    assert (await again.until(FinishOk)).payment is not None
    await again.close()


async def test_reboot_after_authorization_keeps_the_payment_in_v3(
    server: TerminalServer, terminal: Terminal, sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    pos, token = await _paired(server)
    terminal.push_script(CustomerScript(outcome="reboot_mid_sale", stage="after_auth"))
    await pos.send(sale(2500, "reboot-2"))
    assert await _closed(pos) == 1001
    assert "FINISH_OK" not in pos.methods()
    [v3] = await v3_payments(http, sandbox, "reboot-2")
    assert (v3["result"], v3["amount"]) == ("SUCCESS", 2500)

    again = await _reconnect(server, token)
    await again.send(RetrieveDeviceStatusRequest(send_last_message=True))
    status = await again.until(RetrieveDeviceStatusResponse)
    assert status.data == {}
    await again.send(RetrievePaymentRequest(external_payment_id="reboot-2"))
    found = await again.until(RetrievePaymentResponse)
    assert found.query_status is QueryStatus.FOUND
    assert found.payment is not None
    assert found.payment.id == v3["id"]
    await again.close()


async def test_reboot_from_the_control_api_while_waiting_for_the_customer(
    server: TerminalServer, terminal: Terminal, http: httpx.AsyncClient
) -> None:
    pos, _ = await _paired(server)
    terminal.push_script(CustomerScript(outcome="never_act"))
    await pos.send(sale(300, "reboot-3"))
    await pos.until(TxStartResponse)
    assert terminal.in_flight is not None
    resp = await http.post("/_sandbox/terminal/reboot")
    assert resp.status_code == 200
    assert await _closed(pos) == 1001
    assert terminal.in_flight is None


async def test_dropped_socket_after_authorization(
    server: TerminalServer, terminal: Terminal, sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    pos, token = await _paired(server)
    terminal.push_script(CustomerScript(outcome="drop_socket"))
    await pos.send(sale(4200, "drop-1"))
    assert await _closed(pos) is None  # no close frame: the network went away
    assert "FINISH_OK" not in pos.methods()
    [v3] = await v3_payments(http, sandbox, "drop-1")
    assert v3["result"] == "SUCCESS"

    again = await _reconnect(server, token)
    await again.send(RetrieveDeviceStatusRequest(send_last_message=True))
    status = await again.until(RetrieveDeviceStatusResponse)
    assert status.state == "IDLE"
    assert status.data == {"externalPaymentId": "drop-1"}
    last = await asyncio.wait_for(again.until(FinishOk), WAIT)  # the device re-sends it
    assert last.payment is not None
    assert last.payment.id == v3["id"]
    await again.close()
