"""``/v1/terminals`` and ``/v1/terminal_sales``; voids of terminal payments
(``/v1/payments/{id}/void``; their refunds go through ``/v1/payments/{id}/refunds``).

Sales, refunds and voids are committed here as intents; the service process holding
the terminal's lease (this one or another) sends them, once. A sale answers at once
(202, stage ``queued``): poll ``GET /v1/terminal_sales/{id}`` for its live stage and
screen. A void or refund waits up to ``wait_s`` for the terminal's answer (200
succeeded, 402 refused, 202 still pending or unknown: poll ``GET /v1/attempts/{id}``).
A refund asked for with ``"via": "rest"`` is sent at once through Clover's REST API,
without the terminal; a void is device-only (``"via": "rest"`` is refused, naming it).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloverpay.service.api.deps import Ctx, CurrentPrincipal
from cloverpay.service.api.routes.invoices import attempt_response
from cloverpay.service.api.schemas import ATTEMPT_CONFLICT, AttemptOut, error_responses
from cloverpay.service.api.schemas_terminals import (
    ScreenOut,
    TerminalIn,
    TerminalOut,
    TerminalSaleIn,
    TerminalSaleOut,
    VoidIn,
)
from cloverpay.service.api.views import payment_out
from cloverpay.service.db import Payment, PaymentAttempt, Terminal, TerminalSale
from cloverpay.service.errors import ConflictError, InvalidRequest, NotFound
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.terminal_ops import (
    request_terminal_void,
    terminal_payment,
    wait_settled,
)
from cloverpay.service.services.terminal_sales import start_terminal_sale
from cloverpay.service.services.terminals import get_terminal, list_terminals, register_terminal

__all__ = ["is_terminal_payment", "poke", "router", "taken_on_terminal"]

router = APIRouter(tags=["terminals"])


def poke(ctx: ServiceContext) -> None:
    """Wake this process's terminal runtime (if it owns the terminal it sends at once)."""
    from cloverpay.service.terminal_runtime import runtime_for

    runtime = runtime_for(ctx)
    if runtime is not None:
        runtime.poke()


def terminal_out(t: Terminal) -> TerminalOut:
    return TerminalOut(
        id=t.id,
        name=t.name,
        connection_kind=t.connection_kind,
        url=t.url,
        serial=t.serial,
        device_id=t.device_id,
        status=t.status,
        pairing_code=t.pairing_code,
        last_error=t.last_error,
        lease_owner=t.lease_owner,
        lease_until=t.lease_until,
        created_at=t.created_at,
    )


#: A sale with its attempt, read in ONE statement: two reads could straddle the settle's
#: commit (READ COMMITTED) and show a succeeded attempt beside the sale's older stage.
_SALE_AND_ATTEMPT = select(TerminalSale, PaymentAttempt).join(
    PaymentAttempt, PaymentAttempt.id == TerminalSale.attempt_id
)


def sale_out(s: Session, sale: TerminalSale, attempt: PaymentAttempt) -> TerminalSaleOut:
    """The API's view of a sale and its attempt as read together (``_SALE_AND_ATTEMPT``);
    the payment, read after, is there whenever the attempt read says succeeded."""
    payment = s.scalar(select(Payment).where(Payment.attempt_id == attempt.id))
    return TerminalSaleOut(
        id=attempt.id,
        invoice_id=attempt.invoice_id,
        terminal_id=sale.terminal_id,
        amount=attempt.amount,
        tip_amount=attempt.tip_amount,
        currency=attempt.currency,
        state=attempt.state,
        stage=sale.stage,
        screen=ScreenOut(ui_state=sale.ui_state, ui_text=sale.ui_text),
        external_payment_id=attempt.external_payment_id,
        failure_code=attempt.failure_code,
        failure_message=attempt.failure_message,
        note=sale.note,
        payment=payment_out(s, payment) if payment is not None else None,
        created_at=sale.created_at,
        sent_at=sale.sent_at,
        updated_at=sale.updated_at,
    )


@router.get("/v1/terminals")
def list_all(ctx: Ctx, who: CurrentPrincipal) -> list[TerminalOut]:
    return [terminal_out(t) for t in list_terminals(ctx, who.merchant_id)]


@router.post("/v1/terminals", status_code=201, responses=error_responses(400, 409))
def register(body: TerminalIn, ctx: Ctx, who: CurrentPrincipal) -> TerminalOut:
    terminal = register_terminal(
        ctx,
        who.merchant_id,
        name=body.name,
        url=body.url,
        connection_kind=body.connection_kind,
        serial=body.serial,
        device_id=body.device_id,
        pinned_sha256=body.pinned_sha256.replace(":", "").lower() if body.pinned_sha256 else None,
        actor=who.actor,
    )
    poke(ctx)
    return terminal_out(terminal)


@router.get("/v1/terminals/{terminal_id}", responses=error_responses(404))
def get_one(terminal_id: str, ctx: Ctx, who: CurrentPrincipal) -> TerminalOut:
    return terminal_out(get_terminal(ctx, who.merchant_id, terminal_id))


