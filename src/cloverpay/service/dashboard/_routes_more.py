"""Dashboard pages: payments (with refunds), refunds, audit log, outbox, reports, settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from cloverpay.service.dashboard._common import Csrf, Ctx, Staff, Web, page
from cloverpay.service.dashboard._report import daily_report, report_csv, report_svg
from cloverpay.service.dashboard._routes import back, cents
from cloverpay.service.db import AuditLog, Invoice, Merchant, OutboxEvent, Payment, Refund
from cloverpay.service.errors import ServiceError
from cloverpay.service.outbox_email import deliver_due
from cloverpay.service.services.refunds import refund_payment
from cloverpay.service.web._models import PAY_FLOWS, EmailDelivery, MerchantWebSettings

__all__ = ["router"]

router = APIRouter(prefix="/dashboard", include_in_schema=False)


@router.get("/payments", response_class=HTMLResponse)
def payments(request: Request, ctx: Ctx, staff: Staff) -> Response:
    with ctx.sessions() as s:
        rows = list(
            s.execute(
                select(Payment, Invoice.number)
                .outerjoin(Invoice, Invoice.id == Payment.invoice_id)
                .where(Payment.merchant_id == staff.merchant_id)
                .order_by(Payment.created_at.desc())
                .limit(300)
            ).all()
        )
        refunded: dict[str, int] = {}
        for r in s.scalars(select(Refund).where(Refund.merchant_id == staff.merchant_id)):
            refunded[r.payment_id] = refunded.get(r.payment_id, 0) + r.amount
    return page(request, "payments.html", staff, {"rows": rows, "refunded": refunded})


@router.post("/payments/{payment_id}/refund")
def payment_refund(
    ctx: Ctx,
    staff: Csrf,
    payment_id: str,
    amount: Annotated[str, Form()] = "",
    reason: Annotated[str, Form(max_length=300)] = "",
    next_url: Annotated[str, Form()] = "/dashboard/payments",
) -> Response:
    target = next_url if next_url.startswith("/dashboard/") else "/dashboard/payments"
    try:
        value = cents(amount, "amount") if amount.strip() else None
        attempt = refund_payment(
            ctx,
            staff.merchant_id,
            payment_id,
            amount=value,
            reason=reason.strip() or None,
            actor=staff.actor,
        )
    except ValueError as exc:
        return back(target, err=str(exc))
    except ServiceError as exc:
        return back(target, err=exc.message)
    if attempt.state == "succeeded":
        return back(target, msg=f"Refunded ${attempt.amount / 100:,.2f}.")
    if attempt.state == "failed":
        return back(target, err=f"Clover refused the refund: {attempt.failure_message}")
    return back(target, msg="Refund sent; Clover's answer is being confirmed.")


@router.get("/refunds", response_class=HTMLResponse)
def refunds(request: Request, ctx: Ctx, staff: Staff) -> Response:
    with ctx.sessions() as s:
        rows = list(
            s.execute(
                select(Refund, Payment, Invoice.number)
                .join(Payment, Payment.id == Refund.payment_id)
                .outerjoin(Invoice, Invoice.id == Payment.invoice_id)
                .where(Refund.merchant_id == staff.merchant_id)
                .order_by(Refund.created_at.desc())
                .limit(300)
            ).all()
        )
    return page(request, "refunds.html", staff, {"rows": rows})


@router.get("/audit", response_class=HTMLResponse)
def audit(request: Request, ctx: Ctx, staff: Staff) -> Response:
    with ctx.sessions() as s:
        rows = list(
            s.scalars(
                select(AuditLog)
                .where(AuditLog.merchant_id == staff.merchant_id)
                .order_by(AuditLog.id.desc())
                .limit(300)
            )
        )
    return page(request, "audit.html", staff, {"rows": rows})


@router.get("/outbox", response_class=HTMLResponse)
def outbox(request: Request, ctx: Ctx, staff: Staff) -> Response:
    with ctx.sessions() as s:
        events = list(
            s.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.merchant_id == staff.merchant_id)
                .order_by(OutboxEvent.id.desc())
                .limit(200)
            )
        )
        deliveries = {
            d.outbox_id: d
            for d in s.scalars(
                select(EmailDelivery).where(EmailDelivery.merchant_id == staff.merchant_id)
            )
        }
    emails = [e for e in events if e.channel == "email"]
    others = [e for e in events if e.channel != "email"]
    return page(
        request,
        "outbox.html",
        staff,
        {"emails": emails, "others": others, "deliveries": deliveries},
    )


@router.post("/outbox/deliver")
def outbox_deliver(ctx: Ctx, web: Web, staff: Csrf) -> Response:
    report = deliver_due(ctx, web)
    done = report.sent + report.captured
    return back("/dashboard/outbox", msg=f"{done} email(s) delivered.")


@router.get("/reports", response_class=HTMLResponse)
def reports(request: Request, ctx: Ctx, staff: Staff, days: int = 14) -> Response:
    days = min(max(days, 1), 90)
    with ctx.sessions() as s:
        rows = daily_report(s, staff.merchant_id, today=ctx.now(), days=days)
        currency = s.get_one(Merchant, staff.merchant_id).currency
    totals = {
        "payments": sum(r.payments for r in rows),
        "refunds": sum(r.refunds for r in rows),
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
        },
    )


@router.get("/reports.csv")
def reports_csv(ctx: Ctx, staff: Staff, days: int = 30) -> Response:
    days = min(max(days, 1), 366)
    with ctx.sessions() as s:
        rows = daily_report(s, staff.merchant_id, today=ctx.now(), days=days)
        currency = s.get_one(Merchant, staff.merchant_id).currency
    return Response(
        report_csv(rows, currency),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="cloverpay-report-{days}d.csv"'},
    )


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, ctx: Ctx, staff: Staff) -> Response:
    with ctx.sessions() as s:
        row = s.get(MerchantWebSettings, staff.merchant_id)
    return page(
        request,
        "settings.html",
        staff,
        {"pay_flow": row.pay_flow if row else "iframe", "flows": PAY_FLOWS},
    )


@router.post("/settings")
def settings_save(ctx: Ctx, staff: Csrf, pay_flow: Annotated[str, Form()]) -> Response:
    from cloverpay.service.services.records import add_audit

    if pay_flow not in PAY_FLOWS:
        return back("/dashboard/settings", err=f"pay_flow must be one of {', '.join(PAY_FLOWS)}")
    with ctx.sessions.begin() as s:
        row = s.get(MerchantWebSettings, staff.merchant_id)
        before = row.pay_flow if row else "iframe"
        if row is None:
            row = MerchantWebSettings(merchant_id=staff.merchant_id)
            s.add(row)
        row.pay_flow = pay_flow
        row.updated_at = ctx.now()
        add_audit(
            s,
            merchant_id=staff.merchant_id,
            actor=staff.actor,
            action="settings.pay_flow",
            entity_type="merchant",
            entity_id=staff.merchant_id,
            from_state=before,
            to_state=pay_flow,
        )
    return back("/dashboard/settings", msg="Settings saved.")
