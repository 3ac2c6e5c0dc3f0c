"""Invoice status changes: the transition table applied and audited, the paid status
derived from what the payments add up to, void and uncollectible."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cloverpay.service.db import Invoice, Payment, utcnow
from cloverpay.service.domain import InvoiceStatus, apply_transition
from cloverpay.service.errors import ConflictError
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.invoices._read import (
    _refuse_if_unresolved,
    amount_held,
    invoice_totals,
    load_invoice,
)
from cloverpay.service.services.records import add_audit, add_outbox

__all__ = [
    "invoice_paid_key",
    "mark_uncollectible",
    "set_invoice_status",
    "set_paid_status",
    "void_invoice",
]


def _audit_status(
    session: Session,
    invoice: Invoice,
    current: InvoiceStatus,
    target: InvoiceStatus,
    *,
    actor: str,
    reason: str | None,
) -> None:
    add_audit(
        session,
        merchant_id=invoice.merchant_id,
        actor=actor,
        action="invoice.status_changed",
        entity_type="invoice",
        entity_id=invoice.id,
        from_state=current.value,
        to_state=target.value,
        reason=reason,
    )


def set_invoice_status(
    session: Session,
    invoice: Invoice,
    target: InvoiceStatus,
    *,
    actor: str,
    reason: str | None = None,
) -> bool:
    """Apply the table; audit the change. Returns False for a no-op."""
    current = InvoiceStatus(invoice.status)
    if not apply_transition("invoice", current, target):
        return False
    invoice.status = target.value
    invoice.updated_at = utcnow()  # set here, the row is not read back after the flush
    _audit_status(session, invoice, current, target, actor=actor, reason=reason)
    return True


def invoice_paid_key(invoice_id: str, payment_id: str) -> str:
    """The ``invoice.paid`` outbox row's dedupe key: one event per payment that makes
    the invoice paid. A replay of the same settle finds the key taken (and the status
    already ``paid``); an invoice voided back to ``open`` and paid again by another
    payment emits again."""
    return f"invoice.paid:{invoice_id}:{payment_id}"


def set_paid_status(
    session: Session, invoice: Invoice, payment: Payment, *, paid: int, actor: str
) -> None:
    """Derive the invoice's status from ``paid`` (what its payments add up to, this
    ``payment`` included) after ``payment`` was recorded: ``paid`` or
    ``partially_paid``, audited; the ``invoice.paid`` outbox row when it became paid."""
    target = InvoiceStatus.PAID if paid >= invoice.total else InvoiceStatus.PARTIALLY_PAID
    changed = set_invoice_status(
        session, invoice, target, actor=actor, reason=f"payment {payment.id}"
    )
    if changed and target is InvoiceStatus.PAID:
        add_outbox(
            session,
            merchant_id=invoice.merchant_id,
            topic="invoice.paid",
            dedupe_key=invoice_paid_key(invoice.id, payment.id),
            payload={"invoice_id": invoice.id, "number": invoice.number},
        )


def void_invoice(ctx: ServiceContext, merchant_id: str, invoice_id: str, *, actor: str) -> Invoice:
    """Void an invoice no money was taken for (a refund undoes money; a void does not)."""
    with ctx.sessions.begin() as s:
        invoice = load_invoice(s, merchant_id, invoice_id, lock=True)
        _refuse_if_unresolved(s, invoice)
        if invoice_totals(s, invoice).paid > 0:
            raise ConflictError(
                "an invoice with payments cannot be voided; refund the payments",
                field="invoice_id",
                code="invoice_has_payments",
            )
        if amount_held(s, invoice.id) > 0:
            raise ConflictError(
                "a pre-authorization of this invoice is still held; void it first",
                field="invoice_id",
                code="invoice_authorized",
            )
        if set_invoice_status(s, invoice, InvoiceStatus.VOID, actor=actor):
            add_outbox(
                s,
                merchant_id=merchant_id,
                topic="invoice.voided",
                dedupe_key=f"invoice.voided:{invoice.id}",
                payload={"invoice_id": invoice.id, "number": invoice.number},
            )
    return invoice


def mark_uncollectible(
    ctx: ServiceContext, merchant_id: str, invoice_id: str, *, actor: str
) -> Invoice:
    with ctx.sessions.begin() as s:
        invoice = load_invoice(s, merchant_id, invoice_id, lock=True)
        _refuse_if_unresolved(s, invoice)
        set_invoice_status(s, invoice, InvoiceStatus.UNCOLLECTIBLE, actor=actor)
    return invoice
