"""What people see of the inbox: the dashboard's Webhooks page and ``cloverpay webhooks
list`` read it through :func:`recent_inbox` (headers are stored redacted already)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select

from cloverpay.service.db import Merchant, MerchantWebhookSecret, WebhookInbox
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.webhooks._config import SOURCE_APP_VERIFICATION

__all__ = ["INBOX_STATUSES", "InboxRow", "checkout_secret_set_at", "recent_inbox"]

INBOX_STATUSES = ("received", "processing", "processed", "failed")


@dataclass(frozen=True, slots=True)
class InboxRow:
    id: int
    source: str
    merchant_id: str | None
    status: str
    verified: bool
    verification_error: str | None
    attempts: int
    last_error: str | None
    received_at: datetime
    processed_at: datetime | None
    #: Not before / lease end (``claimed_until``).
    due_at: datetime | None
    body: str
    headers: dict[str, str]


def _row(r: WebhookInbox) -> InboxRow:
    try:
        headers = json.loads(r.headers_json or "{}")
    except ValueError:
        headers = {}
    return InboxRow(
        id=r.id,
        source=r.source,
        merchant_id=r.merchant_id,
        status=r.status,
        verified=r.verified,
        verification_error=r.verification_error,
        attempts=r.attempts,
        last_error=r.last_error,
        received_at=r.received_at,
        processed_at=r.processed_at,
        due_at=r.claimed_until,
        body=bytes(r.body).decode("utf-8", "replace"),
        headers=headers if isinstance(headers, dict) else {},
    )


def _names(body: bytes, clover_merchant_id: str) -> bool:
    """An app webhook batch names the merchant (``merchants: {<mId>: [...]}``)."""
    try:
        merchants = json.loads(body).get("merchants")
    except (ValueError, AttributeError):
        return False
    return isinstance(merchants, dict) and clover_merchant_id in merchants


def recent_inbox(
    ctx: ServiceContext,
    *,
    merchant_id: str | None = None,
    status: str | None = None,
    source: str | None = None,
    limit: int = 100,
) -> list[InboxRow]:
    """The newest inbox rows, newest first. With ``merchant_id``: that merchant's Hosted
    Checkout rows, the app webhooks whose batch names its Clover merchant id, and the
    verification handshakes (app-wide); app batches of other merchants are left out
    (they are filtered after reading, so fewer than ``limit`` rows may come back)."""
    limit = max(1, min(limit, 1000))
    with ctx.sessions() as s:
        stmt = select(WebhookInbox).order_by(WebhookInbox.id.desc())
        if status:
            stmt = stmt.where(WebhookInbox.status == status)
        if source:
            stmt = stmt.where(WebhookInbox.source == source)
        if merchant_id is None:
            return [_row(r) for r in s.scalars(stmt.limit(limit))]
        merchant = s.get(Merchant, merchant_id)
        if merchant is None:
            return []
        stmt = stmt.where(
            or_(WebhookInbox.merchant_id == merchant_id, WebhookInbox.merchant_id.is_(None))
        )
        rows = []
        for r in s.scalars(stmt.limit(limit * 4)):
            if (
                r.merchant_id == merchant_id
                or r.source == SOURCE_APP_VERIFICATION
                or _names(bytes(r.body), merchant.clover_merchant_id)
            ):
                rows.append(_row(r))
                if len(rows) >= limit:
                    break
        return rows


def checkout_secret_set_at(ctx: ServiceContext, merchant_id: str) -> datetime | None:
    """When the merchant's Hosted Checkout signing secret was last stored (None: never).
    The secret itself is never shown."""
    with ctx.sessions() as s:
        return s.scalar(
            select(MerchantWebhookSecret.updated_at).where(
                MerchantWebhookSecret.merchant_id == merchant_id
            )
        )
