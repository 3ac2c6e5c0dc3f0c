"""Outbox workers: claim due events, then mark them sent or failed.

Rows are claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (several processes
never claim the same row; ``BEGIN IMMEDIATE`` serializes the claim on SQLite) and
leased through ``claimed_until``: a worker that dies leaves the row to be claimed
again after the lease. Delivery itself (SMTP, signed CRM webhooks) is the caller's:
:func:`claim_outbox` hands out rows, :func:`mark_sent` / :func:`mark_failed` record
the result. A failed event is retried with exponential backoff up to ``max_attempts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select

from cloverpay.service.db import OutboxEvent
from cloverpay.service.services.context import ServiceContext

__all__ = ["ClaimedEvent", "claim_outbox", "mark_failed", "mark_sent"]


@dataclass(frozen=True, slots=True)
class ClaimedEvent:
    id: int
    merchant_id: str | None
    topic: str
    channel: str
    payload_json: str
    attempts: int


def claim_outbox(
    ctx: ServiceContext,
    *,
    limit: int = 50,
    lease_s: int = 60,
    channel: str = "webhook",
) -> list[ClaimedEvent]:
    """Claim up to ``limit`` due rows of one ``channel`` (``webhook``: the business
    events; emails have their own worker in ``outbox_email``, alerts are read by people).
    Rows of other channels are never claimed here."""
    now = ctx.now()
    with ctx.sessions.begin() as s:
        stmt = (
            select(OutboxEvent)
            .where(
                OutboxEvent.status == "pending",
                OutboxEvent.next_attempt_at <= now,
                or_(OutboxEvent.claimed_until.is_(None), OutboxEvent.claimed_until <= now),
            )
            .order_by(OutboxEvent.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        stmt = stmt.where(OutboxEvent.channel == channel)
        rows = s.scalars(stmt).all()
        out = []
        for row in rows:
            row.claimed_until = now + timedelta(seconds=lease_s)
            row.attempts += 1
            out.append(
                ClaimedEvent(
                    row.id, row.merchant_id, row.topic, row.channel, row.payload_json, row.attempts
                )
            )
        return out


def mark_sent(ctx: ServiceContext, event_id: int) -> None:
    with ctx.sessions.begin() as s:
        row = s.get_one(OutboxEvent, event_id, with_for_update=True)
        row.status = "sent"
        row.sent_at = ctx.now()
        row.claimed_until = None


def mark_failed(ctx: ServiceContext, event_id: int, error: str, *, max_attempts: int = 8) -> None:
    now = ctx.now()
    with ctx.sessions.begin() as s:
        row = s.get_one(OutboxEvent, event_id, with_for_update=True)
        row.last_error = error[:2000]
        row.claimed_until = None
        if row.attempts >= max_attempts:
            row.status = "failed"
        else:
            row.next_attempt_at = now + timedelta(seconds=min(30 * 2 ** (row.attempts - 1), 86400))
