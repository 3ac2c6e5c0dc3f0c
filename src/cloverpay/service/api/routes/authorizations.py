"""Pre-authorize an invoice's amount, capture it (all or part), void it; void a payment.

Each answers like pay: 200 (the attempt succeeded), 202 (outcome unknown, being
reconciled), 402 (Clover refused; the error shape with the attempt), 409 while another
attempt on the same object is unresolved, or (``merchant_reconnect_required``, with the
attempt) when nothing was sent because the merchant must connect to Clover again.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, StringConstraints

from cloverpay.service.api.deps import ClientIp, Ctx, CurrentPrincipal
from cloverpay.service.api.errors import error_body, reconnect_required
from cloverpay.service.api.schemas import (
    ATTEMPT_CONFLICT,
    AttemptOut,
    Cents,
    PositiveCents,
    UtcDateTime,
    _In,
    error_responses,
)
from cloverpay.service.api.views import attempt_out
from cloverpay.service.db import Authorization, PaymentAttempt
from cloverpay.service.services import preauth

router = APIRouter(tags=["authorizations"])


class AuthorizeIn(_In):
    """Hold the invoice's amount due (or ``amount`` of it) on a ``clv_`` token or a card
    on file. ``tip_amount`` is kept apart from the amount and captured with it."""

    token: (
        Annotated[str, StringConstraints(pattern=r"^clv_[A-Za-z0-9_]+$", max_length=64)] | None
    ) = None
    card_on_file_id: str | None = None
    amount: PositiveCents | None = None
    tip_amount: Cents = 0
    initiator: Literal["CARDHOLDER", "MERCHANT"] = "CARDHOLDER"


class CaptureIn(_In):
    """Capture all of the authorization (no ``amount``) or part of it (the rest is
    released)."""

    amount: PositiveCents | None = None


class AuthorizationOut(BaseModel):
    id: str
    invoice_id: str
    status: str
    amount: int
    tip_amount: int
    amount_captured: int
    currency: str
    clover_charge_id: str
    card_brand: str | None
    card_last4: str | None
    created_at: UtcDateTime


class AuthorizationAttemptOut(AttemptOut):
    authorization: AuthorizationOut | None = None


def authorization_out(a: Authorization) -> AuthorizationOut:
    return AuthorizationOut(
        id=a.id,
        invoice_id=a.invoice_id,
        status=a.status,
        amount=a.amount,
        tip_amount=a.tip_amount,
        amount_captured=a.amount_captured,
        currency=a.currency,
        clover_charge_id=a.clover_charge_id,
        card_brand=a.card_brand,
        card_last4=a.card_last4,
        created_at=a.created_at,
    )


def _response(ctx: Ctx, attempt: PaymentAttempt) -> JSONResponse:
    with ctx.sessions() as s:
        base = attempt_out(s, attempt, with_invoice=True)
    auth = preauth.authorization_for_attempt(ctx, attempt)
    out = AuthorizationAttemptOut(
        **base.model_dump(), authorization=authorization_out(auth) if auth else None
    )
    body = out.model_dump(mode="json")
    if out.state == "succeeded":
        return JSONResponse(body, status_code=200)
    if out.state in ("unknown", "pending"):
        return JSONResponse(body, status_code=202)
    reconnect = reconnect_required(body, out.failure_message)
    if reconnect is not None:
        return reconnect
    declined = attempt.kind == "charge"
    return JSONResponse(
        error_body(
            "card_error" if declined else "invalid_request_error",
            out.failure_code or ("card_declined" if declined else "clover_refused"),
            out.failure_message or "Clover refused the request",
            "token" if declined else "authorization_id",
            attempt=body,
        ),
        status_code=402,
    )


_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"model": AuthorizationAttemptOut, "description": "the attempt succeeded"},
    202: {"model": AuthorizationAttemptOut, "description": "outcome unknown; being reconciled"},
    **error_responses(
        400,
        (402, "Clover declined or refused it (error shape, with the attempt)"),
        404,
        (409, ATTEMPT_CONFLICT),
    ),
}


@router.post("/v1/invoices/{invoice_id}/authorize", responses=_RESPONSES)
def authorize(
    invoice_id: str, body: AuthorizeIn, ctx: Ctx, who: CurrentPrincipal, client_ip: ClientIp
) -> JSONResponse:
    attempt = preauth.authorize_invoice(
        ctx,
        who.merchant_id,
        invoice_id,
        token=body.token,
        card_on_file_id=body.card_on_file_id,
        amount=body.amount,
        tip_amount=body.tip_amount,
        initiator=body.initiator,
        client_ip=client_ip,
        actor=who.actor,
    )
    return _response(ctx, attempt)


@router.get("/v1/authorizations/{authorization_id}", responses=error_responses(404))
def get_authorization(authorization_id: str, ctx: Ctx, who: CurrentPrincipal) -> AuthorizationOut:
    return authorization_out(preauth.get_authorization(ctx, who.merchant_id, authorization_id))


@router.post("/v1/authorizations/{authorization_id}/capture", responses=_RESPONSES)
def capture(
    authorization_id: str, body: CaptureIn, ctx: Ctx, who: CurrentPrincipal
) -> JSONResponse:
    attempt = preauth.capture_authorization(
        ctx, who.merchant_id, authorization_id, amount=body.amount, actor=who.actor
    )
    return _response(ctx, attempt)


@router.post("/v1/authorizations/{authorization_id}/void", responses=_RESPONSES)
def void_authorization(authorization_id: str, ctx: Ctx, who: CurrentPrincipal) -> JSONResponse:
    attempt = preauth.void_authorization(ctx, who.merchant_id, authorization_id, actor=who.actor)
    return _response(ctx, attempt)


def void_online_payment(ctx: Ctx, merchant_id: str, payment_id: str, *, actor: str) -> JSONResponse:
    """``POST /v1/payments/{id}/void`` for a payment taken online (the route, in
    ``routes/terminals.py``, sends terminal payments through their terminal)."""
    attempt = preauth.void_payment(ctx, merchant_id, payment_id, actor=actor)
    return _response(ctx, attempt)
