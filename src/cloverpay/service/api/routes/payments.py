"""``/v1/payments``, their refunds, and ``/v1/attempts``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy import select

from cloverpay.service.api.deps import Ctx, CurrentPrincipal
from cloverpay.service.api.routes.invoices import attempt_response
from cloverpay.service.api.routes.terminals import poke, taken_on_terminal
from cloverpay.service.api.schemas import (
    ATTEMPT_CONFLICT,
    AttemptOut,
    PaymentOut,
    RefundIn,
    error_responses,
)
from cloverpay.service.api.views import attempt_out, payment_out
from cloverpay.service.db import Payment, PaymentAttempt
from cloverpay.service.errors import NotFound
from cloverpay.service.services.refunds import refund_payment
from cloverpay.service.services.terminal_ops import (
    refund_via_rest_now,
    request_terminal_refund,
    wait_settled,
)

router = APIRouter(tags=["payments"])


@router.get("/v1/payments")
def list_payments(
    ctx: Ctx,
    who: CurrentPrincipal,
    invoice_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[PaymentOut]:
    with ctx.sessions() as s:
        stmt = select(Payment).where(Payment.merchant_id == who.merchant_id)
        if invoice_id is not None:
            stmt = stmt.where(Payment.invoice_id == invoice_id)
        rows = s.scalars(stmt.order_by(Payment.created_at.desc()).limit(limit)).all()
        return [payment_out(s, p) for p in rows]


@router.get("/v1/payments/{payment_id}", responses=error_responses(404))
def get_payment(payment_id: str, ctx: Ctx, who: CurrentPrincipal) -> PaymentOut:
    with ctx.sessions() as s:
        p = s.get(Payment, payment_id)
        if p is None or p.merchant_id != who.merchant_id:
            raise NotFound(f"no payment {payment_id}", field="payment_id")
        return payment_out(s, p)


@router.post(
    "/v1/payments/{payment_id}/refunds",
    responses={
        200: {"model": AttemptOut, "description": "refunded"},
        202: {"model": AttemptOut, "description": "outcome unknown; being reconciled"},
        **error_responses(
            (400, "refused (error shape): e.g. `amount_too_large`, more than is left to refund"),
            (402, "Clover refused the refund (error shape, with the attempt)"),
            404,
            (409, ATTEMPT_CONFLICT),
        ),
    },
)
def refund(
    payment_id: str,
    body: RefundIn,
    ctx: Ctx,
    who: CurrentPrincipal,
    wait_s: Annotated[float, Query(ge=0, le=60)] = 10.0,
) -> JSONResponse:
    """A payment taken on a terminal is refunded through that terminal, from any
    process (queued for the terminal's owner; ``wait_s`` bounds the wait for its
    answer, then 202 and the attempt to poll). With ``"via": "rest"`` it is refunded at
    once through Clover's REST API instead, without the terminal (device away or broken,
    customer not there): 200 refunded, 402 Clover refused it (nothing moved), 202 its
    answer was lost (looked up by the reconciler, never sent again)."""
    if taken_on_terminal(ctx, who.merchant_id, payment_id, body.via):
        if body.via == "rest":
            done = refund_via_rest_now(
                ctx,
                who.merchant_id,
                payment_id,
                amount=body.amount,
                reason=body.reason,
                actor=who.actor,
            )
            return attempt_response(ctx, done)
        queued = request_terminal_refund(
            ctx,
            who.merchant_id,
            payment_id,
            amount=body.amount,
            reason=body.reason,
            actor=who.actor,
        )
        poke(ctx)
        return attempt_response(ctx, wait_settled(ctx, queued.id, wait_s))
    attempt = refund_payment(
        ctx, who.merchant_id, payment_id, amount=body.amount, reason=body.reason, actor=who.actor
    )
    return attempt_response(ctx, attempt)


@router.get("/v1/attempts/{attempt_id}", responses=error_responses(404))
def get_attempt(attempt_id: str, ctx: Ctx, who: CurrentPrincipal) -> AttemptOut:
    with ctx.sessions() as s:
        a = s.get(PaymentAttempt, attempt_id)
        if a is None or a.merchant_id != who.merchant_id:
            raise NotFound(f"no payment attempt {attempt_id}", field="attempt_id")
        return attempt_out(s, a, with_invoice=True)
