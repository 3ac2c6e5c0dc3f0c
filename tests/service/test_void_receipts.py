"""The "payment voided" email (services/voids.py ``record_void``): queued in the void's
transaction, once per payment however often the void is settled, to the invoice's
customer only, never when the merchant turned receipts off; sent as text and HTML with
the card's last four digits only. A terminal void here (real sockets to the emulated
terminal); the void Clover reports by webhook is in ``webhooks/test_voids.py``. Both
back ends."""

# ruff: noqa: F811  (the fixtures of terminal_helpers and smtp_sink are imported by name)
from __future__ import annotations

import json
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from cloverpay.service.db import Merchant, OutboxEvent, Payment, Terminal
from cloverpay.service.outbox_email import deliver_due
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.clover_calls import CallOutcome
from cloverpay.service.services.receipts import VOID_RECEIPT, set_receipts_enabled
from cloverpay.service.services.terminal_ops import settle_terminal_op
from cloverpay.service.services.terminal_sales import start_terminal_sale
from cloverpay.service.terminal_runtime import TerminalRuntime

from .receipt_helpers import PAYER, assert_no_card_data, customer_invoice, receipts
from .smtp_sink import SmtpSink, smtp_sink  # noqa: F401  (fixture)
from .terminal_helpers import (  # noqa: F401  (fixtures)
    runtime,
    settled,
    terminal,
    terminal_server,
)
from .test_receipt_emails import assert_self_contained, parts

pytestmark = pytest.mark.timeout(120)


def _paid_on_terminal(
    ctx: ServiceContext, merchant: Merchant, terminal: Terminal, runtime: TerminalRuntime
) -> Payment:
    inv = customer_invoice(ctx, merchant, name="<i>Dana</i> Payer")
    attempt = start_terminal_sale(ctx, merchant.id, inv.id, terminal.id, actor="staff")
    runtime.poke()
    assert settled(ctx, attempt.id).state == "succeeded"
    with ctx.sessions() as s:
        payment = s.scalar(select(Payment).where(Payment.attempt_id == attempt.id))
    assert payment is not None
    return payment


def test_terminal_void_settled_twice_sends_one_void_email(
    ctx: ServiceContext,
    merchant: Merchant,
    terminal: Terminal,
    runtime: TerminalRuntime,
    smtp_sink: SmtpSink,
) -> None:
    payment = _paid_on_terminal(ctx, merchant, terminal, runtime)
    void = runtime.void(merchant.id, payment.id, actor="staff")
    assert void.state == "succeeded", void.failure_message
    # the reconciler settles it too: a final attempt is left as it is
    settle_terminal_op(ctx, void.id, CallOutcome("succeeded"), actor="reconciler")
    (row,) = receipts(ctx, VOID_RECEIPT)
    assert row.dedupe_key == f"{VOID_RECEIPT}:{payment.id}"
    assert row.channel == "email"
    payload = json.loads(row.payload_json)
    assert payload["to"] == PAYER
    assert payload["payment_id"] == payment.id
    assert payload["subject"].startswith("Payment voided by Test Plumbing for invoice ")
    text = payload["text"]
    assert "Amount voided:    $21.60" in text
    assert f"ending in {payment.card_last4}" in text
    assert "Still due:        $21.60" in text  # the invoice is open again
    assert_no_card_data(row.payload_json)
    # the payment receipt went out before; the void email is the next one, over SMTP
    sent = [_deliver(ctx, smtp_sink) for _ in range(2)]
    assert [m["Subject"].split(" ")[0] for m in sent] == ["Receipt", "Payment"]
    text_part, html = parts(sent[1])
    assert text_part == text
    assert_self_contained(html)
    assert "&lt;i&gt;Dana&lt;/i&gt; Payer" in html
    for fact in ("Payment voided", "$21.60", f"ending in {payment.card_last4}", payment.id):
        assert fact in html, fact
    assert_no_card_data(html)
    # more passes of the worker: nothing more
    assert deliver_due(ctx, smtp_sink.web()).sent == 0
    assert len(smtp_sink.received) == 2


def _deliver(ctx: ServiceContext, sink: SmtpSink) -> EmailMessage:
    """The next due email, sent over SMTP."""
    assert deliver_due(ctx, sink.web(), limit=1).sent == 1
    return sink.messages()[-1]


def test_no_void_email_when_receipts_are_off(
    ctx: ServiceContext, merchant: Merchant, terminal: Terminal, runtime: TerminalRuntime
) -> None:
    payment = _paid_on_terminal(ctx, merchant, terminal, runtime)
    assert set_receipts_enabled(ctx, merchant.id, False, actor="staff:owner")
    void = runtime.void(merchant.id, payment.id, actor="staff")
    assert void.state == "succeeded", void.failure_message
    assert receipts(ctx, VOID_RECEIPT) == []
    with ctx.sessions() as s:  # the void itself is recorded as ever
        topics = list(s.scalars(select(OutboxEvent.topic)))
        assert s.get_one(Payment, payment.id).voided_at is not None
    assert "payment.voided" in topics
