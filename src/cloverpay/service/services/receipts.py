"""Receipts emailed to payers: one for each payment recorded, one for each refund.

They are queued in the transaction that records the payment or the refund (the
outbox row commits with it or not at all), keyed by that row's id
(``email.payment_receipt:<payment id>``, ``email.refund_receipt:<refund id>``; the
outbox's ``dedupe_key`` is unique). A payment or a refund is recorded once (unique
attempt and Clover ids), so a replayed request, a redelivered webhook, the reconciler
or a restart after a crash never queue a second receipt. The email worker
(``outbox_email``) delivers them like every other email.

A receipt goes to the invoice's customer, when the customer has an email address and
the merchant has not turned receipts off (``merchant_web_settings.receipts_enabled``,
on by default). It shows the card's brand and last four digits only: a payment row
holds nothing more (RELIABILITY.md rule 9), and the last four are cut to four digits
here anyway.

Rendering cannot fail the recording it belongs to: a template error is logged and the
receipt skipped, never the payment.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from cloverpay.service.db import Customer, Invoice, Merchant, MerchantWebSettings, Payment, Refund
from cloverpay.service.db.base import utcnow
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.merchant_settings import SettingsChange, update_settings
from cloverpay.service.services.records import add_outbox

__all__ = [
    "PAYMENT_RECEIPT",
    "REFUND_RECEIPT",
    "format_money",
    "paid_with",
    "queue_payment_receipt",
    "queue_refund_receipt",
    "receipts_enabled",
    "set_receipts_enabled",
]

#: Outbox topics of the two receipts.
PAYMENT_RECEIPT = "email.payment_receipt"
REFUND_RECEIPT = "email.refund_receipt"

log = logging.getLogger("cloverpay.receipts")


def format_money(cents: int | None, currency: str = "usd") -> str:
    value = (cents or 0) / 100
    symbol = {"usd": "$", "eur": "€", "gbp": "£", "cad": "CA$"}.get(currency.lower(), "")
    text = f"{symbol}{value:,.2f}"
    return text if symbol else f"{text} {currency.upper()}"


def paid_with(tender: str, brand: str | None, last4: str | None) -> str:
    """``VISA ending in 4242``; never more than the last four digits."""
    if tender in ("cash", "check"):
        return tender
    digits = "".join(c for c in (last4 or "") if c.isdigit())[-4:]
    name = (brand or "card").replace("_", " ").upper() if brand else "card"
    return f"{name} ending in {digits}" if len(digits) == 4 else name


_env = Environment(
    loader=FileSystemLoader(str(Path(__file__).parent / "emails")),
    undefined=StrictUndefined,
    autoescape=select_autoescape(["html"]),  # the .txt receipts are plain text
    keep_trailing_newline=True,
)
_env.filters["money"] = format_money

# One statement: who gets it, and whether the merchant wants receipts sent (no settings
# row = on). Built once, bound by ``invoice_id``.
_RECIPIENT = (
    select(Merchant.name, Customer.email, Customer.name, MerchantWebSettings.receipts_enabled)
    .select_from(Invoice)
    .join(Merchant, Merchant.id == Invoice.merchant_id)
    .outerjoin(Customer, Customer.id == Invoice.customer_id)
    .outerjoin(MerchantWebSettings, MerchantWebSettings.merchant_id == Invoice.merchant_id)
    .where(Invoice.id == bindparam("invoice_id"))
)
_REFUNDED = select(func.coalesce(func.sum(Refund.amount), 0)).where(
    Refund.payment_id == bindparam("payment_id")
)


def _recipient(s: Session, invoice_id: str) -> tuple[str, str, str] | None:
    """(merchant name, customer email, customer name) or None: no receipt."""
    with s.no_autoflush:  # reads no row of the settle: its rows stay for one flush
        row = s.execute(_RECIPIENT, {"invoice_id": invoice_id}).first()
    if row is None:
        return None
    merchant_name, email, customer_name, enabled = row
    if enabled is False or not email or "@" not in email:
        return None
    return merchant_name, email.strip(), customer_name or email.strip()


def _render(name: str, data: dict[str, Any]) -> str | None:
    try:
        return _env.get_template(name).render(**data)
    except Exception:  # a receipt never costs the recording it belongs to
        log.exception("receipt %s could not be rendered; not queued", name)
        return None


def queue_payment_receipt(
    s: Session,
    payment: Payment,
    *,
    invoice: Invoice | None,
    paid: int,
    now: datetime | None = None,
) -> bool:
    """Queue the receipt of ``payment`` in the caller's transaction. ``paid``: what the
    invoice's payments add up to with this one. True when a receipt was queued."""
    if invoice is None:
        return False
    who = _recipient(s, invoice.id)
    if who is None:
        return False
    merchant_name, email, customer_name = who
    at = now or utcnow()
    text = _render(
        "payment_receipt.txt",
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
    )
    if text is None:
        return False
    add_outbox(
        s,
        merchant_id=payment.merchant_id,
        topic=PAYMENT_RECEIPT,
        channel="email",
        dedupe_key=f"{PAYMENT_RECEIPT}:{payment.id}",
        payload={
            "to": email,
            "subject": f"Receipt from {merchant_name} for invoice {invoice.number}",
            "text": text,
            "invoice_id": invoice.id,
            "payment_id": payment.id,
        },
        now=at,
    )
    return True


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
    text = _render(
        "refund_receipt.txt",
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
    )
    if text is None:
        return False
    add_outbox(
        s,
        merchant_id=refund.merchant_id,
        topic=REFUND_RECEIPT,
        channel="email",
        dedupe_key=f"{REFUND_RECEIPT}:{refund.id}",
        payload={
            "to": email,
            "subject": f"Refund from {merchant_name} for invoice {invoice.number}",
            "text": text,
            "invoice_id": invoice.id,
            "payment_id": payment.id,
            "refund_id": refund.id,
        },
        now=at,
    )
    return True


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
