"""Receipts emailed to payers (services/receipts.py): queued in the transaction that
records the payment or the refund, once per payment / refund whatever replays it, only
to a known customer email, never when the merchant turned them off, and never with more
of the card than its last four digits. Both back ends (the ``db_url`` fixture)."""

# ruff: noqa: F811  (the fixtures of terminal_helpers are imported by name)
from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloverpay.sandbox import Sandbox
from cloverpay.service.db import (
    AuditLog,
    Authorization,
    Merchant,
    Payment,
    Terminal,
)
from cloverpay.service.outbox_email import deliver_due
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.payments import pay_invoice
from cloverpay.service.services.preauth import authorize_invoice, capture_authorization
from cloverpay.service.services.receipts import (
    PAYMENT_RECEIPT,
    REFUND_RECEIPT,
    paid_with,
    set_receipts_enabled,
)
from cloverpay.service.services.refunds import refund_payment
from cloverpay.service.services.terminal_lookups import TerminalOutcome
from cloverpay.service.services.terminal_sales import settle_terminal_sale, start_terminal_sale
from cloverpay.service.terminal_runtime import TerminalRuntime
from cloverpay.service.web import EmailDelivery, WebSettings

from .conftest import assert_invariants, make_token
from .receipt_helpers import PAYER, assert_no_card_data, customer_invoice, receipts
from .terminal_helpers import (  # noqa: F401  (fixtures)
    runtime,
    settled,
    terminal,
    terminal_server,
)


