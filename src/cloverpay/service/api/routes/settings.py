"""``/v1/settings``: the merchant's settings of the dashboard's Settings page (what pay
links open, the fee rate of the reports, receipts to payers), read and changed through
the same service functions as the dashboard
(:mod:`cloverpay.service.services.merchant_settings`).

``PATCH`` changes the fields sent and keeps the others, all or nothing: a bad or
unknown field is a 422 naming it and nothing is written. Each setting that changes
gets its audit row (actor ``api_key:<prefix>``, from → to) in the transaction of the
change; a PATCH that changes nothing writes nothing.

``Idempotency-Key`` is not used by ``PATCH`` (the middleware keys POSTs only; the header
is ignored here): a PATCH sets values rather than adding anything, so sending it again
ends in the same settings and, changing nothing the second time, writes no second
audit row. Events out and the subscriptions' billing mode have their own endpoints
(``/v1/event_settings``, ``/v1/billing_settings``).
"""

from __future__ import annotations

from fastapi import APIRouter

from cloverpay.service.api.deps import Ctx, CurrentPrincipal
from cloverpay.service.api.schemas import error_responses
from cloverpay.service.api.schemas_settings import SettingsOut, SettingsPatch, settings_out
from cloverpay.service.services.merchant_settings import (
    SettingsChange,
    read_settings,
    update_settings,
)

__all__ = ["router"]

router = APIRouter(prefix="/v1/settings", tags=["settings"])


@router.get("")
def get_settings(ctx: Ctx, who: CurrentPrincipal) -> SettingsOut:
    """The merchant's settings (the defaults until changed)."""
    with ctx.sessions() as s:
        return settings_out(read_settings(s, who.merchant_id))


@router.patch("", responses=error_responses(400))
def patch_settings(body: SettingsPatch, ctx: Ctx, who: CurrentPrincipal) -> SettingsOut:
    """Change the settings sent (all or nothing); the settings after the change.
    Audited per setting changed; `Idempotency-Key` is not used (sending the same PATCH
    again changes nothing more)."""
    change = SettingsChange(**body.model_dump(exclude_unset=True))
    after, _changed = update_settings(ctx, who.merchant_id, change, actor=who.actor)
    return settings_out(after)
