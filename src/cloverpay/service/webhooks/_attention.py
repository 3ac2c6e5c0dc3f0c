"""What a webhook reports that we will not record by ourselves: for a person, once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloverpay.service.db import OutboxEvent
from cloverpay.service.services.records import add_audit, add_outbox

__all__ = ["needs_attention"]


def needs_attention(
    s: Session,
    *,
    topic: str,
    key: str,
    merchant_id: str,
    entity_type: str,
    entity_id: str,
    problem: str,
    data: dict[str, Any],
    actor: str,
) -> str:
    """One ``topic`` audit row and one alert per ``key`` (a Clover object id), however
    often it is reported; returns what happened, for the inbox row's audit entry."""
    dedupe = f"{topic}:{key}"
    if s.scalar(select(OutboxEvent.id).where(OutboxEvent.dedupe_key == dedupe)) is None:
        add_audit(
            s,
            merchant_id=merchant_id,
            actor=actor,
            action=topic,
            entity_type=entity_type,
            entity_id=entity_id,
            reason=problem,
            data=data,
        )
        add_outbox(
            s,
            merchant_id=merchant_id,
            topic=topic,
            channel="alert",
            dedupe_key=dedupe,
            payload={**data, "problem": problem},
        )
    return f"needs attention, nothing recorded: {problem}"