def test_pay_replayed_request_queues_one_receipt_with_the_facts(
    api: TestClient, ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    inv = customer_invoice(ctx, merchant)
    body = {"token": make_token(sandbox), "amount": 1000, "tip_amount": 150}
    first = api.post(f"/v1/invoices/{inv.id}/pay", json=body, headers={"Idempotency-Key": "p-1"})
    assert first.status_code == 200, first.text
    again = api.post(f"/v1/invoices/{inv.id}/pay", json=body, headers={"Idempotency-Key": "p-1"})
    assert again.headers.get("idempotent-replayed") == "true"
    rows = receipts(ctx)
    assert len(rows) == 1
    payment_id = first.json()["payment"]["id"]
    assert rows[0].dedupe_key == f"{PAYMENT_RECEIPT}:{payment_id}"
    assert rows[0].channel == "email"
    payload = json.loads(rows[0].payload_json)
    assert payload["to"] == PAYER
    assert payload["subject"] == f"Receipt from Test Plumbing for invoice {inv.number}"
    text = payload["text"]
    assert "Test Plumbing" in text
    assert inv.number in text
    assert "Amount paid:    $10.00" in text
    assert "Tip:            $1.50" in text
    assert "Total charged:  $11.50" in text
    assert "Visa ending in 4242" in text
    assert "Still due:      $11.60" in text
    assert_no_card_data(rows[0].payload_json)
    # the worker delivers it (captured without SMTP, as in `cloverpay up`), once
    assert deliver_due(ctx, WebSettings()).captured == 1
    assert deliver_due(ctx, WebSettings()).captured == 0
    with ctx.sessions() as s:
        deliveries = list(s.scalars(select(EmailDelivery)))
    assert [d.recipient for d in deliveries] == [PAYER]
    assert_no_card_data(deliveries[0].body_text)
    # the rest of it: the second receipt says the invoice is paid in full
    rest = api.post(f"/v1/invoices/{inv.id}/pay", json={"token": make_token(sandbox)})
    assert rest.status_code == 200, rest.text
    rows = receipts(ctx)
    assert len(rows) == 2
    assert f"Invoice {inv.number} is paid in full." in json.loads(rows[1].payload_json)["text"]
    assert_invariants(ctx, sandbox)


def test_refund_replayed_and_settled_again_queues_one_refund_receipt(
    api: TestClient, ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    inv = customer_invoice(ctx, merchant)
    paid = api.post(f"/v1/invoices/{inv.id}/pay", json={"token": make_token(sandbox)})
    payment_id = paid.json()["payment"]["id"]
    path = f"/v1/payments/{payment_id}/refunds"
    first = api.post(path, json={"amount": 600}, headers={"Idempotency-Key": "r-1"})
    assert first.status_code == 200, first.text
    again = api.post(path, json={"amount": 600}, headers={"Idempotency-Key": "r-1"})
    assert again.headers.get("idempotent-replayed") == "true"
    rows = receipts(ctx, REFUND_RECEIPT)
    assert len(rows) == 1
    text = json.loads(rows[0].payload_json)["text"]
    assert "Amount refunded:      $6.00" in text
    assert "Refunded so far:      $6.00" in text
    assert "New total paid:       $15.60" in text
    assert "Visa ending in 4242" in text
    assert_no_card_data(rows[0].payload_json)
    # a second refund: its own receipt, with the new totals
    refund_payment(ctx, merchant.id, payment_id, amount=400, actor="t")
    rows = receipts(ctx, REFUND_RECEIPT)
    assert len(rows) == 2
    text = json.loads(rows[1].payload_json)["text"]
    assert "Refunded so far:      $10.00" in text
    assert "New total paid:       $11.60" in text
    assert len(receipts(ctx)) == 1  # still one payment receipt
    assert_invariants(ctx, sandbox)


def test_capture_of_a_pre_authorization_sends_the_receipt(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    inv = customer_invoice(ctx, merchant)
    att = authorize_invoice(
        ctx, merchant.id, inv.id, token=make_token(sandbox), tip_amount=300, actor="t"
    )
    assert receipts(ctx) == []  # a hold is not a payment
    with ctx.sessions() as s:
        auth = s.scalar(select(Authorization).where(Authorization.attempt_id == att.id))
        assert auth is not None
    capture_authorization(ctx, merchant.id, auth.id, actor="t")
    rows = receipts(ctx)
    assert len(rows) == 1
    text = json.loads(rows[0].payload_json)["text"]
    assert "Amount paid:    $21.60" in text
    assert "Tip:            $3.00" in text
    assert "paid in full" in text
    assert_invariants(ctx, sandbox)


def test_cash_and_card_payments_get_receipts_without_a_card_number(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    inv = customer_invoice(ctx, merchant)
    pay_invoice(ctx, merchant.id, inv.id, tender="cash", amount=500, actor="t")
    pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    rows = receipts(ctx)
    assert len(rows) == 2
    assert "Paid with:      cash" in json.loads(rows[0].payload_json)["text"]
    assert "Visa ending in 4242" in json.loads(rows[1].payload_json)["text"]


def test_no_receipt_without_a_customer_email_or_when_turned_off(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    no_email = customer_invoice(ctx, merchant, email=None)
    pay_invoice(ctx, merchant.id, no_email.id, token=make_token(sandbox), actor="t")
    assert receipts(ctx) == []

    assert set_receipts_enabled(ctx, merchant.id, False, actor="staff:owner")
    assert not set_receipts_enabled(ctx, merchant.id, False, actor="staff:owner")
    inv = customer_invoice(ctx, merchant)
    paid = pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    with ctx.sessions() as s:
        payment = s.scalar(select(Payment).where(Payment.attempt_id == paid.id))
        assert payment is not None
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "settings.receipts")).all()
    refund_payment(ctx, merchant.id, payment.id, amount=100, actor="t")
    assert receipts(ctx) == []
    assert receipts(ctx, REFUND_RECEIPT) == []
    assert [(a.from_state, a.to_state) for a in audit] == [("on", "off")]

    set_receipts_enabled(ctx, merchant.id, True, actor="staff:owner")
    refund_payment(ctx, merchant.id, payment.id, amount=100, actor="t")
    assert len(receipts(ctx, REFUND_RECEIPT)) == 1


def test_paid_with_shows_the_last_four_only() -> None:
    assert paid_with("card", "VISA", "4242") == "Visa ending in 4242"
    assert paid_with("card", "MC", "424242424242") == "Mastercard ending in 4242"
    assert paid_with("card", None, None) == "card"
    assert paid_with("cash", "VISA", "4242") == "cash"


def test_card_brands_read_as_people_write_them() -> None:
    from cloverpay.service.services.emails import card_brand_name

    assert card_brand_name("MC") == "Mastercard"
    assert card_brand_name("AMEX") == "American Express"
    assert card_brand_name("DINERS_CLUB") == "Diners Club"
    assert card_brand_name("visa") == "Visa"
    assert card_brand_name("GIFT_CARD") == "Gift Card"  # a code we do not know, in words
    assert card_brand_name(None) == "Card"


# -- a terminal sale -------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_terminal_sale_queues_one_receipt_settled_twice(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
) -> None:
    inv = customer_invoice(ctx, merchant)
    attempt = start_terminal_sale(ctx, merchant.id, inv.id, terminal.id, actor="staff")
    runtime.poke()
    done = settled(ctx, attempt.id)
    assert done.state == "succeeded", done.failure_message
    with ctx.sessions() as s:
        payment = s.scalar(select(Payment).where(Payment.attempt_id == attempt.id))
        assert payment is not None
    # the owner and the reconciler may both settle it: the second one is a no-op
    again = TerminalOutcome(
        "succeeded",
        payment_id=payment.clover_charge_id,
        order_id=payment.clover_order_id,
        amount=payment.amount,
        card_brand=payment.card_brand,
        card_last4=payment.card_last4,
    )
    settle_terminal_sale(ctx, attempt.id, again, actor="reconciler")
    rows = receipts(ctx)
    assert len(rows) == 1
    assert rows[0].dedupe_key == f"{PAYMENT_RECEIPT}:{payment.id}"
    text = json.loads(rows[0].payload_json)["text"]
    assert f"ending in {payment.card_last4}" in text
    assert "paid in full" in text
    assert_no_card_data(rows[0].payload_json)
