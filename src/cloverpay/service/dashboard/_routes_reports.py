"""Dashboard: the Reports page (daily payments, refunds and estimated fees, a chart) and
its CSV export (:mod:`._report`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from cloverpay.service.dashboard._common import Ctx, Staff, page
from cloverpay.service.dashboard._report import FeeRate, daily_report, report_csv, report_svg
from cloverpay.service.db import Merchant
from cloverpay.service.services.merchant_settings import read_settings

__all__ = ["router"]

router = APIRouter(prefix="/dashboard", include_in_schema=False)


def _fee_rate(s: Session, merchant_id: str) -> FeeRate:
    current = read_settings(s, merchant_id)
    return FeeRate(current.fee_rate_bps, current.fee_fixed_cents)


@router.get("/reports", response_class=HTMLResponse)
def reports(request: Request, ctx: Ctx, staff: Staff, days: int = 14) -> Response:
    days = min(max(days, 1), 90)
    with ctx.sessions() as s:
        rate = _fee_rate(s, staff.merchant_id)
        rows = daily_report(s, staff.merchant_id, today=ctx.now(), days=days, rate=rate)
        currency = s.get_one(Merchant, staff.merchant_id).currency
    totals = {
        "payments": sum(r.payments for r in rows),
        "refunds": sum(r.refunds for r in rows),
        "fees": sum(r.fees for r in rows),
        "count": sum(r.payments_count for r in rows),
    }
    return page(
        request,
        "reports.html",
        staff,
        {
            "rows": rows,
            "chart": report_svg(rows),
            "days": days,
            "totals": totals,
            "currency": currency,
            "rate": rate,
        },
    )


@router.get("/reports.csv")
def reports_csv(ctx: Ctx, staff: Staff, days: int = 30) -> Response:
    days = min(max(days, 1), 366)
    with ctx.sessions() as s:
        rows = daily_report(
            s, staff.merchant_id, today=ctx.now(), days=days, rate=_fee_rate(s, staff.merchant_id)
        )
        currency = s.get_one(Merchant, staff.merchant_id).currency
    return Response(
        report_csv(rows, currency),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="cloverpay-report-{days}d.csv"'},
    )