@router.post(
    "/v1/terminal_sales",
    status_code=202,
    responses={
        202: {"description": "committed; the terminal's owner sends it"},
        **error_responses(400, 404, 409),
    },
)
def start_sale(body: TerminalSaleIn, ctx: Ctx, who: CurrentPrincipal) -> TerminalSaleOut:
    attempt = start_terminal_sale(
        ctx, who.merchant_id, body.invoice_id, body.terminal_id, amount=body.amount, actor=who.actor
    )
    poke(ctx)
    with ctx.sessions() as s:
        sale, fresh = s.execute(
            _SALE_AND_ATTEMPT.where(TerminalSale.attempt_id == attempt.id)
        ).one()
        return sale_out(s, sale, fresh)


@router.get("/v1/terminal_sales")
def list_sales(
    ctx: Ctx,
    who: CurrentPrincipal,
    invoice_id: str | None = None,
    terminal_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[TerminalSaleOut]:
    with ctx.sessions() as s:
        stmt = _SALE_AND_ATTEMPT.where(TerminalSale.merchant_id == who.merchant_id)
        if invoice_id is not None:
            stmt = stmt.where(PaymentAttempt.invoice_id == invoice_id)
        if terminal_id is not None:
            stmt = stmt.where(TerminalSale.terminal_id == terminal_id)
        rows = s.execute(stmt.order_by(TerminalSale.created_at.desc()).limit(limit)).all()
        return [sale_out(s, sale, attempt) for sale, attempt in rows]


@router.get("/v1/terminal_sales/{sale_id}", responses=error_responses(404))
def get_sale(sale_id: str, ctx: Ctx, who: CurrentPrincipal) -> TerminalSaleOut:
    with ctx.sessions() as s:
        row = s.execute(_SALE_AND_ATTEMPT.where(TerminalSale.attempt_id == sale_id)).first()
        if row is None or row[0].merchant_id != who.merchant_id:
            raise NotFound(f"no terminal sale {sale_id}", field="sale_id")
        return sale_out(s, row[0], row[1])


@router.post(
    "/v1/payments/{payment_id}/void",
    responses={
        200: {"model": AttemptOut, "description": "voided (the attempt succeeded)"},
        202: {"model": AttemptOut, "description": "queued, sent or unknown: poll the attempt"},
        **error_responses(
            400,
            (402, "the terminal or Clover refused it (error shape, with the attempt)"),
            404,
            (409, ATTEMPT_CONFLICT),
        ),
    },
)
def void_payment(
    payment_id: str,
    ctx: Ctx,
    who: CurrentPrincipal,
    body: VoidIn | None = None,
    wait_s: Annotated[float, Query(ge=0, le=60)] = 10.0,
) -> JSONResponse:
    """Void a payment. Taken on a terminal: through that terminal (from any process);
    once voided the payment no longer counts and its invoice is payable again. Taken
    online: all of it goes back, recorded as a refund with reason ``void``
    (:func:`~cloverpay.service.services.preauth.void_payment`)."""
    via = body.via if body else None
    if not taken_on_terminal(ctx, who.merchant_id, payment_id, via):
        from cloverpay.service.api.routes.authorizations import void_online_payment

        return void_online_payment(ctx, who.merchant_id, payment_id, actor=who.actor)
    if via == "rest":
        raise InvalidRequest(
            "a payment taken on a terminal is voided on its terminal only (Clover has no "
            "REST void of a card-present payment): leave via out, or refund it with "
            "via 'rest'",
            field="via",
            code="void_needs_terminal",
        )
    attempt = request_terminal_void(
        ctx, who.merchant_id, payment_id, reason=body.reason if body else None, actor=who.actor
    )
    poke(ctx)
    return attempt_response(ctx, wait_settled(ctx, attempt.id, wait_s))


def is_terminal_payment(ctx: Ctx, merchant_id: str, payment_id: str) -> bool:
    with ctx.sessions() as s:
        payment = s.get(Payment, payment_id)
        if payment is None or payment.merchant_id != merchant_id:
            return False  # the payment routes answer 404
        return terminal_payment(s, payment_id) is not None


def taken_on_terminal(ctx: Ctx, merchant_id: str, payment_id: str, via: str | None) -> bool:
    """Whether the merchant's payment was taken on a terminal, checked against the
    request's ``via``: ``terminal`` for a payment taken online is refused (naming it;
    a missing payment is a 404 first). An online payment always goes through REST, so
    ``rest`` (or nothing) is fine for both."""
    if is_terminal_payment(ctx, merchant_id, payment_id):
        return True
    if via == "terminal":
        with ctx.sessions() as s:
            payment = s.get(Payment, payment_id)
            if payment is None or payment.merchant_id != merchant_id:
                raise NotFound(f"no payment {payment_id}", field="payment_id")
        raise ConflictError(
            "not a payment taken on a terminal: it goes through Clover's REST API (leave via out)",
            field="via",
            code="not_a_terminal_payment",
        )
    return False
