"""Receipts emailed to payers: one for each payment recorded, one for each refund, one
for each payment voided.

They are queued in the transaction that records the payment, the refund or the void
(the outbox row commits with it or not at all), keyed by that row's id
(``email.payment_receipt:<payment id>``, ``email.refund_receipt:<refund id>``,
``email.void_receipt:<payment id>``; the outbox's ``dedupe_key`` is unique). A payment
or a refund is recorded once (unique attempt and Clover ids), a payment is voided once
(``payments.void_attempt_id``), so a replayed request, a redelivered webhook, the
reconciler or a restart after a crash never queue a second receipt. The email worker
(``outbox_email``) delivers them like every other email: plain text and HTML
(:mod:`.emails`).

A receipt goes to the invoice's customer, when the customer has an email address and
the merchant has not turned receipts off (``merchant_web_settings.receipts_enabled``,
on by default). It shows the card's brand and last four digits only: a payment row
holds nothing more (RELIABILITY.md rule 9), and the last four are cut to four digits
here anyway.

Rendering cannot fail the recording it belongs to: a template error is logged and the
receipt skipped, never the payment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from cloverpay.service.db import Customer, Invoice, Merchant, MerchantWebSettings, Payment, Refund
from cloverpay.service.db.base import utcnow
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.emails import (
    card_brand_name,
    email_payload,
    format_money,
    render_or_skip,
)
from cloverpay.service.services.merchant_settings import SettingsChange, update_settings
from cloverpay.service.services.records import add_outbox

__all__ = [
    "PAYMENT_RECEIPT",
    "REFUND_RECEIPT",
    "VOID_RECEIPT",
    "Recipient",
    "format_money",
    "paid_with",
    "queue_payment_receipt",
    "queue_refund_receipt",
    "queue_void_receipt",
    "receipts_enabled",
    "recipient_of",
    "select_recipient",
    "set_receipts_enabled",
]

#: Outbox topics of the receipts.
PAYMENT_RECEIPT = "email.payment_receipt"
REFUND_RECEIPT = "email.refund_receipt"
VOID_RECEIPT = "email.void_receipt"


def paid_with(tender: str, brand: str | None, last4: str | None) -> str:
    """``Visa ending in 4242``; never more than the last four digits."""
    if tender in ("cash", "check"):
        return tender
    digits = "".join(c for c in (last4 or "") if c.isdigit())[-4:]
    name = card_brand_name(brand) if brand else "card"
    return f"{name} ending in {digits}" if len(digits) == 4 else name


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who gets the receipts of an invoice: (merchant name, customer email, customer
    name), or None when nobody does."""

    who: tuple[str, str, str] | None


def select_recipient(*columns: Any) -> Select[Any]:
    """One statement on the invoice bound as ``invoice_id``: ``columns`` (of the
    invoice, or scalar subqueries bound by ``invoice_id``), then who gets its receipts
    and whether the merchant wants receipts sent (no settings row = on), the four
    columns :func:`recipient_of` reads."""
    return (
        select(
            *columns,
            Merchant.name,
            Customer.email,
            Customer.name,
            MerchantWebSettings.receipts_enabled,
        )
        .select_from(Invoice)
        .join(Merchant, Merchant.id == Invoice.merchant_id)
        .outerjoin(Customer, Customer.id == Invoice.customer_id)
        .outerjoin(MerchantWebSettings, MerchantWebSettings.merchant_id == Invoice.merchant_id)
        .where(Invoice.id == bindparam("invoice_id"))
    )


def recipient_of(row: Sequence[Any] | None) -> Recipient:
    """The recipient in a row of :func:`select_recipient` (its last four columns)."""
    if row is None:
        return Recipient(None)
    merchant_name, email, customer_name, enabled = row[-4:]
    if enabled is False or not email or "@" not in email:
        return Recipient(None)
    return Recipient((merchant_name, email.strip(), customer_name or email.strip()))


# Built once, bound by ``invoice_id``.
_RECIPIENT = select_recipient()
_REFUNDED = select(func.coalesce(func.sum(Refund.amount), 0)).where(
    Refund.payment_id == bindparam("payment_id")
)


def _recipient(s: Session, invoice_id: str) -> tuple[str, str, str] | None:
    """(merchant name, customer email, customer name) or None: no receipt."""
    with s.no_autoflush:  # reads no row of the settle: its rows stay for one flush
        row = s.execute(_RECIPIENT, {"invoice_id": invoice_id}).first()
    return recipient_of(row).who


def _queue(
    s: Session,
    template: str,
    facts: dict[str, Any],
    *,
    merchant_id: str,
    topic: str,
    key: str,
    to: str,
    subject: str,
    ids: dict[str, str],
    now: datetime,
) -> bool:
    """Render ``template`` and queue it as ``topic`` once per ``key`` (the outbox's
    unique dedupe key). False when rendering failed (logged, the receipt skipped)."""
    content = render_or_skip(template, facts)
    if content is None:
        return False
    add_outbox(
        s,
        merchant_id=merchant_id,
        topic=topic,
        channel="email",
        dedupe_key=f"{topic}:{key}",
        payload=email_payload(to=to, subject=subject, content=content, **ids),
        now=now,
    )
    return True


