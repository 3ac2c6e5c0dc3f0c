"""Helpers of the receipt tests: an invoice of a customer with an email address, the
receipts queued, and the check that nothing of a card but its last four is in one."""

from __future__ import annotations

import re

from sqlalchemy import select

from cloverpay.service.db import Invoice, Merchant, OutboxEvent
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.customers import create_customer
from cloverpay.service.services.invoices import LineItemInput, create_invoice, open_invoice
from cloverpay.service.services.receipts import PAYMENT_RECEIPT

from .conftest import APPROVE

PAYER = "payer@example.com"
CVV = "123"  # what make_token sends


def customer_invoice(
    ctx: ServiceContext,
    merchant: Merchant,
    *,
    email: str | None = PAYER,
    name: str = "Dana Payer",
    line: str = "Drain repair",
) -> Invoice:
    """An open invoice of 21.60 (2 x 10.00 + 1.60 tax) for a customer ``name`` with
    ``email``."""
    customer = create_customer(ctx, merchant.id, name=name, email=email, actor="test")
    inv = create_invoice(
        ctx,
        merchant.id,
        line_items=[LineItemInput(line, 2, 1000)],
        tax_amount=160,
        customer_id=customer.id,
        actor="test",
    )
    return open_invoice(ctx, merchant.id, inv.id, actor="test")


def receipts(ctx: ServiceContext, topic: str = PAYMENT_RECEIPT) -> list[OutboxEvent]:
    with ctx.sessions() as s:
        return list(
            s.scalars(
                select(OutboxEvent).where(OutboxEvent.topic == topic).order_by(OutboxEvent.id)
            )
        )


def assert_no_card_data(text: str) -> None:
    """Nothing of the card but its last four digits: no PAN, no first six, no CVV, no
    run of digits long enough to be a card number (our ids, 32 hex digits, set aside)."""
    text = re.sub(r"[0-9a-f]{32}", "<id>", text)
    assert APPROVE not in text
    assert APPROVE[:6] not in text
    assert re.search(rf"(?<!\d){CVV}(?!\d)", text) is None
    assert re.search(r"\d{7,}", text) is None
    assert "cvv" not in text.lower()
