"""db.rows.insert_detached: the Core INSERT that replaces the unit of work for a new row
on the hot path gives the row what a flush would, and loses at constraints the same way."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from cloverpay.service.db import Invoice, InvoiceLineItem, Merchant
from cloverpay.service.db.rows import insert_detached
from cloverpay.service.services import ServiceContext


def _invoice(merchant_id: str, number: str) -> Invoice:
    return Invoice(merchant_id=merchant_id, number=number, currency="usd", subtotal=700, total=700)


def test_row_as_a_flush_leaves_it(ctx: ServiceContext, merchant: Merchant) -> None:
    inv = _invoice(merchant.id, "INV-T1")
    with ctx.sessions.begin() as s:
        insert_detached(s, inv)
        items = [
            InvoiceLineItem(
                invoice_id=inv.id, position=i, description=d, quantity=1, unit_amount=a, amount=a
            )
            for i, (d, a) in enumerate((("Valve", 300), ("Labour", 400)))
        ]
        insert_detached(s, *items)
    # Python defaults filled in on the object, which is detached with every column loaded
    assert (inv.status, inv.tax_amount, inv.memo) == ("draft", 0, None)
    assert len(inv.id) == 32
    assert inv.created_at is not None
    state = inspect(inv)
    assert state.detached
    assert state.unloaded <= {"line_items"}
    with ctx.sessions() as s:
        row = s.scalar(select(Invoice).where(Invoice.id == inv.id))
        assert row is not None
        assert (row.status, row.number, row.created_at) == ("draft", "INV-T1", inv.created_at)
        assert [li.description for li in row.line_items] == ["Valve", "Labour"]


def test_constraint_violation_raises_and_nothing_is_kept(
    ctx: ServiceContext, merchant: Merchant
) -> None:
    with ctx.sessions.begin() as s:
        insert_detached(s, _invoice(merchant.id, "INV-T2"))
    with ctx.sessions.begin() as s:
        insert_detached(s, _invoice(merchant.id, "INV-T3"))
        with pytest.raises(IntegrityError):  # (merchant, number) is unique
            insert_detached(s, _invoice(merchant.id, "INV-T2"))
        s.rollback()
    with ctx.sessions() as s:
        numbers = s.scalars(select(Invoice.number).where(Invoice.merchant_id == merchant.id))
        assert sorted(numbers) == ["INV-T2"]
    with ctx.sessions.begin() as s, pytest.raises(TypeError):
        insert_detached(s, _invoice(merchant.id, "INV-T4"), InvoiceLineItem())
