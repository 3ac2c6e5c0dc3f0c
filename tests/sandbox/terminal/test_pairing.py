"""Pairing: automatic, confirmed on the device, rejected; token reuse."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from cloverpay.remotepay.protocol import (
    DiscoveryRequest,
    DiscoveryResponse,
    PairingCode,
    PairingRequest,
    PairingResponse,
    PairingState,
    Ping,
    TxStartResponse,
)
from cloverpay.sandbox.terminal import Terminal, TerminalServer

from .pos import MiniPos, sale

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


async def test_auto_pairing_gives_a_code_then_a_token_that_is_reused(
    server: TerminalServer,
) -> None:
    first = await MiniPos.connect(server.url)
    code, token = await first.pair()
    assert code is not None
    assert code.isdigit()
    assert len(code) == 6
    assert "1" in first.acked  # the PAIRING_REQUEST was ACKed
    await first.close()

    again = await MiniPos.connect(server.url)
    code2, token2 = await again.pair(token)
    assert code2 is None  # known token: PAIRED at once, no code
    assert token2 == token
    await again.close()

    stranger = await MiniPos.connect(server.url)
    code3, token3 = await stranger.pair("not-a-token-we-issued")
    assert code3 is not None
    assert token3 != token
    await stranger.close()


async def test_a_command_before_pairing_is_dropped(
    server: TerminalServer, terminal: Terminal
) -> None:
    pos = await MiniPos.connect(server.url)
    # the JS SDK may flush queued commands before it re-pairs (spec §4.5)
    await pos.ws.send(
        '{"id":"9","type":"COMMAND","method":"TX_START",'
        '"payload":"{\\"payIntent\\":{\\"amount\\":100}}","version":1}'
    )
    _, token = await pos.pair()
    assert token
    assert "TX_START_RESPONSE" not in pos.methods()
    assert terminal.in_flight is None
    dropped = terminal.state.events.list("terminal_frame_dropped")
    assert dropped
    await pos.close()


async def test_confirmed_pairing_waits_for_the_code(
    server: TerminalServer, terminal: Terminal, http: httpx.AsyncClient
) -> None:
    terminal.settings.pairing = "confirm"
    pos = await MiniPos.connect(server.url)
    await pos.send(PairingRequest(name="Front desk", serial_number="R-9"))
    code = (await pos.until(PairingCode)).pairing_code
    status = (await http.get("/_sandbox/terminal")).json()
    assert status["screen"]["pairing_code"] == code
    assert status["pending_pairing_codes"] == 1

    wrong = await http.post("/_sandbox/terminal/pairing/confirm", json={"code": "000000x"})
    assert wrong.status_code == 400
    assert "code" in wrong.text
    # nothing was sent while the code waits
    await asyncio.sleep(0)
    assert not any(isinstance(m, PairingResponse) for m in pos.received)

    ok = await http.post("/_sandbox/terminal/pairing/confirm", json={"code": code})
    assert ok.status_code == 200, ok.text
    response = await pos.until(PairingResponse)
    assert response.pairing_state is PairingState.PAIRED
    assert response.authentication_token
    await pos.send(DiscoveryRequest())
    await pos.until(DiscoveryResponse)
    await pos.send(sale(100, "after-confirm"))
    assert (await pos.until(TxStartResponse)).accepted
    await pos.close()


async def test_rejected_pairing_fails(
    server: TerminalServer, terminal: Terminal, http: httpx.AsyncClient
) -> None:
    terminal.settings.pairing = "confirm"
    pos = await MiniPos.connect(server.url)
    await pos.send(PairingRequest(name="Front desk"))
    code = (await pos.until(PairingCode)).pairing_code
    resp = await http.post(
        "/_sandbox/terminal/pairing/confirm", json={"code": code, "accept": False}
    )
    assert resp.status_code == 200
    response = await pos.until(PairingResponse)
    assert response.pairing_state is PairingState.FAILED
    assert response.authentication_token is None
    await pos.close()


async def test_application_level_ping_gets_a_pong(pos: MiniPos) -> None:
    for frame in pos.core.send(Ping()):
        await pos.ws.send(frame)
    raw = await asyncio.wait_for(pos.ws.recv(), 10)
    assert '"type":"PONG"' in str(raw).replace(" ", "")


async def test_tokens_and_codes_stay_out_of_the_event_log(
    server: TerminalServer, terminal: Terminal
) -> None:
    pos = await MiniPos.connect(server.url)
    code, token = await pos.pair()
    await pos.close()
    logged = json.dumps(terminal.state.events.list())
    assert token not in logged
    assert code is not None
    assert code not in logged
    assert token not in repr(terminal.snapshot())
