"""Payments, refunds and fees by day: the rows, a CSV export and an inline SVG bar chart.

Fees are an estimate from the merchant's card rate in Settings (basis points of amount
+ tip, plus a fixed amount, per card payment; cash and checks cost nothing): cloverpay
does not read processing fees from Clover (the Ecommerce answers it records carry none).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloverpay.service.db import Payment, Refund

__all__ = ["DayRow", "FeeRate", "daily_report", "report_csv", "report_svg"]


@dataclass(frozen=True, slots=True)
class FeeRate:
    """A card processing rate: ``bps`` of amount + tip, plus ``fixed_cents`` a payment."""

    bps: int = 0
    fixed_cents: int = 0

    def fee(self, charged: int) -> int:
        return (charged * self.bps + 5_000) // 10_000 + self.fixed_cents


@dataclass(frozen=True, slots=True)
class DayRow:
    day: date
    payments: int
    payments_count: int
    refunds: int
    refunds_count: int
    fees: int = 0

    @property
    def net(self) -> int:
        return self.payments - self.refunds - self.fees


def daily_report(
    session: Session,
    merchant_id: str,
    *,
    today: datetime,
    days: int,
    rate: FeeRate | None = None,
) -> list[DayRow]:
    rate = rate or FeeRate()
    start = (today - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    pays = session.execute(
        select(Payment.created_at, Payment.amount, Payment.tip_amount, Payment.tender).where(
            Payment.merchant_id == merchant_id,
            Payment.created_at >= start,
            Payment.voided_at.is_(None),  # a voided payment never took money
        )
    ).all()
    refs = session.execute(
        select(Refund.created_at, Refund.amount).where(
            Refund.merchant_id == merchant_id, Refund.created_at >= start
        )
    ).all()
    buckets: dict[date, list[int]] = {
        (start + timedelta(days=i)).date(): [0, 0, 0, 0, 0] for i in range(days)
    }
    for at, amount, tip, tender in pays:
        b = buckets.get(at.date())
        if b is not None:
            b[0] += amount
            b[1] += 1
            if tender == "card":
                b[4] += rate.fee(amount + tip)
    for at, amount in refs:
        b = buckets.get(at.date())
        if b is not None:
            b[2] += amount
            b[3] += 1
    return [DayRow(d, *v) for d, v in sorted(buckets.items())]


def report_csv(rows: list[DayRow], currency: str) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(
        [
            "date",
            "currency",
            "payments",
            "payments_count",
            "refunds",
            "refunds_count",
            "fees_estimated",
            "net",
        ]
    )
    for r in rows:
        w.writerow(
            [
                r.day.isoformat(),
                currency.upper(),
                f"{r.payments / 100:.2f}",
                r.payments_count,
                f"{r.refunds / 100:.2f}",
                r.refunds_count,
                f"{r.fees / 100:.2f}",
                f"{r.net / 100:.2f}",
            ]
        )
    return out.getvalue()


def report_svg(rows: list[DayRow]) -> Markup:
    """Grouped bars (payments, refunds) per day, drawn on the server."""
    width, height, left, bottom, top = 760, 240, 56, 28, 12
    plot_h = height - bottom - top
    top_value = max([r.payments for r in rows] + [r.refunds for r in rows] + [100])
    step = (width - left - 8) / max(len(rows), 1)
    bar = max(min(step * 0.35, 18), 2)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="Payments and refunds by day">'
    ]
    for i in range(5):
        value = top_value * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left}" x2="{width}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">${value / 100:,.0f}</text>'
        )
    for i, r in enumerate(rows):
        x = left + i * step + step / 2
        for j, (value, cls) in enumerate(((r.payments, "bar-pay"), (r.refunds, "bar-ref"))):
            h = plot_h * value / top_value
            bx = x - bar + j * bar
            title = escape(
                f"{r.day:%b %d}: {'payments' if j == 0 else 'refunds'} ${value / 100:,.2f}"
            )
            parts.append(
                f'<rect class="{cls}" x="{bx:.1f}" y="{top + plot_h - h:.1f}" '
                f'width="{bar - 1:.1f}" height="{h:.1f}" rx="2"><title>{title}</title></rect>'
            )
        if len(rows) <= 16 or i % 2 == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle">{r.day:%b %d}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (numbers and escaped titles only)
