"""Dashboard: the Settings page (pay flow, fee rate, Clover connection, events to a CRM)
and its receipts switch (payment and refund receipts emailed to payers,
:mod:`cloverpay.service.services.receipts`); the Hosted Checkout signing secret form is
in :mod:`._routes_webhooks`."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from cloverpay.service.dashboard._auth import StaffSession
from cloverpay.service.dashboard._common import Csrf, Ctx, Staff, page
from cloverpay.service.dashboard._report import FeeRate
from cloverpay.service.dashboard._routes import back
from cloverpay.service.db import Merchant, MerchantEventSettings
from cloverpay.service.errors import ServiceError
from cloverpay.service.gateway import oauth_hosts
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.merchant_settings import (
    PAY_FLOWS,
    SettingsChange,
    read_settings,
    update_settings,
)
from cloverpay.service.services.receipts import set_receipts_enabled
from cloverpay.service.web._security_headers import origin_of

__all__ = ["router"]

router = APIRouter(prefix="/dashboard", include_in_schema=False)


@router.post("/settings/receipts")
def settings_receipts(
    ctx: Ctx, staff: Csrf, receipts: Annotated[str | None, Form()] = None
) -> Response:
    enabled = receipts is not None
    set_receipts_enabled(ctx, staff.merchant_id, enabled, actor=staff.actor)
    return back(
        "/dashboard/settings",
        msg="Receipts will be emailed to payers." if enabled else "Receipts are turned off.",
    )


@router.get("/settings", response_class=HTMLResponse)
def settings_page(
    request: Request, ctx: Ctx, staff: Staff, new_secret: str | None = None
) -> Response:
    from cloverpay.service.webhooks import checkout_secret_set_at

    with ctx.sessions() as s:
        current = read_settings(s, staff.merchant_id)
        events = s.get(MerchantEventSettings, staff.merchant_id)
        merchant = s.get_one(Merchant, staff.merchant_id)
    # "Reconnect with Clover" posts here and is redirected to Clover's authorize page.
    can_connect = bool(ctx.settings.clover_app_id)
    authorize_origin = origin_of(oauth_hosts(ctx.settings, merchant.clover_base_url)[1])
    return page(
        request,
        "settings.html",
        staff,
        {
            "pay_flow": current.pay_flow,
            "rate": FeeRate(current.fee_rate_bps, current.fee_fixed_cents),
            "receipts": current.receipts_enabled,
            "flows": PAY_FLOWS,
            "events": events,
            "new_secret": new_secret,
            "clover": {
                "oauth": ctx.gateway.uses_oauth(merchant),
                "can_connect": can_connect,
                "expires": merchant.access_token_expires_at,
                "pakms": bool(merchant.pakms_key),
            },
            "secret_set_at": checkout_secret_set_at(ctx, staff.merchant_id),
        },
        form_targets=(authorize_origin,) if can_connect else (),
    )


@router.post("/settings/clover/connect")
def settings_clover_connect(request: Request, ctx: Ctx, staff: Csrf) -> Response:
    """Reconnect this merchant through OAuth v2 (the callback must come back for it)."""
    from fastapi.responses import RedirectResponse

    from cloverpay.service.api.routes.oauth import redirect_uri_for, set_state_cookie
    from cloverpay.service.services.oauth_connect import start_connect

    with ctx.sessions() as s:
        merchant = s.get_one(Merchant, staff.merchant_id)
    try:
        start = start_connect(
            ctx, redirect_uri=redirect_uri_for(request), actor=staff.actor, merchant=merchant
        )
    except ServiceError as exc:
        return back("/dashboard/settings", err=exc.message)
    response = RedirectResponse(start.url, status_code=303)
    set_state_cookie(request, response, start.state)
    return response


@router.post("/settings/events", response_class=HTMLResponse)
def settings_events(
    request: Request,
    ctx: Ctx,
    staff: Csrf,
    url: Annotated[str, Form(max_length=500)],
    topics: Annotated[str, Form(max_length=500)] = "",
    enabled: Annotated[str | None, Form()] = None,
    rotate: Annotated[str | None, Form()] = None,
) -> Response:
    from cloverpay.service.events_out import configure_events

    try:
        secret = configure_events(
            ctx,
            staff.merchant_id,
            url=url,
            enabled=enabled is not None,
            topics=topics.split(","),
            rotate_secret=rotate is not None,
            actor=staff.actor,
        )
    except ServiceError as exc:
        return back("/dashboard/settings", err=exc.message)
    if secret is None:
        return back("/dashboard/settings", msg="Events settings saved.")
    # The new secret is shown once, in this response (never in a URL or a log).
    return settings_page(request, ctx, staff, new_secret=secret)


def _save(ctx: ServiceContext, staff: StaffSession, change: SettingsChange, msg: str) -> Response:
    try:
        update_settings(ctx, staff.merchant_id, change, actor=staff.actor)
    except ServiceError as exc:
        return back("/dashboard/settings", err=exc.message)
    return back("/dashboard/settings", msg=msg)


@router.post("/settings")
def settings_save(ctx: Ctx, staff: Csrf, pay_flow: Annotated[str, Form()]) -> Response:
    return _save(ctx, staff, SettingsChange(pay_flow=pay_flow), "Settings saved.")


def _cents(text: str) -> int:
    """``"2.9"`` → 290 (hundredths, rounded down); ValueError when not a finite number."""
    try:
        value = Decimal(text.strip().lstrip("$") or "0")
    except InvalidOperation:
        raise ValueError(text) from None
    if not value.is_finite():
        raise ValueError(text)
    return int(value * 100)


@router.post("/settings/fees")
def settings_fees(
    ctx: Ctx,
    staff: Csrf,
    rate_percent: Annotated[str, Form()],
    fixed: Annotated[str, Form()],
) -> Response:
    """The card processing rate the reports estimate fees with (e.g. 2.9 % + $0.30)."""
    try:
        bps, fixed_cents = _cents(rate_percent), _cents(fixed)
    except ValueError:
        return back("/dashboard/settings", err="rate and fixed fee must be numbers")
    change = SettingsChange(fee_rate_bps=bps, fee_fixed_cents=fixed_cents)
    return _save(ctx, staff, change, "Fee rate saved.")
