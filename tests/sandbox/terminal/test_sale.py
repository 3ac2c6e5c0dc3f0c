"""Sales over a real websocket: approve, decline, cancel, tip, signature, challenge."""

from __future__ import annotations

import httpx
import pytest

from cloverpay.remotepay.protocol import (
    ConfirmPaymentMessage,
    DiscoveryRequest,
    DiscoveryResponse,
    FinishCancel,
    FinishOk,
    KeyPress,
    KeyPressMessage,
    PaymentConfirmed,
    PaymentRejected,
    SignatureVerified,
    TipAdded,
    TxStartResponse,
    TxStartResponseResult,
    UiStateMessage,
    VerifySignature,
    VoidReason,
)
from cloverpay.sandbox import Notification, Sandbox
from cloverpay.sandbox.terminal import CustomerScript, Terminal

from .conftest import v3_payments
from .pos import MiniPos, sale

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


async def test_discovery_reports_the_merchant_and_capabilities(
    pos: MiniPos, sandbox: Sandbox
) -> None:
    await pos.send(DiscoveryRequest())
    info = await pos.until(DiscoveryResponse)
    assert info.ready is True
    assert info.merchant_id == sandbox.state.merchant.merchant_id
    assert info.merchant_name == sandbox.state.merchant.name
    assert info.supports_acknowledgement is True
    assert info.supports_void_payment_response is True
    assert info.supports_auth
    assert info.supports_pre_auth
    assert info.supports_tip_adjust


