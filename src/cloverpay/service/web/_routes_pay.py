"""The hosted pay page: ``GET /pay/{link}`` and ``POST /pay/{link}``.

No card data reaches these routes: the page mounts Clover's card iframe, Clover's
script turns the card into a ``clv_`` token in Clover's frames, and only the token (with
brand, last4 and expiry for display) is posted here.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from cloverpay.api import CloverError
from cloverpay.service.api.deps import get_client_ip
from cloverpay.service.db import Customer, Invoice, Merchant, PaymentAttempt
from cloverpay.service.db.models_web import CheckoutLink, MerchantWebSettings
from cloverpay.service.errors import ServiceError
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.invoices import invoice_totals
from cloverpay.service.services.merchants import ensure_pakms_key
from cloverpay.service.web._links import LinkError, verify_link
from cloverpay.service.web._pay import PaySubmission, submit_payment
from cloverpay.service.web._security_headers import csp_header, origin_of
from cloverpay.service.web._settings import CLOVER_SDK_URLS, WebSettings, pay_link_key
from cloverpay.service.web._templates import templates

__all__ = ["router", "sdk_url_for"]

router = APIRouter(include_in_schema=False)

PAYABLE = ("open", "partially_paid", "uncollectible")
_CHECKOUT_TTL = timedelta(minutes=15)


def _ctx(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


def _web(request: Request) -> WebSettings:
    web: WebSettings = request.app.state.web
    return web


def sdk_url_for(ctx: ServiceContext, web: WebSettings, merchant: Merchant) -> str:
    if web.clover_sdk_url:
        return web.clover_sdk_url
    base = merchant.clover_base_url or ctx.settings.clover_base_url
    if base:
        return base.rstrip("/") + "/sdk.js"
    return CLOVER_SDK_URLS.get(ctx.settings.clover_environment, CLOVER_SDK_URLS["sandbox"])


def _page(
    request: Request, name: str, context: dict[str, Any], *, status: int = 200, clover: str | None
) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers["Content-Security-Policy"] = csp_header(clover_origin=clover)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def _link_error(request: Request, exc: LinkError) -> HTMLResponse:
    status = 410 if exc.reason == "expired" else 404
    return _page(
        request,
        "pay_link_error.html",
        {"reason": exc.reason, "message": exc.message},
        status=status,
        clover=None,
    )


def _load(ctx: ServiceContext, invoice_id: str) -> tuple[Invoice, Merchant, Customer | None]:
    with ctx.sessions() as s:
        invoice = s.get(Invoice, invoice_id)
        if invoice is None:
            raise LinkError("invalid", "This payment link is not valid.")
        _ = invoice.line_items  # loaded while the session is open
        merchant = s.get_one(Merchant, invoice.merchant_id)
        customer = s.get(Customer, invoice.customer_id) if invoice.customer_id else None
        return invoice, merchant, customer


def _view(request: Request, link: str, attempt_id: str | None = None) -> Response:
    ctx, web = _ctx(request), _web(request)
    try:
        pay_link = verify_link(pay_link_key(ctx.settings, web), link, now=ctx.now())
        invoice, merchant, customer = _load(ctx, pay_link.invoice_id)
    except LinkError as exc:
        return _link_error(request, exc)
    with ctx.sessions() as s:
        totals = invoice_totals(s, invoice)
        attempt = s.get(PaymentAttempt, attempt_id) if attempt_id else None
        if attempt is not None and attempt.invoice_id != invoice.id:
            attempt = None
        flow = s.get(MerchantWebSettings, merchant.id)
    base = {"invoice": invoice, "merchant": merchant, "totals": totals, "link": link}
    if invoice.status == "paid" or (totals.amount_due == 0 and totals.paid > 0):
        return _page(request, "pay_done.html", base, clover=None)
    if invoice.status not in PAYABLE:
        return _page(request, "pay_closed.html", base, status=410, clover=None)
    if attempt is not None and attempt.state in ("pending", "unknown"):
        return _page(request, "pay_pending.html", base, status=202, clover=None)
    if flow is not None and flow.pay_flow == "hosted_checkout":
        return _hosted_checkout(request, ctx, invoice, merchant, customer, link)
    sdk_url = sdk_url_for(ctx, web, merchant)
    pakms_error = None
    if not merchant.pakms_key:  # fetched from Clover once, then read from the row
        try:
            ensure_pakms_key(ctx, merchant)
        except (CloverError, ServiceError):
            pakms_error = "Card payments are not available right now. Please try again later."
    context = {
        **base,
        "customer": customer,
        "sdk_url": sdk_url,
        "nonce": secrets.token_urlsafe(16),
        "error": attempt.failure_message or "The payment failed." if attempt else None,
        "can_save": customer is not None,
    }
    if request.query_params.get("error"):
        context["error"] = request.query_params["error"][:300]
    if pakms_error:
        context["error"] = pakms_error
        return _page(request, "pay.html", context, status=503, clover=origin_of(sdk_url))
    return _page(request, "pay.html", context, clover=origin_of(sdk_url))


@router.get("/pay/{link}", response_class=HTMLResponse)
def pay_page(request: Request, link: str, attempt: str | None = None) -> Response:
    return _view(request, link, attempt)


@router.post("/pay/{link}")
def pay_submit(
    request: Request,
    link: str,
    token: Annotated[str, Form(max_length=200)],
    attempt_nonce: Annotated[str, Form(max_length=64)],
    save_card: Annotated[str | None, Form()] = None,
    brand: Annotated[str | None, Form(max_length=20)] = None,
    last4: Annotated[str | None, Form(max_length=4)] = None,
    exp_month: Annotated[str | None, Form(max_length=2)] = None,
    exp_year: Annotated[str | None, Form(max_length=4)] = None,
) -> Response:
    ctx, web = _ctx(request), _web(request)
    try:
        pay_link = verify_link(pay_link_key(ctx.settings, web), link, now=ctx.now())
        invoice, _merchant, _customer = _load(ctx, pay_link.invoice_id)
    except LinkError as exc:
        return _link_error(request, exc)
    if not token.startswith("clv_"):
        return RedirectResponse(f"/pay/{link}?error=The+card+could+not+be+read.", status_code=303)
    client_ip = get_client_ip(request)  # None unless an IP: the core uses its default
    sub = PaySubmission(
        invoice_id=invoice.id,
        nonce=attempt_nonce,
        token=token,
        save_card=save_card in ("1", "on", "true"),
        brand=brand,
        last4=last4 if last4 and last4.isdigit() else None,
        exp_month=exp_month,
        exp_year=exp_year,
        client_ip=client_ip,
    )
    outcome = submit_payment(ctx, invoice, sub)
    if outcome.state == "error":
        from urllib.parse import quote

        return RedirectResponse(
            f"/pay/{link}?error={quote(outcome.message or 'The payment failed.')}", status_code=303
        )
    suffix = f"?attempt={outcome.attempt_id}" if outcome.attempt_id else ""
    return RedirectResponse(f"/pay/{link}{suffix}", status_code=303)


def _record_return(
    ctx: ServiceContext, merchant: Merchant, link: CheckoutLink, extra: dict[str, Any]
) -> bool:
    from cloverpay.service.webhooks import record_checkout_return

    try:
        return record_checkout_return(ctx, merchant, link, extra) is not None
    except CloverError:
        return False  # the webhook (or the next visit) records it


def _hosted_checkout(
    request: Request,
    ctx: ServiceContext,
    invoice: Invoice,
    merchant: Merchant,
    customer: Customer | None,
    link: str,
) -> Response:
    """Reuse the invoice's unexpired Hosted Checkout session, or mint one (15 min)."""
    now = ctx.now()
    with ctx.sessions() as s:
        existing = s.scalar(
            select(CheckoutLink)
            .where(CheckoutLink.invoice_id == invoice.id, CheckoutLink.expires_at > now)
            .order_by(CheckoutLink.expires_at.desc())
        )
        totals = invoice_totals(s, invoice)
    if existing is not None:
        extra: dict[str, Any] = {}
        try:
            with ctx.gateway.client(merchant) as clover:
                session = clover.checkout.sessions.retrieve(existing.checkout_session_id)
            status, extra = session.status, dict(session.model_extra or {})
        except CloverError:
            status = None  # cannot tell: sending the payer back to the session is safe
        if status == "PAID":
            # Paid at Clover: record it from Clover's answer now (idempotent with the
            # webhook, which records it if the payer never comes back).
            if _record_return(ctx, merchant, existing, extra):
                invoice, merchant, _customer = _load(ctx, invoice.id)
                with ctx.sessions() as s:
                    totals = invoice_totals(s, invoice)
                if invoice.status == "paid":
                    base = {"invoice": invoice, "merchant": merchant, "totals": totals}
                    return _page(request, "pay_done.html", {**base, "link": link}, clover=None)
            base = {"invoice": invoice, "merchant": merchant, "totals": totals, "link": link}
            return _page(request, "pay_pending.html", base, status=202, clover=None)
        if status != "EXPIRED":
            return RedirectResponse(existing.href, status_code=303)
    back = _web(request).public_url.rstrip("/") + f"/pay/{link}"
    params: dict[str, Any] = {
        "shopping_cart": {
            "line_items": [
                {"name": f"Invoice {invoice.number}", "price": totals.amount_due, "unit_qty": 1}
            ]
        },
        "redirect_urls": {"success": back, "failure": back, "cancel": back},
        "external_reference_id": invoice.id[:12],
    }
    if customer is not None and customer.email:
        params["customer"] = {"email": customer.email}
    try:
        with ctx.gateway.client(merchant) as clover:
            session = clover.checkout.sessions.create(**params)
    except CloverError as exc:
        return _page(
            request,
            "pay_link_error.html",
            {"reason": "upstream", "message": f"Checkout is unavailable: {exc.message}"},
            status=502,
            clover=None,
        )
    if not session.href:
        raise RuntimeError("Clover returned a checkout session without href")
    with ctx.sessions.begin() as s:
        s.add(
            CheckoutLink(
                merchant_id=merchant.id,
                invoice_id=invoice.id,
                checkout_session_id=session.checkout_session_id,
                href=session.href,
                expires_at=now + _CHECKOUT_TTL,
            )
        )
    return RedirectResponse(session.href, status_code=303)
