"""``/v1/invoices``: create, list, get, open, void, mark uncollectible, pay."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from cloverpay.service.api.deps import Answer, ClientIp, Ctx, CurrentPrincipal
from cloverpay.service.api.errors import error_body, reconnect_required
from cloverpay.service.api.schemas import (
    ATTEMPT_CONFLICT,
    AttemptOut,
    InvoiceIn,
    InvoiceOut,
    PayIn,
    error_responses,
)
from cloverpay.service.api.views import attempt_out, invoice_out, settled_attempt_out
from cloverpay.service.db import Invoice, InvoiceLineItem, PaymentAttempt, reading
from cloverpay.service.services import invoices as svc
from cloverpay.service.services.payments import pay_invoice

router = APIRouter(prefix="/v1/invoices", tags=["invoices"])


def _invoice(ctx: Ctx, merchant_id: str, invoice_id: str) -> InvoiceOut:
    with reading(ctx.engine) as s:
        inv = svc.load_invoice(s, merchant_id, invoice_id, lock=False)
        return invoice_out(inv, svc.invoice_totals(s, inv))


@router.post(
    "", status_code=201, response_model=InvoiceOut, responses=error_responses(400, 404, 409)
)
def create_invoice(body: InvoiceIn, ctx: Ctx, who: CurrentPrincipal, stored: Answer) -> Response:
    answer: list[Response] = []

    def in_commit(s: Session, inv: Invoice) -> None:
        # Just created: a draft, nothing paid or refunded yet (no second read needed);
        # the answer is stored in the transaction that creates it (and claimed its key).
        out = invoice_out(inv, svc.InvoiceTotals(total=inv.total, paid=0, refunded=0))
        response = JSONResponse(out.model_dump(mode="json"), status_code=201)
        if stored is not None:
            stored.write(s, response)
        answer.append(response)

    svc.create_invoice(
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
        merchant_currency=who.currency,
        in_commit=in_commit,
    )
    return answer[0]


@router.get("")
def list_invoices(
    ctx: Ctx,
    who: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    status: str | None = None,
) -> list[InvoiceOut]:
    rows = svc.list_invoices(ctx, who.merchant_id, limit=limit, status=status)
    return [invoice_out(inv, totals) for inv, totals in rows]


@router.get("/{invoice_id}", responses=error_responses(404))
def get_invoice(invoice_id: str, ctx: Ctx, who: CurrentPrincipal) -> InvoiceOut:
    return _invoice(ctx, who.merchant_id, invoice_id)


@router.post(
    "/{invoice_id}/open",
    response_model=InvoiceOut,
    responses=error_responses(400, 404, 409, (502, "Clover refused the order (error shape)")),
)
def open_invoice(invoice_id: str, ctx: Ctx, who: CurrentPrincipal, stored: Answer) -> Response:
    answer: list[Response] = []

    def in_commit(s: Session, inv: Invoice, items: list[InvoiceLineItem]) -> None:
        # just opened: no payment or refund yet; the answer commits with the change
        out = invoice_out(inv, svc.InvoiceTotals(total=inv.total, paid=0, refunded=0), items)
        response = JSONResponse(out.model_dump(mode="json"))
        if stored is not None:
            stored.write(s, response)
        answer.append(response)

    inv = svc.open_invoice(ctx, who.merchant_id, invoice_id, actor=who.actor, in_commit=in_commit)
    if answer:
        return answer[0]
    if inv.status == "open":
        # Any payment recorded moves an invoice out of "open" (partially_paid or paid,
        # in the transaction that records it): an open invoice has none, nor refunds.
        out = invoice_out(inv, svc.InvoiceTotals(total=inv.total, paid=0, refunded=0))
        return JSONResponse(out.model_dump(mode="json"))
    return JSONResponse(_invoice(ctx, who.merchant_id, invoice_id).model_dump(mode="json"))


@router.post("/{invoice_id}/void", responses=error_responses(400, 404, 409))
def void_invoice(invoice_id: str, ctx: Ctx, who: CurrentPrincipal) -> InvoiceOut:
    svc.void_invoice(ctx, who.merchant_id, invoice_id, actor=who.actor)
    return _invoice(ctx, who.merchant_id, invoice_id)


@router.post("/{invoice_id}/mark_uncollectible", responses=error_responses(400, 404, 409))
def mark_uncollectible(invoice_id: str, ctx: Ctx, who: CurrentPrincipal) -> InvoiceOut:
    svc.mark_uncollectible(ctx, who.merchant_id, invoice_id, actor=who.actor)
    return _invoice(ctx, who.merchant_id, invoice_id)


def attempt_response(ctx: Ctx, attempt: PaymentAttempt) -> JSONResponse:
    """200 succeeded, 202 unknown (being reconciled), 402 declined/failed, 409 never
    sent because the merchant must reconnect to Clover."""
    with reading(ctx.engine) as s:
        # ``attempt`` is the row as its last transaction left it (settled or not).
        out = attempt_out(s, attempt, with_invoice=True)
    return attempt_json(out)


def attempt_json(out: AttemptOut) -> JSONResponse:
    """The response for an attempt (:func:`attempt_response`), from its view."""
    body = out.model_dump(mode="json")
    if out.state == "succeeded":
        return JSONResponse(body, status_code=200)
    if out.state in ("unknown", "pending"):
        return JSONResponse(body, status_code=202)
    reconnect = reconnect_required(body, out.failure_message)
    if reconnect is not None:
        return reconnect
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
        **error_responses(
            400,
            (402, "declined (error shape, `card_error`, with the attempt)"),
            404,
            (409, ATTEMPT_CONFLICT),
        ),
    },
)
def pay(
    invoice_id: str,
    body: PayIn,
    ctx: Ctx,
    who: CurrentPrincipal,
    client_ip: ClientIp,
    stored: Answer,
) -> JSONResponse:
    answer: list[JSONResponse] = []

    def in_settle(s: Session, settled: PaymentAttempt) -> None:
        # Built in the settle transaction from the rows it wrote (not read back after)
        # and, with an Idempotency-Key, stored in it: committed with the payment.
        response = attempt_json(settled_attempt_out(s, settled))
        if stored is not None:
            stored.write(s, response)
        answer.append(response)

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
        in_settle=in_settle,
    )
    if answer:
        return answer[0]
    return attempt_response(ctx, attempt)
