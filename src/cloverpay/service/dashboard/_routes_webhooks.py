"""Dashboard: the Webhooks page (the inbox, the app webhook verification code to paste
into Clover, where to point Clover) and the Hosted Checkout signing secret form of the
Settings page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from cloverpay.service.dashboard._common import Csrf, Ctx, Staff, Web, page
from cloverpay.service.dashboard._routes import back
from cloverpay.service.errors import ServiceError
from cloverpay.service.webhooks import (
    INBOX_STATUSES,
    checkout_secret_set_at,
    latest_verification_code,
    recent_inbox,
    set_checkout_signing_secret,
)

__all__ = ["router"]

router = APIRouter(prefix="/dashboard", include_in_schema=False)


@router.get("/webhooks", response_class=HTMLResponse)
def webhooks_page(request: Request, ctx: Ctx, web: Web, staff: Staff, status: str = "") -> Response:
    status = status if status in INBOX_STATUSES else ""
    base = web.public_url.rstrip("/")
    return page(
        request,
        "webhooks.html",
        staff,
        {
            "rows": recent_inbox(ctx, merchant_id=staff.merchant_id, status=status or None),
            "status": status,
            "statuses": INBOX_STATUSES,
            "code": latest_verification_code(ctx),
            "auth_code_set": ctx.settings.clover_app_auth_code is not None,
            "secret_set_at": checkout_secret_set_at(ctx, staff.merchant_id),
            "app_url": f"{base}/webhooks/clover/app",
            "checkout_url": f"{base}/webhooks/clover/checkout/{staff.merchant_id}",
        },
    )


@router.post("/settings/checkout_secret")
def checkout_secret_save(
    ctx: Ctx, staff: Csrf, signing_secret: Annotated[str, Form()] = ""
) -> Response:
    try:
        set_checkout_signing_secret(ctx, staff.merchant_id, signing_secret, actor=staff.actor)
    except ServiceError as exc:
        return back("/dashboard/settings", err=exc.message)
    return back("/dashboard/settings", msg="Hosted Checkout signing secret saved.")
