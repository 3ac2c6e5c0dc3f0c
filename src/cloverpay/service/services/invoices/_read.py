"""Reading and locking invoices, and their totals derived from payment rows (rule 8)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, lazyload

from cloverpay.service.db import (
    Authorization,
    Invoice,
    Payment,
    PaymentAttempt,
    Refund,
)
from cloverpay.service.domain import (
    OPEN_ATTEMPT_STATES,
    AttemptKind,
    AuthorizationStatus,
)
from cloverpay.service.errors import AttemptUnresolvedError, NotFound
from cloverpay.service.services.context import ServiceContext

__all__ = [
    "PAID_AND_REFUNDED",
    "InvoiceTotals",
    "PayableFacts",
    "amount_held",
    "amount_paid",
    "get_invoice",
    "invoice_totals",
    "list_invoices",
    "load_invoice",
    "paid_and_refunded",
    "payable_facts",
]


@dataclass(frozen=True, slots=True)
class InvoiceTotals:
    total: int
    paid: int
    refunded: int

    @property
    def amount_due(self) -> int:
        return max(self.total - self.paid, 0)


def amount_paid(session: Session, invoice_id: str) -> int:
    """What the payments recorded for the invoice add up to (tips excluded; a voided
    terminal payment no longer counts)."""
    paid = session.scalar(_PAID, {"invoice_id": invoice_id})
    return int(paid or 0)


def amount_held(session: Session, invoice_id: str) -> int:
    """What pre-authorizations of the invoice still hold (authorized, not captured or
    voided): reserved, so the invoice is not charged for it a second time."""
    held = session.scalar(
        select(func.coalesce(func.sum(Authorization.amount), 0)).where(
            Authorization.invoice_id == invoice_id,
            Authorization.status == AuthorizationStatus.AUTHORIZED.value,
        )
    )
    return int(held or 0)


def _open_charge_sq(invoice_id: Any) -> Any:
    return (
        select(PaymentAttempt.id)
        .where(
            PaymentAttempt.invoice_id == invoice_id,
            PaymentAttempt.kind == AttemptKind.CHARGE.value,
            PaymentAttempt.state.in_([st.value for st in OPEN_ATTEMPT_STATES]),
        )
        .limit(1)
        .scalar_subquery()
    )


def _paid_sq(invoice_id: Any) -> Any:
    return (
        select(func.coalesce(func.sum(Payment.amount), 0))
        .where(Payment.invoice_id == invoice_id, Payment.voided_at.is_(None))
        .scalar_subquery()
    )


def _held_sq(invoice_id: Any) -> Any:
    return (
        select(func.coalesce(func.sum(Authorization.amount), 0))
        .where(
            Authorization.invoice_id == invoice_id,
            Authorization.status == AuthorizationStatus.AUTHORIZED.value,
        )
        .scalar_subquery()
    )


def _refunded_sq(invoice_id: Any) -> Any:
    return (
        select(func.coalesce(func.sum(Refund.amount), 0))
        .join(Payment, Payment.id == Refund.payment_id)
        .where(Payment.invoice_id == invoice_id)
        .scalar_subquery()
    )


# Built once (bound by ``invoice_id`` at execution): no statement built, no cache key
# computed per call.
_INVOICE_ID: Any = bindparam("invoice_id")
_PAID = select(_paid_sq(_INVOICE_ID))
_PAYABLE = select(_open_charge_sq(_INVOICE_ID), _paid_sq(_INVOICE_ID), _held_sq(_INVOICE_ID))
#: The columns of :func:`paid_and_refunded` (bound by ``invoice_id``), for a statement
#: that reads them with other facts of the invoice.
PAID_AND_REFUNDED = (_paid_sq(_INVOICE_ID), _refunded_sq(_INVOICE_ID))
_PAID_REFUNDED = select(*PAID_AND_REFUNDED)
_OPEN_CHARGE = select(_open_charge_sq(_INVOICE_ID))


@dataclass(frozen=True, slots=True)
class PayableFacts:
    """What deciding a charge of an invoice needs, read in ONE statement (after the
    invoice row is locked: on PostgreSQL each statement reads the latest commits)."""

    open_attempt_id: str | None
    paid: int
    held: int


def payable_facts(session: Session, invoice_id: str) -> PayableFacts:
    open_id, paid, held = session.execute(_PAYABLE, {"invoice_id": invoice_id}).one()
    return PayableFacts(open_id, int(paid or 0), int(held or 0))


def paid_and_refunded(session: Session, invoice_id: str) -> tuple[int, int]:
    """:func:`amount_paid` and the refunds of the invoice's payments, one statement."""
    paid, refunded = session.execute(_PAID_REFUNDED, {"invoice_id": invoice_id}).one()
    return int(paid or 0), int(refunded or 0)


def invoice_totals(session: Session, invoice: Invoice) -> InvoiceTotals:
    paid, refunded = paid_and_refunded(session, invoice.id)
    return InvoiceTotals(total=invoice.total, paid=paid, refunded=refunded)


def _load_stmt(lock: bool, line_items: bool) -> Any:
    stmt = select(Invoice).where(
        Invoice.id == bindparam("invoice_id"), Invoice.merchant_id == bindparam("merchant_id")
    )
    if not line_items:
        stmt = stmt.options(lazyload(Invoice.line_items))
    return stmt.with_for_update() if lock else stmt


_LOAD = {
    (lock, items): _load_stmt(lock, items) for lock in (False, True) for items in (False, True)
}


def load_invoice(
    session: Session,
    merchant_id: str,
    invoice_id: str,
    *,
    lock: bool,
    line_items: bool = True,
) -> Invoice:
    """``line_items=False``: the items are loaded only if they are read (one statement
    fewer where they are not)."""
    invoice: Invoice | None = session.scalar(
        _LOAD[lock, line_items], {"invoice_id": invoice_id, "merchant_id": merchant_id}
    )
    if invoice is None:
        raise NotFound(f"no invoice {invoice_id}", field="invoice_id")
    return invoice


def _refuse_if_unresolved(s: Session, invoice: Invoice, facts: PayableFacts | None = None) -> None:
    """``facts``: the caller read them already (:func:`payable_facts`)."""
    if facts is not None:
        open_attempt = facts.open_attempt_id
    else:
        open_attempt = s.scalar(_OPEN_CHARGE, {"invoice_id": invoice.id})
    if open_attempt is not None:
        raise AttemptUnresolvedError(
            f"payment attempt {open_attempt} of this invoice is not resolved yet",
            field="invoice_id",
        )


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
