"""Dashboard: the receipts switch of the Settings page (payment and refund receipts
emailed to payers, :mod:`cloverpay.service.services.receipts`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import Response

from cloverpay.service.dashboard._common import Csrf, Ctx
from cloverpay.service.dashboard._routes import back
from cloverpay.service.services.receipts import set_receipts_enabled

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
