"""Opening an invoice: draft -> open, with the Clover order created first (no money
moves)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import bindparam, select, update
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


_OPENED = (
    update(Invoice)
    .where(Invoice.id == bindparam("b_invoice"))
    .values(
        status=InvoiceStatus.OPEN.value,
        clover_order_id=bindparam("b_order"),
        updated_at=bindparam("b_now"),
    )
)


def _mark_open(session: Session, invoice: Invoice, order_id: str, *, actor: str) -> None:
    """draft -> open with its Clover order, as :func:`set_invoice_status` does it, for a
    *locked* draft: one prebuilt UPDATE (no unit of work), the loaded row brought up to
    date as committed, the same audit row."""
    current = InvoiceStatus(invoice.status)
    if not apply_transition("invoice", current, InvoiceStatus.OPEN):
        raise InvalidTransition("invoice", current.value, InvoiceStatus.OPEN.value)
    now = utcnow()
    session.connection().execute(
        _OPENED, {"b_invoice": invoice.id, "b_order": order_id, "b_now": now}
    )
    set_committed_value(invoice, "status", InvoiceStatus.OPEN.value)
    set_committed_value(invoice, "clover_order_id", order_id)
    set_committed_value(invoice, "updated_at", now)
    _audit_status(session, invoice, current, InvoiceStatus.OPEN, actor=actor, reason=None)


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
        invoice = load_invoice(s, merchant_id, invoice_id, lock=True, line_items=False)
        if invoice.status != InvoiceStatus.DRAFT.value:
            # A concurrent open won (and the invoice may be paid by now): its order is
            # the invoice's; never move it back to open from here.
            return invoice
        _mark_open(s, invoice, invoice.clover_order_id or order.id, actor=actor)
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
