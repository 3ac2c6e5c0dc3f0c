"""Invoices: create (draft), open (creates the Clover order), void, mark uncollectible.

Each function is one unit of work: the invoice rows, the audit row and the outbox row
commit together. Paid and refunded amounts are derived from payment rows (rule 8).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, bindparam, case, cast, func, literal, select, update
from sqlalchemy.orm import Session, joinedload, lazyload
from sqlalchemy.orm.attributes import set_committed_value

from cloverpay.api import APIError, CloverError, OrderItemParams
from cloverpay.service.db import (
    Authorization,
    Invoice,
    InvoiceLineItem,
    Merchant,
    Payment,
    PaymentAttempt,
    Refund,
    new_id,
    reading,
    utcnow,
)
from cloverpay.service.db.rows import insert_detached
from cloverpay.service.domain import (
    OPEN_ATTEMPT_STATES,
    AttemptKind,
    AuthorizationStatus,
    InvalidTransition,
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
    "PayableFacts",
    "amount_held",
    "amount_paid",
    "create_invoice",
    "get_invoice",
    "invoice_paid_key",
    "invoice_totals",
    "list_invoices",
    "mark_uncollectible",
    "open_invoice",
    "paid_and_refunded",
    "payable_facts",
    "set_invoice_status",
    "set_paid_status",
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
_PAID_REFUNDED = select(_paid_sq(_INVOICE_ID), _refunded_sq(_INVOICE_ID))
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


_MERCHANT_CURRENCY = select(Merchant.currency).where(Merchant.id == bindparam("merchant_id"))


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


def create_invoice(
    ctx: ServiceContext,
    merchant_id: str,
    *,
    line_items: list[LineItemInput],
    tax_amount: int = 0,
    currency: str | None = None,
    customer_id: str | None = None,
    memo: str | None = None,
    subscription_id: str | None = None,
    period_start: datetime | None = None,
    due_at: datetime | None = None,
    actor: str,
) -> Invoice:
    """A draft invoice. ``subscription_id`` + ``period_start`` are unique together: a
    second invoice for one subscription period raises IntegrityError (nothing is kept)."""
    if not line_items:
        raise InvalidRequest("an invoice needs at least one line item", field="line_items")
    with ctx.sessions.begin() as s:
        merchant_currency = s.scalar(_MERCHANT_CURRENCY, {"merchant_id": merchant_id})
        if merchant_currency is None:
            raise NotFound("no such merchant", field="merchant")
        if customer_id is not None:
            from cloverpay.service.services.customers import load_customer

            load_customer(s, merchant_id, customer_id)
        invoice_id = new_id()
        items = [
            InvoiceLineItem(
                invoice_id=invoice_id,
                position=i,
                description=li.description,
                quantity=li.quantity,
                unit_amount=li.unit_amount,
                amount=li.quantity * li.unit_amount,
            )
            for i, li in enumerate(line_items)
        ]
        subtotal = sum(i.amount for i in items)
        if subtotal + tax_amount <= 0:
            raise InvalidRequest("the invoice total must be positive", field="line_items")
        invoice = Invoice(
            id=invoice_id,
            merchant_id=merchant_id,
            customer_id=customer_id,
            # a stand-in, unique and never committed: the number is given last (below)
            number=invoice_id,
            status=InvoiceStatus.DRAFT.value,
            currency=(currency or merchant_currency).lower(),
            subtotal=subtotal,
            tax_amount=tax_amount,
            total=subtotal + tax_amount,
            memo=memo,
            line_items=items,
            subscription_id=subscription_id,
            period_start=period_start,
            due_at=due_at,
        )
        # Core INSERTs, no unit of work (db.rows); a second invoice for one
        # subscription period loses at the unique constraint here.
        insert_detached(s, invoice)
        insert_detached(s, *items)
        add_audit(
            s,
            merchant_id=merchant_id,
            actor=actor,
            action="invoice.created",
            entity_type="invoice",
            entity_id=invoice.id,
            to_state=InvoiceStatus.DRAFT.value,
            data={"subscription_id": subscription_id} if subscription_id else None,
        )
        # The merchant row lock hands out invoice numbers one at a time, without gaps;
        # every new invoice of the merchant waits for it until this commits, so it is
        # taken last: held for one statement (two on SQLite, where BEGIN IMMEDIATE
        # serializes the whole transaction anyway) and the COMMIT.
        number = _draw_number(s, merchant_id, invoice_id)
        if number is None:
            raise NotFound("no such merchant", field="merchant")
        set_committed_value(invoice, "number", number)
    return invoice


_BUMP = (
    update(Merchant)
    .where(Merchant.id == bindparam("b_merchant"))
    .values(invoice_seq=Merchant.invoice_seq + 1)
    .returning(Merchant.invoice_seq)
)
_SET_NUMBER = (
    update(Invoice).where(Invoice.id == bindparam("b_invoice")).values(number=bindparam("b_number"))
)


def _pg_draw() -> Any:
    """PostgreSQL, one statement: WITH drawn AS (UPDATE merchants ... RETURNING)
    UPDATE invoices SET number = 'INV-' || the number padded to 6 digits."""
    drawn = _BUMP.cte("drawn")
    digits = cast(drawn.c.invoice_seq, Text)
    formatted = literal("INV-") + case(
        (drawn.c.invoice_seq >= 1_000_000, digits), else_=func.lpad(digits, 6, "0")
    )
    return (
        update(Invoice)
        .where(Invoice.id == bindparam("b_invoice"))
        .values(number=select(formatted).scalar_subquery())
        .returning(Invoice.number)
    )


_PG_DRAW = _pg_draw()


def _draw_number(s: Session, merchant_id: str, invoice_id: str) -> str | None:
    """The merchant's next invoice number, given to the (flushed) invoice."""
    conn = s.connection()  # Core statements (the ORM's bulk UPDATE path costs more)
    if conn.dialect.name == "postgresql":
        number: str | None = conn.scalar(
            _PG_DRAW, {"b_merchant": merchant_id, "b_invoice": invoice_id}
        )
        return number
    seq = conn.scalar(_BUMP, {"b_merchant": merchant_id})
    if seq is None:
        return None
    number = f"INV-{seq:06d}"
    conn.execute(_SET_NUMBER, {"b_invoice": invoice_id, "b_number": number})
    return number


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
