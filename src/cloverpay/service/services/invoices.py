"""Invoices: create (draft), open (creates the Clover order), void, mark uncollectible.

Each function is one unit of work: the invoice rows, the audit row and the outbox row
commit together. Paid and refunded amounts are derived from payment rows (rule 8).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cloverpay.api import APIError, CloverError, OrderItemParams
from cloverpay.service.db import Invoice, InvoiceLineItem, Merchant, Payment, PaymentAttempt, Refund
from cloverpay.service.domain import (
    OPEN_ATTEMPT_STATES,
    AttemptKind,
    InvoiceStatus,
    apply_transition,
)
from cloverpay.service.errors import (
    AttemptUnresolvedError,
    ConflictError,
    InvalidRequest,
    NotFound,
    UpstreamError,
)
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.records import add_audit, add_outbox, audit_failure

__all__ = [
    "InvoiceTotals",
    "LineItemInput",
    "create_invoice",
    "get_invoice",
    "invoice_totals",
    "list_invoices",
    "mark_uncollectible",
    "open_invoice",
    "set_invoice_status",
    "void_invoice",
]


@dataclass(frozen=True, slots=True)
class LineItemInput:
    description: str
    quantity: int
    unit_amount: int


@dataclass(frozen=True, slots=True)
class InvoiceTotals:
    total: int
    paid: int
    refunded: int

    @property
    def amount_due(self) -> int:
        return max(self.total - self.paid, 0)


def invoice_totals(session: Session, invoice: Invoice) -> InvoiceTotals:
    paid = session.scalar(
        select(func.coalesce(func.sum(Payment.amount), 0)).where(Payment.invoice_id == invoice.id)
    )
    refunded = session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0))
        .join(Payment, Payment.id == Refund.payment_id)
        .where(Payment.invoice_id == invoice.id)
    )
    return InvoiceTotals(total=invoice.total, paid=int(paid or 0), refunded=int(refunded or 0))


def load_invoice(session: Session, merchant_id: str, invoice_id: str, *, lock: bool) -> Invoice:
    stmt = select(Invoice).where(Invoice.id == invoice_id, Invoice.merchant_id == merchant_id)
    if lock:
        stmt = stmt.with_for_update()
    invoice = session.scalar(stmt)
    if invoice is None:
        raise NotFound(f"no invoice {invoice_id}", field="invoice_id")
    return invoice


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
    return True


def create_invoice(
    ctx: ServiceContext,
    merchant_id: str,
    *,
    line_items: list[LineItemInput],
    tax_amount: int = 0,
    currency: str | None = None,
    customer_id: str | None = None,
    memo: str | None = None,
    actor: str,
) -> Invoice:
    if not line_items:
        raise InvalidRequest("an invoice needs at least one line item", field="line_items")
    with ctx.sessions.begin() as s:
        # The merchant row lock hands out invoice numbers one at a time.
        seq = s.scalar(
            update(Merchant)
            .where(Merchant.id == merchant_id)
            .values(invoice_seq=Merchant.invoice_seq + 1)
            .returning(Merchant.invoice_seq)
        )
        merchant = s.get(Merchant, merchant_id)
        if seq is None or merchant is None:
            raise NotFound("no such merchant", field="merchant")
        if customer_id is not None:
            from cloverpay.service.services.customers import load_customer

            load_customer(s, merchant_id, customer_id)
        items = [
            InvoiceLineItem(
                position=i,
                description=li.description,
                quantity=li.quantity,
                unit_amount=li.unit_amount,
                amount=li.quantity * li.unit_amount,
            )
            for i, li in enumerate(line_items)
        ]
        subtotal = sum(i.amount for i in items)
        invoice = Invoice(
            merchant_id=merchant_id,
            customer_id=customer_id,
            number=f"INV-{seq:06d}",
            status=InvoiceStatus.DRAFT.value,
            currency=(currency or merchant.currency).lower(),
            subtotal=subtotal,
            tax_amount=tax_amount,
            total=subtotal + tax_amount,
            memo=memo,
            line_items=items,
        )
        if invoice.total <= 0:
            raise InvalidRequest("the invoice total must be positive", field="line_items")
        s.add(invoice)
        s.flush()
        add_audit(
            s,
            merchant_id=merchant_id,
            actor=actor,
            action="invoice.created",
            entity_type="invoice",
            entity_id=invoice.id,
            to_state=InvoiceStatus.DRAFT.value,
        )
    return invoice


def _order_items(invoice: Invoice) -> list[OrderItemParams]:
    items: list[OrderItemParams] = [
        {
            "type": "sku",
            "amount": li.unit_amount,
            "quantity": li.quantity,
            "description": li.description,
            "currency": invoice.currency,
        }
        for li in invoice.line_items
    ]
    if invoice.tax_amount:
        items.append(
            {
                "type": "tax",
                "amount": invoice.tax_amount,
                "description": "Tax",
                "currency": invoice.currency,
            }
        )
    return items


def open_invoice(ctx: ServiceContext, merchant_id: str, invoice_id: str, *, actor: str) -> Invoice:
    """draft -> open: create the Clover order (no money moves), then record it."""
    with ctx.sessions.begin() as s:
        invoice = load_invoice(s, merchant_id, invoice_id, lock=False)
        if invoice.status == InvoiceStatus.OPEN.value and invoice.clover_order_id:
            return invoice
        apply_transition("invoice", InvoiceStatus(invoice.status), InvoiceStatus.OPEN)
        merchant = s.get_one(Merchant, merchant_id)
        items = _order_items(invoice)
        currency = invoice.currency
    try:
        with ctx.gateway.client(merchant) as clover:
            order = clover.orders.create(currency=currency, items=items)
    except CloverError as exc:
        audit_failure(
            ctx.sessions,
            merchant_id=merchant_id,
            actor=actor,
            action="invoice.open_failed",
            entity_type="invoice",
            entity_id=invoice_id,
            reason=str(exc),
        )
        field = getattr(exc, "param", None) if isinstance(exc, APIError) else None
        raise UpstreamError(f"Clover refused the order: {exc.message}", field=field) from exc
    with ctx.sessions.begin() as s:
        invoice = load_invoice(s, merchant_id, invoice_id, lock=True)
        if invoice.clover_order_id is None:
            invoice.clover_order_id = order.id
        set_invoice_status(s, invoice, InvoiceStatus.OPEN, actor=actor)
        if order.amount is not None and order.amount != invoice.total:
            add_audit(
                s,
                merchant_id=merchant_id,
                actor=actor,
                action="invoice.amount_mismatch",
                entity_type="invoice",
                entity_id=invoice.id,
                reason=f"Clover order total {order.amount} != invoice total {invoice.total}",
            )
        add_outbox(
            s,
            merchant_id=merchant_id,
            topic="invoice.opened",
            dedupe_key=f"invoice.opened:{invoice.id}",
            payload={"invoice_id": invoice.id, "number": invoice.number, "total": invoice.total},
        )
    return invoice


def _refuse_if_unresolved(s: Session, invoice: Invoice) -> None:
    open_attempt = s.scalar(
        select(PaymentAttempt.id).where(
            PaymentAttempt.invoice_id == invoice.id,
            PaymentAttempt.kind == AttemptKind.CHARGE.value,
            PaymentAttempt.state.in_([st.value for st in OPEN_ATTEMPT_STATES]),
        )
    )
    if open_attempt is not None:
        raise AttemptUnresolvedError(
            f"payment attempt {open_attempt} of this invoice is not resolved yet",
            field="invoice_id",
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


def get_invoice(ctx: ServiceContext, merchant_id: str, invoice_id: str) -> dict[str, Any]:
    with ctx.sessions() as s:
        invoice = load_invoice(s, merchant_id, invoice_id, lock=False)
        totals = invoice_totals(s, invoice)
        return {"invoice": invoice, "totals": totals}


def list_invoices(
    ctx: ServiceContext, merchant_id: str, *, limit: int = 50, status: str | None = None
) -> list[tuple[Invoice, InvoiceTotals]]:
    with ctx.sessions() as s:
        stmt = select(Invoice).where(Invoice.merchant_id == merchant_id)
        if status is not None:
            stmt = stmt.where(Invoice.status == status)
        rows = s.scalars(stmt.order_by(Invoice.created_at.desc(), Invoice.id).limit(limit)).all()
        return [(inv, invoice_totals(s, inv)) for inv in rows]
