"""Receipts of payments and refunds recorded from Clover's webhooks: a Hosted Checkout
payment whose webhook is delivered three times and whose payer also comes back to the
return page, and a refund made in Clover redelivered, each queue one receipt."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import select

from cloverpay.sandbox import Sandbox
from cloverpay.service.db import Merchant, Payment
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.payments import pay_invoice
from cloverpay.service.services.receipts import PAYMENT_RECEIPT, REFUND_RECEIPT

from ..conftest import assert_invariants, make_token
from ..receipt_helpers import PAYER, assert_no_card_data, customer_invoice, receipts
from .conftest import (
    Capture,
    Served,
    checkout_receiver,
    drain,
    open_checkout,
    pay_on_clover,
    point_checkout_webhooks,
    use_hosted_checkout,
)
from .test_refunds import (
    _post_app_hook,
    _redeliver_all,
    _refund_at_clover,
    _settle_webhooks,
    connect_app_webhooks,
)


def test_hosted_checkout_webhook_redelivered_and_return_page_one_receipt(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    served: Served,
    capture: Capture,
) -> None:
    use_hosted_checkout(ctx, merchant)
    point_checkout_webhooks(ctx, sandbox, merchant, capture.url)
    inv = customer_invoice(ctx, merchant)
    link, checkout = open_checkout(ctx, served, sandbox, inv)
    assert pay_on_clover(sandbox, checkout) in (200, 303)
    (hook,) = capture.wait_for(1)
    receiver = checkout_receiver(served.base_url, merchant)
    for _ in range(3):  # Clover redelivers
        r = httpx.post(receiver, content=hook.body, headers=hook.headers)
        assert r.status_code in (200, 202), r.text
        drain(ctx)
    assert httpx.get(link, follow_redirects=False).status_code == 200  # the return page
    drain(ctx)
    with ctx.sessions() as s:
        (payment,) = s.scalars(select(Payment).where(Payment.invoice_id == inv.id)).all()
    (row,) = receipts(ctx)
    assert row.dedupe_key == f"{PAYMENT_RECEIPT}:{payment.id}"
    payload = json.loads(row.payload_json)
    assert payload["to"] == PAYER
    assert "paid in full" in payload["text"]
    assert_no_card_data(row.payload_json)
    assert_invariants(ctx, sandbox)


def test_refund_made_in_clover_redelivered_one_refund_receipt(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, served: Served
) -> None:
    connect_app_webhooks(ctx, sandbox, served)
    inv = customer_invoice(ctx, merchant)
    attempt = pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    with ctx.sessions() as s:
        payment = s.scalars(select(Payment).where(Payment.attempt_id == attempt.id)).one()
    _settle_webhooks(ctx, sandbox)
    _refund_at_clover(sandbox, payment.clover_charge_id, 700)
    outcomes = _settle_webhooks(ctx, sandbox)
    assert any("recorded refund" in o for o in outcomes), outcomes
    _redeliver_all(sandbox, times=2)
    _post_app_hook(ctx, served, merchant, payment.clover_charge_id)
    _settle_webhooks(ctx, sandbox)
    (row,) = receipts(ctx, REFUND_RECEIPT)
    text = json.loads(row.payload_json)["text"]
    assert "Amount refunded:      $7.00" in text
    assert "New total paid:       $14.60" in text
    assert_no_card_data(row.payload_json)
    assert len(receipts(ctx)) == 1  # the payment's own receipt, once
    assert_invariants(ctx, sandbox)
