"""Recording a void: the payment stops counting towards its invoice (RELIABILITY rule 8).

Shared by a terminal void's settle (:mod:`.terminal_ops`) and a void Clover reports by
app webhook (``webhooks/_voids.py``); both call :func:`record_void` in their own
transaction, with the payment row locked and the void's attempt succeeded. The payer
gets a "payment voided" email (:func:`~.receipts.queue_void_receipt`) in that same
transaction, as receipts go (the invoice's customer, when receipts are on), keyed
``email.void_receipt:<payment id>``: a payment is voided once, so once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from cloverpay.service.db import Invoice, Payment, PaymentAttempt
from cloverpay.service.domain import InvoiceStatus
from cloverpay.service.services.invoices import invoice_totals, load_invoice, set_invoice_status
from cloverpay.service.services.receipts import queue_void_receipt
from cloverpay.service.services.records import add_outbox

__all__ = ["record_void"]


def record_void(
    s: Session, payment: Payment, attempt: PaymentAttempt, *, actor: str, now: datetime
) -> str | None:
    """Mark a *locked* payment voided by the succeeded void ``attempt``: it stops counting
    towards its invoice, whose status is derived again; the ``payment.voided`` event and
    the payer's email. Returns the invoice's new status (None without an invoice). In the
    caller's transaction (a terminal void's settle, or a void Clover reported by webhook)."""
    payment.voided_at = now
    payment.void_attempt_id = attempt.id
    s.flush()
    status = None
    if payment.invoice_id is not None:
        invoice = load_invoice(s, attempt.merchant_id, payment.invoice_id, lock=True)
        status, due = _derive_after_void(s, invoice, payment, actor=actor)
        queue_void_receipt(s, payment, invoice=invoice, due=due, now=now)
    add_outbox(
        s,
        merchant_id=attempt.merchant_id,
        topic="payment.voided",
        dedupe_key=f"payment.voided:{payment.id}",
        payload={
            "payment_id": payment.id,
            "invoice_id": payment.invoice_id,
            "amount": payment.amount,
            "invoice_status": status,
        },
        now=now,
    )
    return status


def _derive_after_void(
    s: Session, invoice: Invoice, payment: Payment, *, actor: str
) -> tuple[str, int]:
    """The invoice's status from the payments that still count (rule 8), and what is
    left to pay on it."""
    totals = invoice_totals(s, invoice)
    if totals.paid >= totals.total and totals.paid > 0:
        target = InvoiceStatus.PAID
    elif totals.paid > 0:
        target = InvoiceStatus.PARTIALLY_PAID
    elif invoice.status == InvoiceStatus.UNCOLLECTIBLE.value:
        target = InvoiceStatus.UNCOLLECTIBLE
    else:
        target = InvoiceStatus.OPEN
    set_invoice_status(s, invoice, target, actor=actor, reason=f"payment {payment.id} voided")
    return invoice.status, totals.amount_due
