"""Payments voided in Clover outside the service (the merchant's dashboard, the device),
reported by app webhooks (thin ``P:`` payloads; the v3 payment is fetched): recorded
once as a terminal void is (payment voided, invoice reopened, ``payment.voided``, the
payer's void email, audit by the webhook), whatever is redelivered; waits while a void of
ours is unresolved; a person is alerted when the void cannot be matched. SQLite and
PostgreSQL."""

# ruff: noqa: F811  (the fixtures of terminal_helpers are imported by name)
from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import func, select

from cloverpay.sandbox import Sandbox
from cloverpay.service.db import AuditLog, Merchant, OutboxEvent, Payment, PaymentAttempt
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.clover_calls import CallOutcome
from cloverpay.service.services.receipts import VOID_RECEIPT
from cloverpay.service.services.terminal_ops import request_terminal_void, settle_terminal_op
from cloverpay.service.services.terminal_sales import start_terminal_sale
from cloverpay.service.terminal_runtime import TerminalRuntime
from cloverpay.service.webhooks import (
    EXTERNAL_VOID_SOURCE,
    RecordVoid,
    V3PaymentFact,
    VoidWaitsForOurs,
    apply_void,
)

from ..conftest import invoice_row, open_test_invoice
from ..receipt_helpers import PAYER, assert_no_card_data, customer_invoice, receipts
from ..terminal_helpers import (  # noqa: F401  (fixtures)
    assert_books,
    paid_on_terminal,
    runtime,
    settled,
    terminal,
    terminal_server,
)
from .conftest import Served, control
from .test_refunds import _post_app_hook, _redeliver_all, _settle_webhooks, connect_app_webhooks

pytestmark = pytest.mark.timeout(120)


def _void_at_clover(sandbox: Sandbox, clover_payment_id: str) -> httpx.Response:
    """What a merchant does in Clover's dashboard: the sandbox's control operation."""
    with control(sandbox) as c:
        return c.post(
            f"/_sandbox/platform/payments/{clover_payment_id}/void", json={"reason": "USER_CANCEL"}
        )


def _payment(ctx: ServiceContext, payment_id: str) -> Payment:
    with ctx.sessions() as s:
        return s.get_one(Payment, payment_id)


def _count(ctx: ServiceContext, *where: object) -> int:
    with ctx.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(AuditLog).where(*where)) or 0)


def _topics(ctx: ServiceContext, topic: str) -> list[OutboxEvent]:
    with ctx.sessions() as s:
        return list(s.scalars(select(OutboxEvent).where(OutboxEvent.topic == topic)))


def test_terminal_payment_voided_in_clover_is_recorded_once(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    served: Served,
    terminal: object,
    runtime: TerminalRuntime,
) -> None:
    connect_app_webhooks(ctx, sandbox, served)
    payment = paid_on_terminal(ctx, merchant, terminal, runtime)  # type: ignore[arg-type]
    invoice_id = payment.invoice_id or ""
    assert invoice_row(ctx, invoice_id).status == "paid"
    outcomes = _settle_webhooks(ctx, sandbox)
    assert not any("void" in o for o in outcomes), outcomes
    assert _void_at_clover(sandbox, payment.clover_charge_id).status_code == 200
    outcomes = _settle_webhooks(ctx, sandbox)
    assert sum("recorded void" in o for o in outcomes) == 1, outcomes
    voided = _payment(ctx, payment.id)
    assert voided.voided_at is not None
    assert invoice_row(ctx, invoice_id).status == "open"
    with ctx.sessions() as s:
        attempt = s.get_one(PaymentAttempt, voided.void_attempt_id)
        (audit,) = s.scalars(
            select(AuditLog).where(AuditLog.action == "void_attempt.recorded")
        ).all()
    assert (attempt.kind, attempt.state, attempt.source_kind) == (
        "void",
        "succeeded",
        EXTERNAL_VOID_SOURCE,
    )
    assert attempt.payment_id == payment.id
    assert audit.actor.startswith("webhook")
    assert audit.reason is not None
    assert "recorded from Clover" in audit.reason
    assert (
        _count(
            ctx,
            AuditLog.entity_id == invoice_id,
            AuditLog.from_state == "paid",
            AuditLog.to_state == "open",
        )
        == 1
    )
    # redelivered byte for byte, and new notices about the payment: nothing more
    _redeliver_all(sandbox, times=2)
    _post_app_hook(ctx, served, merchant, payment.clover_charge_id)
    _post_app_hook(ctx, served, merchant, payment.clover_charge_id)
    outcomes = _settle_webhooks(ctx, sandbox)
    assert not any("recorded void" in o for o in outcomes), outcomes
    assert _count(ctx, AuditLog.action == "void_attempt.recorded") == 1
    assert len(_topics(ctx, "payment.voided")) == 1
    assert _payment(ctx, payment.id).void_attempt_id == attempt.id
    assert_books(ctx, sandbox)


