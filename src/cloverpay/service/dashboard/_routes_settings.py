"""Dashboard: the Settings page (pay flow, fee rate, Clover connection, events to a CRM)
and its receipts switch (payment and refund receipts emailed to payers,
:mod:`cloverpay.service.services.receipts`); the Hosted Checkout signing secret form is
in :mod:`._routes_webhooks`."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from cloverpay.service.dashboard._common import Csrf, Ctx, Staff, page
from cloverpay.service.dashboard._report import FeeRate
from cloverpay.service.dashboard._routes import back
from cloverpay.service.db import Merchant, MerchantEventSettings
from cloverpay.service.db.models_web import PAY_FLOWS, MerchantWebSettings
from cloverpay.service.errors import ServiceError
from cloverpay.service.gateway import oauth_hosts
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
        row = s.get(MerchantWebSettings, staff.merchant_id)
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
            "pay_flow": row.pay_flow if row else "iframe",
            "rate": FeeRate(row.fee_rate_bps, row.fee_fixed_cents) if row else FeeRate(),
            "receipts": row.receipts_enabled if row else True,
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


@router.post("/settings")
def settings_save(ctx: Ctx, staff: Csrf, pay_flow: Annotated[str, Form()]) -> Response:
    from cloverpay.service.services.records import add_audit

    if pay_flow not in PAY_FLOWS:
        return back("/dashboard/settings", err=f"pay_flow must be one of {', '.join(PAY_FLOWS)}")
    with ctx.sessions.begin() as s:
        row = s.get(MerchantWebSettings, staff.merchant_id)
        before = row.pay_flow if row else "iframe"
        if row is None:
            row = MerchantWebSettings(merchant_id=staff.merchant_id)
            s.add(row)
        row.pay_flow = pay_flow
        row.updated_at = ctx.now()
        add_audit(
            s,
            merchant_id=staff.merchant_id,
            actor=staff.actor,
            action="settings.pay_flow",
            entity_type="merchant",
            entity_id=staff.merchant_id,
            from_state=before,
            to_state=pay_flow,
        )
    return back("/dashboard/settings", msg="Settings saved.")


@router.post("/settings/fees")
def settings_fees(
    ctx: Ctx,
    staff: Csrf,
    rate_percent: Annotated[str, Form()],
    fixed: Annotated[str, Form()],
) -> Response:
    """The card processing rate the reports estimate fees with (e.g. 2.9 % + $0.30)."""
    from cloverpay.service.services.records import add_audit

    try:
        bps = int(Decimal(rate_percent.strip() or "0") * 100)
        fixed_cents = int(Decimal(fixed.strip().lstrip("$") or "0") * 100)
    except InvalidOperation:
        return back("/dashboard/settings", err="rate and fixed fee must be numbers")
    if not 0 <= bps <= 2_000 or not 0 <= fixed_cents <= 1_000:
        return back("/dashboard/settings", err="rate must be 0 to 20 % and the fixed fee $0 to $10")
    with ctx.sessions.begin() as s:
        row = s.get(MerchantWebSettings, staff.merchant_id)
        if row is None:
            row = MerchantWebSettings(merchant_id=staff.merchant_id)
            s.add(row)
        before = f"{row.fee_rate_bps or 0}bps+{row.fee_fixed_cents or 0}c"
        row.fee_rate_bps, row.fee_fixed_cents = bps, fixed_cents
        row.updated_at = ctx.now()
        add_audit(
            s,
            merchant_id=staff.merchant_id,
            actor=staff.actor,
            action="settings.fee_rate",
            entity_type="merchant",
            entity_id=staff.merchant_id,
            from_state=before[:20],
            to_state=f"{bps}bps+{fixed_cents}c"[:20],
        )
    return back("/dashboard/settings", msg="Fee rate saved.")
