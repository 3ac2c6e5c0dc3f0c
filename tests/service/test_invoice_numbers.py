"""Invoice numbers under concurrent creates (SQLite and PostgreSQL)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from cloverpay.service.db import Merchant
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.invoices import LineItemInput, create_invoice


def test_invoice_numbers_stay_unique_and_gapless_under_concurrent_creates(
    ctx: ServiceContext, merchant: Merchant
) -> None:
    """create_invoice takes the merchant's number lock last; numbers are still handed
    out one at a time, without gaps or duplicates."""

    def make(_: int) -> str:
        inv = create_invoice(
            ctx, merchant.id, line_items=[LineItemInput("Visit", 1, 100)], actor="t"
        )
        return inv.number

    with ThreadPoolExecutor(8) as pool:
        numbers = list(pool.map(make, range(40)))
    assert sorted(numbers) == [f"INV-{i:06d}" for i in range(1, 41)]