def test_void_in_clover_waits_for_our_unresolved_void_then_changes_nothing(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: object,
    runtime: TerminalRuntime,
) -> None:
    payment = paid_on_terminal(ctx, merchant, terminal, runtime)  # type: ignore[arg-type]
    runtime.stop()  # our void stays queued: nobody sends it
    ours = request_terminal_void(ctx, merchant.id, payment.id, actor="staff")
    fact = V3PaymentFact(payment.clover_charge_id, "VOIDED", payment.amount, None, None)
    effect = RecordVoid(merchant.id, payment.id, fact)
    with pytest.raises(VoidWaitsForOurs), ctx.sessions.begin() as s:
        apply_void(s, effect, actor="webhook:clover_app", now=ctx.now())
    assert _payment(ctx, payment.id).voided_at is None
    # ours is settled (by its owner or the reconciler): the webhook's retry finds it done
    settle_terminal_op(ctx, ours.id, CallOutcome("succeeded"), actor="reconciler")
    with ctx.sessions.begin() as s:
        said = apply_void(s, effect, actor="webhook:clover_app", now=ctx.now())
    assert "voided already" in said
    assert _payment(ctx, payment.id).void_attempt_id == ours.id
    assert _count(ctx, AuditLog.action == "void_attempt.recorded") == 0


def test_void_that_does_not_match_ours_is_an_alert_once(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: object,
    runtime: TerminalRuntime,
) -> None:
    payment = paid_on_terminal(ctx, merchant, terminal, runtime)  # type: ignore[arg-type]
    wrong = V3PaymentFact(payment.clover_charge_id, "VOIDED", payment.amount + 1, None, None)
    for _ in range(2):
        with ctx.sessions.begin() as s:
            said = apply_void(
                s, RecordVoid(merchant.id, payment.id, wrong), actor="webhook", now=ctx.now()
            )
        assert "needs attention" in said
    assert _payment(ctx, payment.id).voided_at is None
    (alert,) = _topics(ctx, "void.needs_attention")
    assert alert.channel == "alert"
    assert _count(ctx, AuditLog.action == "void.needs_attention") == 1


def test_voided_sale_we_never_recorded_is_an_alert(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    served: Served,
    terminal: object,
) -> None:
    """A sale of ours (its externalPaymentId) that Clover shows voided while we have no
    payment for it: not recorded, a person is told."""
    connect_app_webhooks(ctx, sandbox, served)
    inv = open_test_invoice(ctx, merchant)
    attempt = start_terminal_sale(
        ctx,
        merchant.id,
        inv.id,
        terminal.id,  # type: ignore[attr-defined]
        actor="staff",
    )
    with control(sandbox) as c:
        made = c.post(
            "/_sandbox/platform/payments",
            json={"amount": attempt.amount, "externalPaymentId": attempt.external_payment_id},
        )
    assert made.status_code == 200, made.text
    pid = made.json()["id"]
    _settle_webhooks(ctx, sandbox)
    assert _void_at_clover(sandbox, pid).status_code == 200
    outcomes = _settle_webhooks(ctx, sandbox)
    assert any("needs attention" in o for o in outcomes), outcomes
    (alert,) = _topics(ctx, "void.needs_attention")
    assert attempt.id in alert.payload_json
    with ctx.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Payment)) == 0


def test_void_in_clover_redelivered_sends_the_payer_one_void_email(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    served: Served,
    terminal: object,
    runtime: TerminalRuntime,
) -> None:
    """The void receipt goes with the void recorded from Clover's webhook, in its
    transaction: once, however often the webhook comes again."""
    connect_app_webhooks(ctx, sandbox, served)
    inv = customer_invoice(ctx, merchant)
    attempt = start_terminal_sale(
        ctx,
        merchant.id,
        inv.id,
        terminal.id,  # type: ignore[attr-defined]
        actor="staff",
    )
    runtime.poke()
    assert settled(ctx, attempt.id).state == "succeeded"
    with ctx.sessions() as s:
        payment = s.scalars(select(Payment).where(Payment.attempt_id == attempt.id)).one()
    _settle_webhooks(ctx, sandbox)
    assert receipts(ctx, VOID_RECEIPT) == []
    assert _void_at_clover(sandbox, payment.clover_charge_id).status_code == 200
    outcomes = _settle_webhooks(ctx, sandbox)
    assert sum("recorded void" in o for o in outcomes) == 1, outcomes
    _redeliver_all(sandbox, times=2)
    _post_app_hook(ctx, served, merchant, payment.clover_charge_id)
    outcomes = _settle_webhooks(ctx, sandbox)
    assert not any("recorded void" in o for o in outcomes), outcomes
    (row,) = receipts(ctx, VOID_RECEIPT)
    assert row.dedupe_key == f"{VOID_RECEIPT}:{payment.id}"
    payload = json.loads(row.payload_json)
    assert payload["to"] == PAYER
    assert "voided your payment of $21.60" in payload["text"]
    assert "voided your payment of $21.60" in payload["html"]
    assert_no_card_data(row.payload_json)
    assert_books(ctx, sandbox)
