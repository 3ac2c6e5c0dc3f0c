"""Dashboard pages: payments (with refunds and voids), refunds, audit log; the outbox in
:mod:`._routes_outbox`, reports in :mod:`._routes_reports`, settings in
:mod:`._routes_settings`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from cloverpay.service.dashboard._common import Csrf, Ctx, Staff, page
from cloverpay.service.dashboard._routes import back, cents
from cloverpay.service.db import (
    AuditLog,
    Invoice,
    Payment,
    PaymentAttempt,
    Refund,
    TerminalSale,
)
from cloverpay.service.errors import ServiceError
from cloverpay.service.services.refunds import refund_payment

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
        on_terminal = set(
            s.scalars(
                select(Payment.id)
                .join(TerminalSale, TerminalSale.attempt_id == Payment.attempt_id)
                .where(Payment.merchant_id == staff.merchant_id)
            )
        )
    return page(
        request,
        "payments.html",
        staff,
        {"rows": rows, "refunded": refunded, "on_terminal": on_terminal},
    )


#: how long a dashboard request waits for the terminal's answer before saying "sent"
TERMINAL_WAIT_S = 30.0


def _terminal_refund(ctx: Ctx, payment_id: str, via: str) -> Callable[..., PaymentAttempt] | None:
    """A payment taken on a terminal is refunded through that terminal: queued for the
    process that owns it (this one or another), then the answer is awaited a while.
    ``via='rest'``: at once through Clover's REST API instead, without the terminal."""
    from cloverpay.service.services.terminal_ops import (
        refund_via_rest_now,
        request_terminal_refund,
        wait_settled,
    )
    from cloverpay.service.services.terminal_sales import terminal_of_payment
    from cloverpay.service.terminal_runtime import runtime_for

    if terminal_of_payment(ctx, payment_id) is None:
        return None
    if via == "rest":
        return refund_via_rest_now

    def refund(_ctx: Ctx, merchant_id: str, pid: str, **kw: Any) -> PaymentAttempt:
        attempt = request_terminal_refund(ctx, merchant_id, pid, **kw)
        runtime = runtime_for(ctx)
        if runtime is not None:
            runtime.poke()
        return wait_settled(ctx, attempt.id, TERMINAL_WAIT_S)

    return refund


@router.post("/payments/{payment_id}/void")
def payment_void(
    ctx: Ctx,
    staff: Csrf,
    payment_id: str,
    next_url: Annotated[str, Form()] = "/dashboard/payments",
) -> Response:
    """Void a terminal payment through its terminal (the invoice is payable again)."""
    from cloverpay.service.services.terminal_ops import request_terminal_void, wait_settled
    from cloverpay.service.terminal_runtime import runtime_for

    target = next_url if next_url.startswith("/dashboard/") else "/dashboard/payments"
    try:
        attempt = request_terminal_void(ctx, staff.merchant_id, payment_id, actor=staff.actor)
    except ServiceError as exc:
        return back(target, err=exc.message)
    runtime = runtime_for(ctx)
    if runtime is not None:
        runtime.poke()
    attempt = wait_settled(ctx, attempt.id, TERMINAL_WAIT_S)
    if attempt.state == "succeeded":
        return back(target, msg="Payment voided.")
    if attempt.state == "failed":
        return back(target, err=f"Not voided: {attempt.failure_message or attempt.failure_code}")
    return back(target, msg="Void sent to the terminal; its answer is being confirmed.")


@router.post("/payments/{payment_id}/refund")
def payment_refund(
    ctx: Ctx,
    staff: Csrf,
    payment_id: str,
    amount: Annotated[str, Form()] = "",
    reason: Annotated[str, Form(max_length=300)] = "",
    via: Annotated[str, Form()] = "",
    next_url: Annotated[str, Form()] = "/dashboard/payments",
) -> Response:
    """Refund a payment: one taken on a terminal on that terminal, or with ``via=rest``
    at once through Clover's REST API without it; one taken online through REST."""
    target = next_url if next_url.startswith("/dashboard/") else "/dashboard/payments"
    if via not in ("", "terminal", "rest"):
        return back(target, err="via must be 'terminal' or 'rest'")
    try:
        value = cents(amount, "amount") if amount.strip() else None
        refund = _terminal_refund(ctx, payment_id, via) or refund_payment
        attempt = refund(
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
    how = " through Clover, without the terminal" if via == "rest" else ""
    if attempt.state == "succeeded":
        return back(target, msg=f"Refunded ${attempt.amount / 100:,.2f}{how}.")
    if attempt.state == "failed":
        return back(target, err=f"Clover refused the refund: {attempt.failure_message}")
    return back(target, msg=f"Refund sent{how}; Clover's answer is being confirmed.")


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