async def test_approved_sale_is_in_the_v3_view_and_notified(
    pos: MiniPos, sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    notes: list[Notification] = []
    sandbox.state.subscribe(notes.append)
    mid = await pos.send(sale(1000, "sale-ok-1", tip_amount=150))
    started = await pos.until(TxStartResponse)
    assert started.result is TxStartResponseResult.SUCCESS
    assert started.request_info == "SALE"
    finish = await pos.until(FinishOk)
    assert mid in pos.acked
    assert finish.request_info == "SALE"
    payment = finish.payment
    assert payment is not None
    assert payment.amount == 1000
    assert payment.tip_amount == 150
    assert payment.result == "SUCCESS"
    assert payment.card_transaction is not None
    assert payment.card_transaction.type == "AUTH"
    assert payment.external_payment_id == "sale-ok-1"
    assert "UI_STATE" in pos.methods()
    assert "TX_STATE" in pos.methods()

    found = await v3_payments(http, sandbox, "sale-ok-1")
    assert [p["id"] for p in found] == [payment.id]
    assert found[0]["result"] == "SUCCESS"
    assert found[0]["amount"] == 1000
    assert ("P", payment.id, "CREATE") in [(n.key, n.object_id, n.kind) for n in notes]


async def test_same_external_id_again_is_a_duplicate(pos: MiniPos) -> None:
    await pos.send(sale(500, "dup-1"))
    await pos.until(FinishOk)
    await pos.send(sale(500, "dup-1"))
    again = await pos.until(TxStartResponse)
    assert again.result is TxStartResponseResult.DUPLICATE


async def test_decline_ends_in_finish_cancel_and_a_failed_payment(
    pos: MiniPos, terminal: Terminal, sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    terminal.push_script(CustomerScript(outcome="decline"))
    await pos.send(sale(777, "sale-decline-1"))
    await pos.until(FinishCancel)
    assert "FINISH_OK" not in pos.methods()
    assert any(isinstance(m, UiStateMessage) and m.ui_state == "DECLINED" for m in pos.received)
    found = await v3_payments(http, sandbox, "sale-decline-1")
    assert [p["result"] for p in found] == ["FAIL"]
    # a declined external id may be tried again
    await pos.send(sale(777, "sale-decline-1"))
    assert (await pos.until(FinishOk)).payment is not None


async def test_customer_cancel(
    pos: MiniPos, terminal: Terminal, sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    terminal.push_script(CustomerScript(outcome="cancel"))
    await pos.send(sale(900, "sale-cancel-1"))
    cancel = await pos.until(FinishCancel)
    assert cancel.request_info == "SALE"
    assert await v3_payments(http, sandbox, "sale-cancel-1") == []


async def test_pos_cancel_while_the_customer_never_acts(
    pos: MiniPos, terminal: Terminal, sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    terminal.push_script(CustomerScript(outcome="never_act"))
    await pos.send(sale(901, "sale-wait-1"))
    await pos.until(TxStartResponse)
    await pos.send(KeyPressMessage(key_press=KeyPress.ESC))
    await pos.until(FinishCancel)
    assert any(isinstance(m, UiStateMessage) and m.ui_state == "CANCELED" for m in pos.received)
    assert await v3_payments(http, sandbox, "sale-wait-1") == []


async def test_on_screen_tip_is_added(pos: MiniPos, terminal: Terminal) -> None:
    terminal.push_script(CustomerScript(tip=200))
    await pos.send(sale(2000, "sale-tip-1", tip_amount=None))
    tip = await pos.until(TipAdded)
    assert tip.tip_amount == 200
    finish = await pos.until(FinishOk)
    assert finish.payment is not None
    assert finish.payment.tip_amount == 200


@pytest.mark.parametrize("verified", [True, False])
async def test_signature_verified_by_the_pos(
    pos: MiniPos, terminal: Terminal, sandbox: Sandbox, http: httpx.AsyncClient, verified: bool
) -> None:
    terminal.push_script(CustomerScript(signature=True))
    await pos.send(sale(5000, "sale-sig-1"))
    ask = await pos.until(VerifySignature)
    assert ask.signature is not None
    assert ask.signature.strokes
    assert ask.payment is not None
    await pos.send(SignatureVerified(payment=ask.payment, verified=verified))
    if verified:
        finish = await pos.until(FinishOk)
        assert finish.signature is not None
        assert [p["result"] for p in await v3_payments(http, sandbox, "sale-sig-1")] == ["SUCCESS"]
    else:
        await pos.until(FinishCancel)
        found = await v3_payments(http, sandbox, "sale-sig-1")
        assert [(p["result"], p["voidReason"]) for p in found] == [("VOIDED", "REJECT_SIGNATURE")]


@pytest.mark.parametrize("accept", [True, False])
async def test_duplicate_challenge(
    pos: MiniPos, terminal: Terminal, sandbox: Sandbox, http: httpx.AsyncClient, accept: bool
) -> None:
    terminal.push_script(CustomerScript(challenge="DUPLICATE"))
    await pos.send(sale(1200, "sale-confirm-1"))
    ask = await pos.until(ConfirmPaymentMessage)
    assert ask.challenges
    assert ask.challenges[0].type == "DUPLICATE_CHALLENGE"
    assert ask.payment is not None
    if accept:
        await pos.send(PaymentConfirmed(payment=ask.payment))
        await pos.until(FinishOk)
        expected = ["SUCCESS"]
    else:
        await pos.send(PaymentRejected(payment=ask.payment, reason=VoidReason.REJECT_DUPLICATE))
        await pos.until(FinishCancel)
        expected = ["VOIDED"]
    assert [p["result"] for p in await v3_payments(http, sandbox, "sale-confirm-1")] == expected


async def test_partial_auth(pos: MiniPos, terminal: Terminal) -> None:
    terminal.push_script(CustomerScript(outcome="partial", partial_amount=600))
    await pos.send(sale(1000, "sale-partial-1"))
    finish = await pos.until(FinishOk)
    assert finish.payment is not None
    assert finish.payment.amount == 600


async def test_scripted_tx_start_rejection(pos: MiniPos, terminal: Terminal) -> None:
    terminal.push_script(CustomerScript(outcome="reject"))
    await pos.send(sale(300, "sale-txfail-1"))
    resp = await pos.until(TxStartResponse)
    assert resp.result is TxStartResponseResult.FAIL
