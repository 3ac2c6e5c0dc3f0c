"""Creating a draft invoice and drawing its number (per merchant, without gaps)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, bindparam, case, cast, func, literal, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from cloverpay.service.db import Invoice, InvoiceLineItem, Merchant, new_id
from cloverpay.service.db.rows import insert_detached
from cloverpay.service.domain import InvoiceStatus
from cloverpay.service.errors import InvalidRequest, NotFound
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.records import add_audit

__all__ = ["LineItemInput", "create_invoice"]


@dataclass(frozen=True, slots=True)
class LineItemInput:
    description: str
    quantity: int
    unit_amount: int


_MERCHANT_CURRENCY = select(Merchant.currency).where(Merchant.id == bindparam("merchant_id"))


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
    merchant_currency: str | None = None,
    in_commit: Callable[[Session, Invoice], None] | None = None,
) -> Invoice:
    """A draft invoice. ``subscription_id`` + ``period_start`` are unique together: a
    second invoice for one subscription period raises IntegrityError (nothing is kept).
    ``merchant_currency``: the merchant's currency, known to the caller (the API key's
    principal), so it is not read. ``in_commit(session, invoice)`` runs last in the
    transaction that creates it."""
    if not line_items:
        raise InvalidRequest("an invoice needs at least one line item", field="line_items")
    with ctx.sessions.begin() as s:
        if merchant_currency is None:
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
        if in_commit is not None:
            in_commit(s, invoice)
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
