"""Hosted Checkout (spec §11): the API, the hosted page, and the signed webhook.

========================================================  ==================================
``POST /invoicingcheckoutservice/v1/checkouts``             create a session (Bearer +
                                                            ``X-Clover-Merchant-Id``)
``GET  /invoicingcheckoutservice/v1/checkouts/{id}``        session status ([G] shape)
``GET  /checkout/{id}``                                     the hosted page (cart + card form)
``POST /checkout/{id}/pay``                                 the form: tokenize, charge, redirect
``GET  /checkout/{id}/done``                                receipt when no success URL is set
``GET/POST /_sandbox/webhooks/hosted_checkout``             per-merchant URL + signing secret
========================================================  ==================================

The page posts the card to the sandbox itself (the "Clover" side); the merchant's server
never sees it. Paying tokenizes and charges through the Ecommerce logic
(:mod:`.._bridge`), so the charge shows up in ``/v1/charges`` and ``/v3/.../payments``.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .._auth import state_of
from .._checkout import CheckoutError, CheckoutSession, CheckoutState, CheckoutStore
from .._errors import SandboxError
from .._http import json_body, json_response
from .._state import SandboxState
from .._webhooks_out import WebhookStore
from ._bridge import ChargeResult, charge_card
from ._web import api_error, dispatcher_for, form_body, money, render, require_merchant

__all__ = ["routes"]


def _href(request: Request, session: CheckoutSession) -> str:
    return f"{str(request.base_url).rstrip('/')}/checkout/{session.id}"


def _api_error(exc: CheckoutError) -> SandboxError:
    return api_error(exc.status, exc.message, "not_found" if exc.status == 404 else "invalid")


async def create(request: Request) -> Response:
    state = state_of(request)
    merchant = require_merchant(request)
    body = json_body(request)
    store = state.domain(CheckoutStore)
    with state.lock:
        try:
            session = store.create(merchant.merchant_id, body, state.clock.now_ms())
        except CheckoutError as exc:
            raise _api_error(exc) from None
    return json_response(session.created_json(_href(request, session)))


async def get_session(request: Request) -> Response:
    state = state_of(request)
    merchant = require_merchant(request)
    store = state.domain(CheckoutStore)
    with state.lock:
        try:
            session = store.get(request.path_params["id"])
        except CheckoutError as exc:
            raise _api_error(exc) from None
        if session.merchant_id != merchant.merchant_id:
            raise api_error(404, f"checkout session {session.id} not found", "not_found")
        session.refresh(state.clock.now_ms())
        return json_response(session.status_json(_href(request, session)))


#: The hosted page runs no script, loads nothing, and may not be framed (clickjacking).
_PAGE_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
}


def _html(content: str, status: int) -> HTMLResponse:
    return HTMLResponse(content, status_code=status, headers=_PAGE_HEADERS)


def _status_page(heading: str, message: str, status: int, link: str | None = None) -> HTMLResponse:
    return _html(
        render("checkout_status.html", heading=heading, message=message, link=link), status
    )


def _closed_page(session: CheckoutSession) -> HTMLResponse | None:
    if session.state is CheckoutState.EXPIRED:
        return _status_page(
            "This checkout has expired",
            "The payment link is no longer valid. Please return to the store and try again.",
            410,
            session.redirect_for("cancel"),
        )
    if session.state in (CheckoutState.PAID, CheckoutState.PAYING):
        return _status_page(
            "Already paid",
            f"This checkout was paid ({money(session.total + session.tip_amount)}).",
            409,
            session.redirect_for("success"),
        )
    return None


def _session_or_404(state: SandboxState, session_id: str) -> CheckoutSession | HTMLResponse:
    try:
        return state.domain(CheckoutStore).get(session_id)
    except CheckoutError:
        return _status_page("Checkout not found", "There is no such checkout session.", 404)


def _form_page(state: SandboxState, session: CheckoutSession, error: str | None) -> HTMLResponse:
    merchant = state.merchants.get(session.merchant_id)
    customer = session.customer
    name = " ".join(str(customer.get(k, "")) for k in ("firstName", "lastName") if customer.get(k))
    html = render(
        "checkout.html",
        session=session,
        merchant_name=merchant.name if merchant else session.merchant_id,
        customer_name=name,
        cancel_url=session.redirect_for("cancel"),
        error=error,
    )
    return _html(html, 200 if error is None else 400)


async def page(request: Request) -> Response:
    state = state_of(request)
    with state.lock:
        found = _session_or_404(state, request.path_params["id"])
        if isinstance(found, HTMLResponse):
            return found
        found.refresh(state.clock.now_ms())
        closed = _closed_page(found)
        return closed or _form_page(state, found, None)


def _parse_tip(raw: str | None) -> int:
    if not raw or not raw.strip():
        return 0
    text = raw.strip().lstrip("$")
    try:
        whole, _, frac = text.partition(".")
        if not whole.isdigit() and whole != "":
            raise ValueError
        if frac and (not frac.isdigit() or len(frac) > 2):
            raise ValueError
        return int(whole or "0") * 100 + int(frac.ljust(2, "0") or "0")
    except ValueError:
        raise CheckoutError("Tip must be an amount like 2.50") from None


def _card_from_form(form: dict[str, str]) -> dict[str, Any]:
    exp = form.get("exp", "").replace(" ", "")
    month, _, year = exp.partition("/")
    card: dict[str, Any] = {
        "number": "".join(ch for ch in form.get("number", "") if ch.isdigit()),
        "exp_month": month,
        "exp_year": year,
        "cvv": form.get("cvv", "").strip(),
    }
    if form.get("zip", "").strip():
        card["address_zip"] = form["zip"].strip()
    if form.get("name", "").strip():
        card["name"] = form["name"].strip()
    return card


def _metadata(session: CheckoutSession) -> dict[str, Any]:
    meta: dict[str, Any] = {"checkoutSessionId": session.id}
    if session.external_reference_id:
        meta["externalReferenceId"] = str(session.external_reference_id)[:100]
    return meta


def _webhook(state: SandboxState, session: CheckoutSession, result: ChargeResult) -> None:
    if session.merchant_id not in state.domain(WebhookStore).hosted_checkout:
        return
    now_ms = state.clock.now_ms()
    amount = session.total + session.tip_amount
    payload = {
        "createdTime": now_ms,
        "message": f"Approved for {amount}" if result.succeeded else (result.message or "Declined"),
        "status": "APPROVED" if result.succeeded else "DECLINED",
        "type": "PAYMENT",
        "id": result.charge_id,
        "merchantId": session.merchant_id,
        "data": session.id,
    }
    store = state.domain(WebhookStore)
    t = now_ms // 1000 if store.settings.signature_clock == "sandbox" else int(time.time())
    dispatcher_for(state).send_hosted_checkout(session.merchant_id, payload, t)


async def pay(request: Request) -> Response:
    state = state_of(request)
    form = await form_body(request)
    with state.lock:
        found = _session_or_404(state, request.path_params["id"])
        if isinstance(found, HTMLResponse):
            return found
        session = found
        session.refresh(state.clock.now_ms())
        closed = _closed_page(session)
        if closed is not None:
            return closed
        try:
            tip = _parse_tip(form.get("tip")) if session.tips_enabled else 0
        except CheckoutError as exc:
            return _form_page(state, session, exc.message)
        merchant = state.merchants[session.merchant_id]
        session.transition(CheckoutState.PAYING)
        session.attempts += 1
        try:
            result = charge_card(
                state,
                merchant,
                card=_card_from_form(form),
                amount=session.total,
                tip_amount=tip,
                tax_amount=session.tax,
                description=f"Hosted Checkout {session.id}"[:255],
                metadata=_metadata(session),
            )
        except SandboxError as exc:  # the card was refused before any charge
            session.transition(CheckoutState.OPEN)
            return _form_page(state, session, exc.message)
        except BaseException:
            session.transition(CheckoutState.OPEN)
            raise
        if result.succeeded:
            session.transition(CheckoutState.PAID)
            session.charge_id = session.payment_id = result.charge_id
            session.tip_amount = tip
            session.paid_ms = state.clock.now_ms()
        else:
            session.transition(CheckoutState.OPEN)
            session.last_decline = result.message
        _webhook(state, session, result)
    if result.succeeded:
        target = session.redirect_for("success") or f"/checkout/{session.id}/done"
        return RedirectResponse(target, status_code=303)
    failure = session.redirect_for("failure")
    if failure:
        return RedirectResponse(failure, status_code=303)
    return _form_page(state, session, result.message or "The card was declined.")


async def done(request: Request) -> Response:
    state = state_of(request)
    with state.lock:
        found = _session_or_404(state, request.path_params["id"])
        if isinstance(found, HTMLResponse):
            return found
        if found.state is not CheckoutState.PAID:
            return _status_page("Not paid", "This checkout has not been paid.", 409)
        amount = money(found.total + found.tip_amount)
        return _status_page("Payment approved", f"Paid {amount}. Thank you!", 200)


async def hc_webhook_get(request: Request) -> Response:
    store = state_of(request).domain(WebhookStore)
    return json_response({"configs": [c.to_json() for c in store.hosted_checkout.values()]})


async def hc_webhook_set(request: Request) -> Response:
    state = state_of(request)
    body = json_body(request)
    url = body.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise api_error(400, "url must be an http(s) URL")
    merchant_id = body.get("merchantId") or state.merchant.merchant_id
    if merchant_id not in state.merchants:
        raise api_error(400, f"merchantId {merchant_id} is not a sandbox merchant")
    secret = body.get("signingSecret")
    if secret is not None and (not isinstance(secret, str) or not secret):
        raise api_error(400, "signingSecret must be a non-empty string")
    cfg = state.domain(WebhookStore).set_hosted_checkout(merchant_id, url, secret)
    return json_response(cfg.to_json())


routes: list[BaseRoute] = [
    Route("/invoicingcheckoutservice/v1/checkouts", create, methods=["POST"]),
    Route("/invoicingcheckoutservice/v1/checkouts/{id}", get_session, methods=["GET"]),
    Route("/checkout/{id}", page, methods=["GET"]),
    Route("/checkout/{id}/pay", pay, methods=["POST"]),
    Route("/checkout/{id}/done", done, methods=["GET"]),
    Route("/_sandbox/webhooks/hosted_checkout", hc_webhook_get, methods=["GET"]),
    Route("/_sandbox/webhooks/hosted_checkout", hc_webhook_set, methods=["POST"]),
]
