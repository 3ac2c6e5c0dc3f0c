"""``/v1/invoices``: create, list, get, open, void, mark uncollectible, pay."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from cloverpay.service.api.deps import ClientIp, Ctx, CurrentPrincipal
from cloverpay.service.api.errors import error_body
from cloverpay.service.api.schemas import AttemptOut, InvoiceIn, InvoiceOut, PayIn
from cloverpay.service.api.views import attempt_out, invoice_out
from cloverpay.service.db import PaymentAttempt
from cloverpay.service.services import invoices as svc
from cloverpay.service.services.payments import pay_invoice

router = APIRouter(prefix="/v1/invoices", tags=["invoices"])


def _invoice(ctx: Ctx, merchant_id: str, invoice_id: str) -> InvoiceOut:
    with ctx.sessions() as s:
        inv = svc.load_invoice(s, merchant_id, invoice_id, lock=False)
        return invoice_out(inv, svc.invoice_totals(s, inv))


@router.post("", status_code=201)
def create_invoice(body: InvoiceIn, ctx: Ctx, who: CurrentPrincipal) -> InvoiceOut:
    inv = svc.create_invoice(
        ctx,
        who.merchant_id,
        line_items=[
            svc.LineItemInput(li.description, li.quantity, li.unit_amount) for li in body.line_items
        ],
        tax_amount=body.tax_amount,
        currency=body.currency,
        customer_id=body.customer_id,
        memo=body.memo,
        actor=who.actor,
    )
    return _invoice(ctx, who.merchant_id, inv.id)


@router.get("")
def list_invoices(
    ctx: Ctx,
    who: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    status: str | None = None,
) -> list[InvoiceOut]:
    rows = svc.list_invoices(ctx, who.merchant_id, limit=limit, status=status)
    return [invoice_out(inv, totals) for inv, totals in rows]


@router.get("/{invoice_id}")
def get_invoice(invoice_id: str, ctx: Ctx, who: CurrentPrincipal) -> InvoiceOut:
    return _invoice(ctx, who.merchant_id, invoice_id)


@router.post("/{invoice_id}/open")
def open_invoice(invoice_id: str, ctx: Ctx, who: CurrentPrincipal) -> InvoiceOut:
    svc.open_invoice(ctx, who.merchant_id, invoice_id, actor=who.actor)
    return _invoice(ctx, who.merchant_id, invoice_id)


@router.post("/{invoice_id}/void")
def void_invoice(invoice_id: str, ctx: Ctx, who: CurrentPrincipal) -> InvoiceOut:
    svc.void_invoice(ctx, who.merchant_id, invoice_id, actor=who.actor)
    return _invoice(ctx, who.merchant_id, invoice_id)


@router.post("/{invoice_id}/mark_uncollectible")
def mark_uncollectible(invoice_id: str, ctx: Ctx, who: CurrentPrincipal) -> InvoiceOut:
    svc.mark_uncollectible(ctx, who.merchant_id, invoice_id, actor=who.actor)
    return _invoice(ctx, who.merchant_id, invoice_id)


def attempt_response(ctx: Ctx, attempt: PaymentAttempt) -> JSONResponse:
    """200 succeeded, 202 unknown (being reconciled), 402 declined/failed."""
    with ctx.sessions() as s:
        row = s.get_one(PaymentAttempt, attempt.id)
        out = attempt_out(s, row, with_invoice=True)
    body = out.model_dump(mode="json")
    if out.state == "succeeded":
        return JSONResponse(body, status_code=200)
    if out.state in ("unknown", "pending"):
        return JSONResponse(body, status_code=202)
    kind = "card_error" if out.kind == "charge" else "invalid_request_error"
    return JSONResponse(
        error_body(
            kind,
            out.failure_code or "payment_failed",
            out.failure_message or "Clover refused the payment",
            "token" if out.kind == "charge" else "amount",
            attempt=body,
        ),
        status_code=402,
    )


@router.post(
    "/{invoice_id}/pay",
    responses={
        200: {"model": AttemptOut, "description": "paid (the attempt succeeded)"},
        202: {"model": AttemptOut, "description": "outcome unknown; being reconciled"},
        402: {"description": "declined (error shape, with the attempt)"},
    },
)
def pay(
    invoice_id: str, body: PayIn, ctx: Ctx, who: CurrentPrincipal, client_ip: ClientIp
) -> JSONResponse:
    attempt = pay_invoice(
        ctx,
        who.merchant_id,
        invoice_id,
        token=body.token,
        card_on_file_id=body.card_on_file_id,
        tender=body.tender,
        amount=body.amount,
        tip_amount=body.tip_amount,
        initiator=body.initiator,
        client_ip=client_ip,
        actor=who.actor,
    )
    return attempt_response(ctx, attempt)
