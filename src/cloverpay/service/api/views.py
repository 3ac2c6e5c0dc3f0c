"""Rows -> response bodies (amounts derived from payment and refund rows)."""

from __future__ import annotations

import json

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloverpay.service.api.schemas import (
    AttemptOut,
    AuditEntryOut,
    CardOut,
    CustomerOut,
    InvoiceOut,
    LineItemOut,
    PaymentOut,
)
from cloverpay.service.db import (
    AuditLog,
    CardOnFile,
    Customer,
    Invoice,
    InvoiceLineItem,
    Payment,
    PaymentAttempt,
    Refund,
)
from cloverpay.service.services.invoices import InvoiceTotals, invoice_totals
from cloverpay.service.services.payments import settled_totals

__all__ = [
    "attempt_out",
    "audit_out",
    "card_out",
    "customer_out",
    "invoice_out",
    "payment_out",
    "settled_attempt_out",
]


def customer_out(c: Customer) -> CustomerOut:
    return CustomerOut(
        id=c.id,
        name=c.name,
        email=c.email,
        phone=c.phone,
        external_id=c.external_id,
        clover_customer_id=c.clover_customer_id,
        created_at=c.created_at,
    )


def card_out(c: CardOnFile) -> CardOut:
    return CardOut(
        id=c.id,
        customer_id=c.customer_id,
        brand=c.brand,
        first6=c.first6,
        last4=c.last4,
        exp_month=c.exp_month,
        exp_year=c.exp_year,
        created_at=c.created_at,
    )


def invoice_out(
    inv: Invoice, totals: InvoiceTotals, line_items: list[InvoiceLineItem] | None = None
) -> InvoiceOut:
    """``line_items``: the invoice's, read by the caller (else ``inv.line_items``)."""
    return InvoiceOut(
        id=inv.id,
        number=inv.number,
        status=inv.status,
        currency=inv.currency,
        customer_id=inv.customer_id,
        subtotal=inv.subtotal,
        tax_amount=inv.tax_amount,
        total=inv.total,
        amount_paid=totals.paid,
        amount_refunded=totals.refunded,
        amount_due=totals.amount_due,
        clover_order_id=inv.clover_order_id,
        memo=inv.memo,
        line_items=[
            LineItemOut(
                description=li.description,
                quantity=li.quantity,
                unit_amount=li.unit_amount,
                amount=li.amount,
            )
            for li in (inv.line_items if line_items is None else line_items)
        ],
        created_at=inv.created_at,
    )


def payment_out(s: Session, p: Payment, *, refunded: int | None = None) -> PaymentOut:
    """``refunded``: known by the caller (0 for a payment just recorded)."""
    if refunded is None:
        refunded = s.scalar(
            select(func.coalesce(func.sum(Refund.amount), 0)).where(Refund.payment_id == p.id)
        )
    return PaymentOut(
        id=p.id,
        invoice_id=p.invoice_id,
        attempt_id=p.attempt_id,
        clover_charge_id=p.clover_charge_id,
        amount=p.amount,
        tip_amount=p.tip_amount,
        amount_refunded=int(refunded or 0),
        currency=p.currency,
        tender=p.tender,
        card_brand=p.card_brand,
        card_last4=p.card_last4,
        created_at=p.created_at,
        voided_at=p.voided_at,
    )


def attempt_out(
    s: Session,
    a: PaymentAttempt,
    *,
    with_invoice: bool = False,
    new_payment: Payment | None = None,
    totals: InvoiceTotals | None = None,
) -> AttemptOut:
    """``new_payment``: the attempt's payment, recorded in the caller's transaction
    (nothing refunded yet; not read back). ``totals``: the invoice's, known by the
    caller (read in its transaction after the invoice was locked)."""
    payment = None
    if new_payment is not None:
        payment = payment_out(s, new_payment, refunded=0)
    elif a.kind in ("charge", "capture"):
        row = s.scalar(select(Payment).where(Payment.attempt_id == a.id))
        payment = payment_out(s, row) if row is not None else None
    invoice = None
    if with_invoice and a.invoice_id is not None:
        inv = s.get(Invoice, a.invoice_id)  # no statement if the session holds it
        if inv is not None:
            invoice = invoice_out(inv, totals or invoice_totals(s, inv))
    return AttemptOut(
        id=a.id,
        kind=a.kind,
        state=a.state,
        amount=a.amount,
        tip_amount=a.tip_amount,
        currency=a.currency,
        invoice_id=a.invoice_id,
        payment_id=a.payment_id or (payment.id if payment else None),
        clover_charge_id=a.clover_charge_id,
        clover_refund_id=a.clover_refund_id,
        failure_code=a.failure_code,
        failure_message=a.failure_message,
        next_check_at=a.next_check_at,
        created_at=a.created_at,
        payment=payment,
        invoice=invoice,
    )


def settled_attempt_out(s: Session, a: PaymentAttempt) -> AttemptOut:
    """The answer for an attempt, inside the transaction that just settled it: the
    rows it added are flushed and used as they are instead of being read back."""
    new_payment = next((o for o in s.new if isinstance(o, Payment) and o.attempt_id == a.id), None)
    s.flush()  # column defaults (ids, created_at) of the rows just added
    totals = settled_totals(s, a.invoice_id) if a.invoice_id is not None else None
    return attempt_out(s, a, with_invoice=True, new_payment=new_payment, totals=totals)


def audit_out(row: AuditLog) -> AuditEntryOut:
    return AuditEntryOut(
        id=row.id,
        actor=row.actor,
        action=row.action,
        entity_type=row.entity_type,
        entity_id=row.entity_id,
        from_state=row.from_state,
        to_state=row.to_state,
        reason=row.reason,
        data=json.loads(row.data_json) if row.data_json else None,
        created_at=row.created_at,
    )
