"""Rows that go with every change: audit and outbox. They write in the caller's
transaction, they never commit.

Both are one Core INSERT on the session's connection, sent at once (a prebuilt
statement: no ORM unit of work, no statement built per call); neither table has a
foreign key to the rows they describe, so the order against the ORM's flush does not
matter, and a later SELECT in the transaction sees them as before.

:func:`audit_failure` is the exception: it writes a failure's audit row in its own
transaction, so the trace survives the rollback of the work that failed (rule 5).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from cloverpay.service.db import AuditLog, OutboxEvent, SessionFactory, utcnow

__all__ = ["add_audit", "add_outbox", "audit_failure"]


def _json(data: dict[str, Any] | None) -> str | None:
    return json.dumps(data, sort_keys=True, default=str) if data else None


_AUDIT = insert(AuditLog.__table__)  # type: ignore[arg-type]
_OUTBOX = insert(OutboxEvent.__table__)  # type: ignore[arg-type]


def add_audit(
    session: Session,
    *,
    merchant_id: str | None,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    from_state: str | None = None,
    to_state: str | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> None:
    session.connection().execute(
        _AUDIT,
        {
            "merchant_id": merchant_id,
            "actor": actor,
            "action": action,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "from_state": from_state,
            "to_state": to_state,
            "reason": reason,
            "data_json": _json(data),
            "created_at": now or utcnow(),
        },
    )


def add_outbox(
    session: Session,
    *,
    merchant_id: str | None,
    topic: str,
    dedupe_key: str,
    payload: dict[str, Any],
    channel: str = "webhook",
    now: datetime | None = None,
) -> int:
    """The new row's id."""
    at = now or utcnow()
    result = session.connection().execute(
        _OUTBOX,
        {
            "merchant_id": merchant_id,
            "topic": topic,
            "channel": channel,
            "dedupe_key": dedupe_key,
            "payload_json": json.dumps(payload, sort_keys=True, default=str),
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": at,
            "created_at": at,
        },
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def audit_failure(
    sessions: SessionFactory,
    *,
    merchant_id: str | None,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    reason: str,
    data: dict[str, Any] | None = None,
) -> None:
    """Record a failure in its own transaction (never lost with a rollback)."""
    with sessions.begin() as session:
        add_audit(
            session,
            merchant_id=merchant_id,
            actor=actor,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            reason=reason,
            data=data,
        )
