"""Opening an invoice: draft -> open, with the Clover order created first (no money
moves)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from cloverpay.api import APIError, CloverError, OrderItemParams
from cloverpay.service.db import Invoice, InvoiceLineItem, Merchant, reading, utcnow
from cloverpay.service.domain import InvalidTransition, InvoiceStatus, apply_transition
from cloverpay.service.errors import NotFound, UpstreamError
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.invoices._read import load_invoice
from cloverpay.service.services.invoices._status import _audit_status
from cloverpay.service.services.records import add_audit, add_outbox, audit_failure

__all__ = ["open_invoice"]


# draft -> open with its Clover order, in one statement that also locks the row and
# gives it back as committed: no row when the invoice is no longer a draft (a
# concurrent open won). An order recorded already stays the invoice's.
_OPEN_DRAFT = (
    update(Invoice)
    .where(
        Invoice.id == bindparam("b_invoice"),
        Invoice.merchant_id == bindparam("b_merchant"),
        Invoice.status == InvoiceStatus.DRAFT.value,
    )
    .values(
        status=InvoiceStatus.OPEN.value,
        clover_order_id=func.coalesce(Invoice.clover_order_id, bindparam("b_order")),
        updated_at=bindparam("b_now"),
    )
    .returning(*Invoice.__table__.columns)
)
_INVOICE_COLUMNS = [c.key for c in Invoice.__table__.columns]


def _mark_open(session: Session, invoice: Invoice, order_id: str) -> bool:
    """draft -> open for ``invoice`` (read before the Clover call, not locked): one
    UPDATE that applies the transition only to a draft; the object brought up to date
    with the row as committed. False: the invoice was no longer a draft."""
    if not apply_transition("invoice", InvoiceStatus.DRAFT, InvoiceStatus.OPEN):
        raise InvalidTransition("invoice", InvoiceStatus.DRAFT.value, InvoiceStatus.OPEN.value)
    row = (
        session.connection()
        .execute(
            _OPEN_DRAFT,
            {
                "b_invoice": invoice.id,
                "b_merchant": invoice.merchant_id,
                "b_order": order_id,
                "b_now": utcnow(),
            },
        )
        .first()
    )
    if row is None:
        return False
    for key, value in zip(_INVOICE_COLUMNS, row, strict=True):
        set_committed_value(invoice, key, value)
    return True


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


# The invoice, its merchant and its line items in ONE statement (the items' default
# "selectin" loading would send a second one).
_INVOICE_WITH_MERCHANT = (
    select(Invoice, Merchant)
    .join(Merchant, Merchant.id == Invoice.merchant_id)
    .where(Invoice.id == bindparam("invoice_id"), Invoice.merchant_id == bindparam("merchant_id"))
    .options(joinedload(Invoice.line_items))
)


def open_invoice(
    ctx: ServiceContext,
    merchant_id: str,
    invoice_id: str,
    *,
    actor: str,
    in_commit: Callable[[Session, Invoice, list[InvoiceLineItem]], None] | None = None,
) -> Invoice:
    """draft -> open: create the Clover order (no money moves), then record it. Only a
    draft is opened (``paid -> open`` exists for a voided payment alone); opening an
    open invoice is a no-op. ``in_commit(session, invoice, line_items)`` runs last in
    the transaction that opens it (not when the invoice was open already or a
    concurrent open won)."""
    with reading(ctx.engine) as s:  # nothing written before the call
        row = (
            s.execute(
                _INVOICE_WITH_MERCHANT, {"invoice_id": invoice_id, "merchant_id": merchant_id}
            )
            .unique()
            .first()
        )
        if row is None:
            raise NotFound(f"no invoice {invoice_id}", field="invoice_id")
        invoice, merchant = row
        if invoice.status == InvoiceStatus.OPEN.value and invoice.clover_order_id:
            return invoice
        if invoice.status != InvoiceStatus.DRAFT.value:
            raise InvalidTransition("invoice", invoice.status, InvoiceStatus.OPEN.value)
        items = _order_items(invoice)
        currency = invoice.currency
        line_items = list(invoice.line_items)
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
        if not _mark_open(s, invoice, order.id):
            # A concurrent open won (and the invoice may be paid by now): its order is
            # the invoice's; never move it back to open from here.
            return load_invoice(s, merchant_id, invoice_id, lock=False, line_items=False)
        _audit_status(s, invoice, InvoiceStatus.DRAFT, InvoiceStatus.OPEN, actor=actor, reason=None)
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
        if in_commit is not None:
            # line items do not change once created: those read above
            in_commit(s, invoice, line_items)
    return invoice
