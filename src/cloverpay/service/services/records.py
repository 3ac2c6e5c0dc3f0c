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
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from cloverpay.service.db import AuditLog, Merchant, OutboxEvent, SessionFactory, utcnow

__all__ = ["add_audit", "add_outbox", "alert_reconnect_required", "audit_failure"]


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


def alert_reconnect_required(
    session: Session, merchant_id: str, *, attempt_id: str, actor: str, now: datetime
) -> bool:
    """Tell staff that the merchant must connect to Clover again: one
    ``merchant.reconnect_required`` alert (outbox, channel ``alert``) and audit row per
    dead grant (keyed by the refresh token's digest, so a reconnect that fails again
    alerts again), however many attempts fail meanwhile. Concurrent settles do not
    collide: the outbox insert skips a taken key. True when this call raised it."""
    merchant = session.get_one(Merchant, merchant_id)
    grant = (merchant.refresh_token_sha256 or "none")[:16]
    dedupe = f"merchant.reconnect_required:{merchant_id}:{grant}"
    values = {
        "merchant_id": merchant_id,
        "topic": "merchant.reconnect_required",
        "channel": "alert",
        "dedupe_key": dedupe,
        "payload_json": json.dumps(
            {"merchant_id": merchant_id, "attempt_id": attempt_id}, sort_keys=True
        ),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    conn = session.connection()
    make = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = (
        make(OutboxEvent.__table__)  # type: ignore[arg-type]
        .values(values)
        .on_conflict_do_nothing()
        .returning(OutboxEvent.id)
    )
    if conn.execute(stmt).first() is None:
        return False  # raised already for this grant
    add_audit(
        session,
        merchant_id=merchant_id,
        actor=actor,
        action="merchant.reconnect_required",
        entity_type="merchant",
        entity_id=merchant_id,
        reason="Clover refused to renew the merchant's OAuth token; connect it again",
        data={"attempt_id": attempt_id},
        now=now,
    )
    return True
