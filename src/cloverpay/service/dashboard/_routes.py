"""Dashboard pages: login, invoices, customers (this module); payments, refunds, audit,
outbox in :mod:`._routes_more`, reports in :mod:`._routes_reports`, settings in
:mod:`._routes_settings`. Every state change goes through the core's units of work;
forms post back and redirect (post/redirect/get)."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from cloverpay.service.dashboard._auth import (
    SESSION_COOKIE,
    authenticate_staff,
    sign_session,
)
from cloverpay.service.dashboard._common import Csrf, Ctx, Staff, Web, page
from cloverpay.service.db import Customer, Payment, PaymentAttempt, Refund
from cloverpay.service.errors import ServiceError
from cloverpay.service.services.customers import create_customer, list_customers
from cloverpay.service.services.invoices import (
    LineItemInput,
    create_invoice,
    get_invoice,
    list_invoices,
    void_invoice,
)
from cloverpay.service.web._send import pay_link_for, send_pay_link
from cloverpay.service.web._settings import session_key

__all__ = ["router"]

router = APIRouter(prefix="/dashboard", include_in_schema=False)
_LOGIN_CSRF = "cloverpay_login_csrf"


def back(url: str, *, msg: str = "", err: str = "") -> RedirectResponse:
    sep = "&" if "?" in url else "?"
    if msg:
        url += f"{sep}msg={quote(msg)}"
    elif err:
        url += f"{sep}err={quote(err)}"
    return RedirectResponse(url, status_code=303)


def cents(text: str, field: str) -> int:
    try:
        value = round(float(text.replace("$", "").replace(",", "").strip()) * 100)
    except ValueError:
        raise ValueError(f"{field}: '{text}' is not an amount") from None
    return value


@router.get("", response_class=HTMLResponse)
def home() -> Response:
    return RedirectResponse("/dashboard/invoices", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, web: Web) -> Response:
    token = secrets.token_urlsafe(24)
    response = page(request, "login.html", None, {"login_csrf": token})
    response.set_cookie(
        _LOGIN_CSRF,
        token,
        httponly=True,
        samesite="strict",
        secure=web.secure_cookies,
        path="/dashboard",
    )
    return response


@router.post("/login")
def login(
    request: Request,
    ctx: Ctx,
    web: Web,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=500)],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    cookie = request.cookies.get(_LOGIN_CSRF, "")
    if not cookie or not secrets.compare_digest(cookie, csrf_token):
        return back("/dashboard/login", err="Your session expired; please sign in again.")
    user = authenticate_staff(ctx, email, password)
    if user is None:
        return back("/dashboard/login", err="Wrong email or password.")
    response = back("/dashboard/invoices")
    response.set_cookie(
        SESSION_COOKIE,
        sign_session(session_key(ctx.settings), user, ttl_s=web.session_ttl_s),
        max_age=web.session_ttl_s,
        httponly=True,
        samesite="lax",
        secure=web.secure_cookies,
    )
    response.delete_cookie(_LOGIN_CSRF, path="/dashboard")
    return response


@router.post("/logout")
def logout(staff: Csrf) -> Response:
    response = back("/dashboard/login", msg="Signed out.")
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/invoices", response_class=HTMLResponse)
def invoices(request: Request, ctx: Ctx, staff: Staff, status: str | None = None) -> Response:
    every = list_invoices(ctx, staff.merchant_id, limit=500)
    rows = [(inv, t) for inv, t in every if not status or inv.status == status][:200]
    with ctx.sessions() as s:
        names = dict(
            s.execute(
                select(Customer.id, Customer.name).where(Customer.merchant_id == staff.merchant_id)
            ).all()
        )
    outstanding = sum(t.amount_due for inv, t in every if inv.status in ("open", "partially_paid"))
    collected = sum(t.paid - t.refunded for _, t in every)
    stats = {
        "outstanding": outstanding,
        "collected": collected,
        "open": sum(1 for inv, _ in every if inv.status in ("open", "partially_paid")),
        "drafts": sum(1 for inv, _ in every if inv.status == "draft"),
    }
    return page(
        request,
        "invoices.html",
        staff,
        {"rows": rows, "names": names, "stats": stats, "status": status or ""},
    )


@router.get("/invoices/new", response_class=HTMLResponse)
def invoice_new(request: Request, ctx: Ctx, staff: Staff) -> Response:
    customers = list_customers(ctx, staff.merchant_id, limit=500)
    return page(request, "invoice_new.html", staff, {"customers": customers})


@router.post("/invoices")
def invoice_create(
    ctx: Ctx,
    staff: Csrf,
    customer_id: Annotated[str, Form()] = "",
    memo: Annotated[str, Form(max_length=1000)] = "",
    tax: Annotated[str, Form()] = "0",
    description: Annotated[list[str] | None, Form()] = None,
    quantity: Annotated[list[str] | None, Form()] = None,
    unit_price: Annotated[list[str] | None, Form()] = None,
) -> Response:
    items: list[LineItemInput] = []
    try:
        for desc, qty, price in zip(
            description or [], quantity or [], unit_price or [], strict=False
        ):
            if not desc.strip() and not price.strip():
                continue
            if not desc.strip():
                raise ValueError("each line item needs a description")
            q = int(qty or "1")
            if q < 1:
                raise ValueError("quantity must be at least 1")
            items.append(LineItemInput(desc.strip()[:200], q, cents(price, "unit price")))
        tax_cents = cents(tax or "0", "tax")
        invoice = create_invoice(
            ctx,
            staff.merchant_id,
            line_items=items,
            tax_amount=tax_cents,
            customer_id=customer_id or None,
            memo=memo.strip() or None,
            actor=staff.actor,
        )
    except (ValueError, ServiceError) as exc:
        message = exc.message if isinstance(exc, ServiceError) else str(exc)
        return back("/dashboard/invoices/new", err=message)
    return back(f"/dashboard/invoices/{invoice.id}", msg=f"Invoice {invoice.number} created.")


@router.get("/invoices/{invoice_id}", response_class=HTMLResponse)
def invoice_detail(request: Request, ctx: Ctx, web: Web, staff: Staff, invoice_id: str) -> Response:
    try:
        found = get_invoice(ctx, staff.merchant_id, invoice_id)
    except ServiceError:
        return page(request, "not_found.html", staff, {"what": "invoice"}, status=404)
    invoice = found["invoice"]
    with ctx.sessions() as s:
        customer = s.get(Customer, invoice.customer_id) if invoice.customer_id else None
        payments = list(s.scalars(select(Payment).where(Payment.invoice_id == invoice.id)))
        refunds = list(
            s.scalars(
                select(Refund)
                .join(Payment, Payment.id == Refund.payment_id)
                .where(Payment.invoice_id == invoice.id)
            )
        )
        attempts = list(
            s.scalars(
                select(PaymentAttempt)
                .where(PaymentAttempt.invoice_id == invoice.id)
                .order_by(PaymentAttempt.created_at)
            )
        )
    from cloverpay.service.dashboard._routes_terminals import terminal_context

    link = None
    if invoice.status in ("open", "partially_paid", "uncollectible"):
        link, _ = pay_link_for(ctx, web, invoice.id)
    return page(
        request,
        "invoice_detail.html",
        staff,
        {
            "invoice": invoice,
            "totals": found["totals"],
            "customer": customer,
            "payments": payments,
            "refunds": refunds,
            "attempts": attempts,
            "pay_url": link,
            "send_key": secrets.token_urlsafe(12),
            **terminal_context(ctx, staff.merchant_id, invoice.id),
        },
    )


@router.post("/invoices/{invoice_id}/send")
def invoice_send(
    ctx: Ctx,
    web: Web,
    staff: Csrf,
    invoice_id: str,
    request_key: Annotated[str, Form(max_length=64)],
    to: Annotated[str, Form(max_length=254)] = "",
) -> Response:
    url = f"/dashboard/invoices/{invoice_id}"
    try:
        sent = send_pay_link(
            ctx,
            web,
            staff.merchant_id,
            invoice_id,
            request_key=request_key,
            actor=staff.actor,
            to=to or None,
        )
    except ServiceError as exc:
        return back(url, err=exc.message)
    note = (
        f"Payment link sent to {sent.recipient}." if sent.queued else "That link was sent already."
    )
    return back(url, msg=note)


@router.post("/invoices/{invoice_id}/void")
def invoice_void(ctx: Ctx, staff: Csrf, invoice_id: str) -> Response:
    url = f"/dashboard/invoices/{invoice_id}"
    try:
        void_invoice(ctx, staff.merchant_id, invoice_id, actor=staff.actor)
    except ServiceError as exc:
        return back(url, err=exc.message)
    return back(url, msg="Invoice voided.")


@router.get("/customers", response_class=HTMLResponse)
def customers(request: Request, ctx: Ctx, staff: Staff) -> Response:
    from cloverpay.service.db import CardOnFile

    rows = list_customers(ctx, staff.merchant_id, limit=500)
    with ctx.sessions() as s:
        cards: dict[str, list[CardOnFile]] = {}
        for card in s.scalars(
            select(CardOnFile).where(
                CardOnFile.merchant_id == staff.merchant_id, CardOnFile.deleted_at.is_(None)
            )
        ):
            cards.setdefault(card.customer_id, []).append(card)
    return page(request, "customers.html", staff, {"rows": rows, "cards": cards})


@router.post("/customers")
def customer_create(
    ctx: Ctx,
    staff: Csrf,
    name: Annotated[str, Form(max_length=200)],
    email: Annotated[str, Form(max_length=254)] = "",
    phone: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    if email and "@" not in email:
        return back("/dashboard/customers", err="email: not an email address")
    if not name.strip():
        return back("/dashboard/customers", err="name: a customer needs a name")
    create_customer(
        ctx,
        staff.merchant_id,
        name=name.strip(),
        email=email.strip() or None,
        phone=phone.strip() or None,
        actor=staff.actor,
    )
    return back("/dashboard/customers", msg=f"Customer {name.strip()} added.")
