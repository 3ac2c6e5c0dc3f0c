"""Dashboard pages for terminals: the list (status, pairing code, owner), adding and
re-pairing a terminal, "charge on terminal" on an invoice and the live state of the
sale (a fragment the page polls). Sales are only committed here (the intent); the
process owning the terminal sends them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from cloverpay.service.dashboard._common import Csrf, Ctx, Staff, page
from cloverpay.service.dashboard._routes import back, cents
from cloverpay.service.db import Invoice, Payment, PaymentAttempt, Terminal, TerminalSale
from cloverpay.service.errors import ServiceError
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.terminal_sales import start_terminal_sale
from cloverpay.service.services.terminals import (
    forget_pairing,
    list_terminals,
    register_terminal,
)
from cloverpay.service.terminal_runtime import runtime_for
from cloverpay.service.web._templates import templates

__all__ = ["router", "terminal_context"]

router = APIRouter(prefix="/dashboard", include_in_schema=False)


def terminal_context(ctx: ServiceContext, merchant_id: str, invoice_id: str) -> dict[str, Any]:
    """What the invoice page needs for "charge on terminal": the merchant's terminals,
    the invoice's latest terminal sale, and which of its payments were taken on a
    terminal (refunded on it, or without it through Clover)."""
    with ctx.sessions() as s:
        on_terminal = set(
            s.scalars(
                select(Payment.id)
                .join(TerminalSale, TerminalSale.attempt_id == Payment.attempt_id)
                .where(Payment.invoice_id == invoice_id, Payment.merchant_id == merchant_id)
            )
        )
        sale = s.scalar(
            select(TerminalSale)
            .join(PaymentAttempt, PaymentAttempt.id == TerminalSale.attempt_id)
            .where(PaymentAttempt.invoice_id == invoice_id, TerminalSale.merchant_id == merchant_id)
            .order_by(TerminalSale.created_at.desc())
            .limit(1)
        )
    return {
        "terminals": list_terminals(ctx, merchant_id),
        "terminal_sale": sale,
        "on_terminal": on_terminal,
    }


@router.get("/terminals", response_class=HTMLResponse)
def terminals(request: Request, ctx: Ctx, staff: Staff) -> Response:
    rows = list_terminals(ctx, staff.merchant_id)
    runtime = runtime_for(ctx)
    return page(
        request,
        "terminals.html",
        staff,
        {"rows": rows, "here": runtime.owner if runtime else None, "now": ctx.now()},
    )


@router.get("/terminals/status", response_class=HTMLResponse)
def terminals_status(request: Request, ctx: Ctx, staff: Staff) -> Response:
    """The terminals table alone (the page polls it: status and pairing codes change)."""
    return templates.TemplateResponse(
        request,
        "_terminals_table.html",
        {"rows": list_terminals(ctx, staff.merchant_id), "now": ctx.now()},
        headers={"Cache-Control": "no-store"},
    )


@router.post("/terminals")
def terminal_add(
    ctx: Ctx,
    staff: Csrf,
    name: Annotated[str, Form(max_length=100)],
    url: Annotated[str, Form(max_length=300)],
    connection_kind: Annotated[str, Form()] = "lan",
    device_id: Annotated[str, Form(max_length=64)] = "",
    pinned_sha256: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    try:
        register_terminal(
            ctx,
            staff.merchant_id,
            name=name,
            url=url.strip(),
            connection_kind=connection_kind,
            device_id=device_id.strip() or None,
            pinned_sha256=pinned_sha256.replace(":", "").strip().lower() or None,
            actor=staff.actor,
        )
    except ServiceError as exc:
        return back("/dashboard/terminals", err=exc.message)
    runtime = runtime_for(ctx)
    if runtime is not None:
        runtime.poke()
    return back(
        "/dashboard/terminals",
        msg=f"Terminal {name.strip()} added; its pairing code appears here when it connects.",
    )


@router.post("/terminals/{terminal_id}/pair")
def terminal_pair(ctx: Ctx, staff: Csrf, terminal_id: str) -> Response:
    try:
        forget_pairing(ctx, staff.merchant_id, terminal_id, actor=staff.actor)
    except ServiceError as exc:
        return back("/dashboard/terminals", err=exc.message)
    return back(
        "/dashboard/terminals",
        msg="Pairing reset: type the code shown here on the device when it reconnects.",
    )


@router.post("/invoices/{invoice_id}/terminal_sale")
def invoice_terminal_sale(
    ctx: Ctx,
    staff: Csrf,
    invoice_id: str,
    terminal_id: Annotated[str, Form(max_length=32)],
    amount: Annotated[str, Form()] = "",
) -> Response:
    url = f"/dashboard/invoices/{invoice_id}"
    try:
        value = cents(amount, "amount") if amount.strip() else None
        attempt = start_terminal_sale(
            ctx, staff.merchant_id, invoice_id, terminal_id, amount=value, actor=staff.actor
        )
    except (ValueError, ServiceError) as exc:
        return back(url, err=exc.message if isinstance(exc, ServiceError) else str(exc))
    runtime = runtime_for(ctx)
    if runtime is not None:
        runtime.poke()
    return back(url, msg=f"Sale sent to the terminal ({attempt.external_payment_id}).")


@router.get("/terminal_sales/{attempt_id}", response_class=HTMLResponse)
def terminal_sale_state(request: Request, ctx: Ctx, staff: Staff, attempt_id: str) -> Response:
    """The live state of one sale (polled by the invoice page until it is final)."""
    with ctx.sessions() as s:
        sale = s.get(TerminalSale, attempt_id)
        if sale is None or sale.merchant_id != staff.merchant_id:
            return HTMLResponse("<p class='muted'>No such sale.</p>", status_code=404)
        attempt = s.get_one(PaymentAttempt, attempt_id)
        terminal = s.get(Terminal, sale.terminal_id)
        invoice = s.get(Invoice, attempt.invoice_id) if attempt.invoice_id else None
    return templates.TemplateResponse(
        request,
        "_terminal_sale.html",
        {"sale": sale, "attempt": attempt, "terminal": terminal, "invoice": invoice},
        headers={"Cache-Control": "no-store"},
    )
