"""``/v1/event_settings``: where the merchant's events go (signed webhooks to its CRM).

The signing secret is write-only: the CRM chooses it and sends it here (the response,
which ``Idempotency-Key`` replays store, never carries it). It is stored Fernet-encrypted.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cloverpay.service.api.deps import Ctx, CurrentPrincipal
from cloverpay.service.api.schemas import UtcDateTime, error_responses
from cloverpay.service.db import MerchantEventSettings
from cloverpay.service.errors import InvalidRequest, NotFound
from cloverpay.service.events_out import configure_events

__all__ = ["EventSettingsIn", "EventSettingsOut", "router"]

router = APIRouter(prefix="/v1/event_settings", tags=["events"])

Topic = Annotated[str, StringConstraints(pattern=r"^[a-z_]+\.[a-z_]+$", max_length=60)]


class EventSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=500)]
    enabled: bool = True
    #: Topics to send (e.g. ``invoice.paid``, ``payment.refunded``); empty = all.
    topics: Annotated[list[Topic], Field(max_length=20)] = []
    #: Required the first time; omit to keep the stored one. Never returned.
    signing_secret: Annotated[str, StringConstraints(min_length=24, max_length=200)] | None = None


class EventSettingsOut(BaseModel):
    url: str
    enabled: bool
    topics: list[str]
    updated_at: UtcDateTime


def _out(row: MerchantEventSettings) -> EventSettingsOut:
    return EventSettingsOut(
        url=row.url,
        enabled=row.enabled,
        topics=row.topics.split(",") if row.topics else [],
        updated_at=row.updated_at,
    )


@router.get("", responses=error_responses((404, "events out is not configured yet (error shape)")))
def get_event_settings(ctx: Ctx, who: CurrentPrincipal) -> EventSettingsOut:
    with ctx.sessions() as s:
        row = s.get(MerchantEventSettings, who.merchant_id)
    if row is None:
        raise NotFound("events out is not configured", field=None)
    return _out(row)


@router.post("", responses=error_responses(400, 409))
def set_event_settings(body: EventSettingsIn, ctx: Ctx, who: CurrentPrincipal) -> EventSettingsOut:
    with ctx.sessions() as s:
        exists = s.get(MerchantEventSettings, who.merchant_id) is not None
    if not exists and body.signing_secret is None:
        raise InvalidRequest(
            "signing_secret is required the first time", field="signing_secret", code="missing"
        )
    configure_events(
        ctx,
        who.merchant_id,
        url=body.url,
        enabled=body.enabled,
        topics=list(body.topics),
        signing_secret=body.signing_secret,
        actor=who.actor,
    )
    with ctx.sessions() as s:
        return _out(s.get_one(MerchantEventSettings, who.merchant_id))
