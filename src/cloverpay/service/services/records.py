"""Rows that go with every change: audit and outbox. They write in the caller's
transaction, they never commit.

Both are one Core INSERT on the session's connection, sent at once (a prebuilt
statement: no ORM unit of work, no statement built per call); neither table has a
foreign key to the rows they describe, so the order against the ORM's flush does not
matter, and a later SELECT in the transaction sees them as before.

Inside :func:`written_together` (a transaction that writes several of them and reads
none back, like a payment's settle) they are collected instead and written at the end
of the block, each table's rows in one execution of its prebuilt INSERT (an executemany:
one round trip, psycopg sends the rows in one pipeline), in the order they were added
(a taken outbox ``dedupe_key`` fails it, and so the transaction, as before). Not a
multi-row ``VALUES``: SQLAlchemy compiles such a statement again at every execution,
which costs more than the round trip it saves.

:func:`audit_failure` is the exception: it writes a failure's audit row in its own
transaction, so the trace survives the rollback of the work that failed (rule 5).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from cloverpay.service.db import AuditLog, Merchant, OutboxEvent, SessionFactory, utcnow

__all__ = [
    "add_audit",
    "add_outbox",
    "alert_reconnect_required",
    "audit_failure",
    "written_together",
]


def _json(data: dict[str, Any] | None) -> str | None:
    return json.dumps(data, sort_keys=True, default=str) if data else None


_AUDIT = insert(AuditLog.__table__)  # type: ignore[arg-type]
_OUTBOX = insert(OutboxEvent.__table__)  # type: ignore[arg-type]
#: ``Session.info`` key: the rows collected by :func:`written_together`.
_COLLECTED = "cloverpay_records_collected"


@dataclass(slots=True)
class _Collected:
    audit: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)


def _write_rows(session: Session, statement: Insert, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.connection().execute(statement, rows if len(rows) > 1 else rows[0])


@contextmanager
def written_together(session: Session) -> Iterator[None]:
    """Collect the audit and outbox rows added in the block; write them at its end, when
    it ends without an exception (each table's in one execution). For a block that
    reads none of them back and needs no outbox row's id (:func:`add_outbox` returns 0
    for a row collected). Inside another such block, rows go to the outer one."""
    if _collected(session) is not None:
        yield
        return
    collected = _Collected()
    session.info[_COLLECTED] = collected
    try:
        yield
    finally:
        session.info.pop(_COLLECTED, None)
    _write_rows(session, _AUDIT, collected.audit)
    _write_rows(session, _OUTBOX, collected.outbox)


def _collected(session: Session) -> _Collected | None:
    found = session.info.get(_COLLECTED)
    return found if isinstance(found, _Collected) else None


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
    row = {
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
    }
    collected = _collected(session)
    if collected is not None:
        collected.audit.append(row)
        return
    session.connection().execute(_AUDIT, row)


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
    """The new row's id (0 inside :func:`written_together`: not written yet)."""
    at = now or utcnow()
    row = {
        "merchant_id": merchant_id,
        "topic": topic,
        "channel": channel,
        "dedupe_key": dedupe_key,
        "payload_json": json.dumps(payload, sort_keys=True, default=str),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": at,
        "created_at": at,
    }
    collected = _collected(session)
    if collected is not None:
        collected.outbox.append(row)
        return 0
    result = session.connection().execute(_OUTBOX, row)
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
