"""The control API, the ``/terminal`` page and a person acting as the customer."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from cloverpay.remotepay.protocol import (
    FinishOk,
    SignatureVerified,
    TipAdded,
    TxStartResponse,
    UiStateMessage,
    VerifySignature,
)
from cloverpay.sandbox import Sandbox
from cloverpay.sandbox.terminal import Terminal, TerminalServer

from .conftest import v3_payments
from .pos import MiniPos, sale

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"card": "NOPE"}, "card"),
        ({"outcome": "explode"}, "outcome"),
        ({"tip": -1}, "tip"),
        ({"signature": "yes"}, "signature"),
        ({"challenge": "MAYBE"}, "challenge"),
        ({"count": 0}, "count"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_script_names_the_field(
    http: httpx.AsyncClient, terminal: Terminal, body: dict[str, object], field: str
) -> None:
    resp = await http.post("/_sandbox/terminal/script", json=body)
    assert resp.status_code == 400
    assert field in resp.json()["error"]["message"]
    assert terminal.scripts() == []


async def test_scripts_queue_for_the_next_n_transactions(
    http: httpx.AsyncClient, pos: MiniPos
) -> None:
    resp = await http.post(
        "/_sandbox/terminal/script", json={"outcome": "decline", "card": "amex", "count": 2}
    )
    assert resp.status_code == 200
    assert [s["card"] for s in resp.json()["scripts"]] == ["AMEX", "AMEX"]
    results = []
    for i in range(3):
        await pos.send(sale(100 + i, f"queued-{i}"))
        message = await pos.until_any()
        results.append(message)
    assert results == ["FINISH_CANCEL", "FINISH_CANCEL", "FINISH_OK"]
    assert (await http.get("/_sandbox/terminal/script")).json()["scripts"] == []


async def test_customer_route_needs_a_running_terminal(sandbox: Sandbox) -> None:
    async with sandbox.async_client() as http:
        resp = await http.post("/_sandbox/terminal/customer", json={"action": "tap"})
    assert resp.status_code == 409
    assert "not running" in resp.text


async def test_a_person_taps_tips_and_signs(
    http: httpx.AsyncClient, pos: MiniPos, terminal: Terminal
) -> None:
    await http.post("/_sandbox/terminal/script", json={"human": True, "signature": True})
    await pos.send(sale(2000, "human-1", tip_amount=None))
    await pos.until(TxStartResponse)

    async def screen(name: str) -> dict[str, object]:
        for _ in range(200):
            snap = (await http.get("/_sandbox/terminal")).json()["screen"]
            if snap["screen"] == name:
                return snap  # type: ignore[no-any-return]
            await asyncio.sleep(0.01)
        raise AssertionError(f"the terminal never showed {name}")

    card_screen = await screen("START")
    assert card_screen["amount"] == 2000
    assert "tap" in card_screen["actions"]  # type: ignore[operator]
    bad = await http.post("/_sandbox/terminal/customer", json={"action": "tap", "card": "X"})
    assert bad.status_code == 400
    resp = await http.post("/_sandbox/terminal/customer", json={"action": "tap", "card": "MC"})
    assert resp.status_code == 200
    await screen("ADD_TIP")
    await http.post("/_sandbox/terminal/customer", json={"action": "tip", "amount": 300})
    assert (await pos.until(TipAdded)).tip_amount == 300
    await screen("ADD_SIGNATURE")
    await http.post("/_sandbox/terminal/customer", json={"action": "sign"})
    ask = await pos.until(VerifySignature)
    assert ask.payment is not None
    await pos.send(SignatureVerified(payment=ask.payment, verified=True))
    await screen("RECEIPT_OPTIONS")
    await http.post("/_sandbox/terminal/customer", json={"action": "receipt"})
    finish = await pos.until(FinishOk)
    assert finish.payment is not None
    assert finish.payment.card_transaction is not None
    assert finish.payment.card_transaction.card_type == "MC"
    assert finish.payment.tip_amount == 300


async def test_page(http: httpx.AsyncClient, server: TerminalServer) -> None:
    page = await http.get("/terminal")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert server.url in page.text
    assert "EventSource" in page.text


async def test_settings_change_discovery(http: httpx.AsyncClient, server: TerminalServer) -> None:
    resp = await http.post("/_sandbox/terminal/settings", json={"supports_vault_card": False})
    assert resp.status_code == 200
    assert (
        await http.post("/_sandbox/terminal/settings", json={"pairing": "later"})
    ).status_code == 400
    pos = await MiniPos.connect(server.url)
    info = await pos.ready()
    assert info.supports_vault_card is False
    await pos.close()


async def test_restart_after_decline_with_a_person_at_the_terminal(
    http: httpx.AsyncClient, pos: MiniPos, terminal: Terminal, sandbox: Sandbox
) -> None:
    terminal.settings.restart_on_decline = True
    await http.post("/_sandbox/terminal/script", json={"human": True, "outcome": "decline"})
    await pos.send(sale(1500, "retry-1"))
    await pos.until(TxStartResponse)

    async def until_screen(name: str) -> None:
        while (await pos.until(UiStateMessage)).ui_state != name:
            pass

    async def act(**body: object) -> None:
        assert (await http.post("/_sandbox/terminal/customer", json=body)).status_code == 200

    await act(action="tap", card="AMEX")
    await until_screen("ADD_TIP")
    await act(action="tip", amount=0)
    await until_screen("DECLINED")
    await until_screen("START")  # back to the card screen: the customer tries again
    await act(action="tap", card="VISA")
    await until_screen("ADD_TIP")
    await act(action="tip", amount=0)
    await until_screen("RECEIPT_OPTIONS")
    await act(action="receipt")
    finish = await pos.until(FinishOk)
    assert finish.payment is not None
    assert finish.payment.card_transaction is not None
    assert finish.payment.card_transaction.card_type == "VISA"
    assert "FINISH_CANCEL" not in pos.methods()
    results = sorted(p["result"] for p in await v3_payments(http, sandbox, "retry-1"))
    assert results == ["FAIL", "SUCCESS"]