def queue_payment_receipt(
    s: Session,
    payment: Payment,
    *,
    invoice: Invoice | None,
    paid: int,
    now: datetime | None = None,
    recipient: Recipient | None = None,
) -> bool:
    """Queue the receipt of ``payment`` in the caller's transaction. ``paid``: what the
    invoice's payments add up to with this one; ``recipient``: read by the caller in
    this transaction (else read here). True when a receipt was queued."""
    if invoice is None:
        return False
    who = _recipient(s, invoice.id) if recipient is None else recipient.who
    if who is None:
        return False
    merchant_name, email, customer_name = who
    at = now or utcnow()
    return _queue(
        s,
        "payment_receipt",
        {
            "customer_name": customer_name,
            "merchant_name": merchant_name,
            "invoice_number": invoice.number,
            "date": f"{at:%B %d, %Y}",
            "amount": payment.amount,
            "tip": payment.tip_amount or 0,
            "currency": payment.currency,
            "paid_with": paid_with(payment.tender, payment.card_brand, payment.card_last4),
            "due": max(invoice.total - paid, 0),
            "payment_id": payment.id,
        },
        merchant_id=payment.merchant_id,
        topic=PAYMENT_RECEIPT,
        key=payment.id,
        to=email,
        subject=f"Receipt from {merchant_name} for invoice {invoice.number}",
        ids={"invoice_id": invoice.id, "payment_id": payment.id},
        now=at,
    )


def queue_refund_receipt(
    s: Session, refund: Refund, payment: Payment, *, now: datetime | None = None
) -> bool:
    """Queue the receipt of ``refund`` (already flushed, so counted in the payment's
    refunds) in the caller's transaction. True when a receipt was queued."""
    if payment.invoice_id is None:
        return False
    invoice = s.get(Invoice, payment.invoice_id)
    who = _recipient(s, payment.invoice_id)
    if invoice is None or who is None:
        return False
    merchant_name, email, customer_name = who
    refunded = int(s.scalar(_REFUNDED, {"payment_id": payment.id}) or 0)
    at = now or utcnow()
    return _queue(
        s,
        "refund_receipt",
        {
            "customer_name": customer_name,
            "merchant_name": merchant_name,
            "invoice_number": invoice.number,
            "date": f"{at:%B %d, %Y}",
            "refund_amount": refund.amount,
            "currency": payment.currency,
            "paid_with": paid_with(payment.tender, payment.card_brand, payment.card_last4),
            "payment_amount": payment.amount,
            "tip": payment.tip_amount or 0,
            "payment_date": f"{payment.created_at or at:%B %d, %Y}",
            "refunded_total": refunded,
            "new_total": max(payment.amount + (payment.tip_amount or 0) - refunded, 0),
            "refund_id": refund.id,
        },
        merchant_id=refund.merchant_id,
        topic=REFUND_RECEIPT,
        key=refund.id,
        to=email,
        subject=f"Refund from {merchant_name} for invoice {invoice.number}",
        ids={"invoice_id": invoice.id, "payment_id": payment.id, "refund_id": refund.id},
        now=at,
    )


def queue_void_receipt(
    s: Session, payment: Payment, *, invoice: Invoice, due: int, now: datetime
) -> bool:
    """Queue the "payment voided" email of ``payment`` (just marked voided) in the
    caller's transaction. ``due``: what is left to pay on ``invoice`` now that the payment
    no longer counts. True when one was queued."""
    who = _recipient(s, invoice.id)
    if who is None:
        return False
    merchant_name, email, customer_name = who
    return _queue(
        s,
        "void_receipt",
        {
            "customer_name": customer_name,
            "merchant_name": merchant_name,
            "invoice_number": invoice.number,
            "date": f"{now:%B %d, %Y}",
            "amount": payment.amount,
            "tip": payment.tip_amount or 0,
            "currency": payment.currency,
            "paid_with": paid_with(payment.tender, payment.card_brand, payment.card_last4),
            "card": payment.tender not in ("cash", "check"),
            "payment_date": f"{payment.created_at or now:%B %d, %Y}",
            "due": max(due, 0),
            "payment_id": payment.id,
        },
        merchant_id=payment.merchant_id,
        topic=VOID_RECEIPT,
        key=payment.id,
        to=email,
        subject=f"Payment voided by {merchant_name} for invoice {invoice.number}",
        ids={"invoice_id": invoice.id, "payment_id": payment.id},
        now=now,
    )


def receipts_enabled(s: Session, merchant_id: str) -> bool:
    row = s.get(MerchantWebSettings, merchant_id)
    return True if row is None else bool(row.receipts_enabled)


def set_receipts_enabled(
    ctx: ServiceContext, merchant_id: str, enabled: bool, *, actor: str
) -> bool:
    """Turn the merchant's receipts on or off (audited; the Settings page's switch,
    :func:`~cloverpay.service.services.merchant_settings.update_settings`). False when
    nothing changed."""
    _after, changed = update_settings(
        ctx, merchant_id, SettingsChange(receipts_enabled=enabled), actor=actor
    )
    return bool(changed)
