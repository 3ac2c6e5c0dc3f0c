"""Attempt rows, added in the caller's transaction with their audit row (rule 5).

:func:`add_pending_attempt` adds the intent of a money call (RELIABILITY.md rule 1): a
``pending`` :class:`PaymentAttempt` whose idempotency key is derived from its id,
flushed (so a second open attempt loses at a partial unique index here, inside the
caller's ``try``), with its ``*_attempt.created`` audit row. :func:`add_recorded_attempt`
adds an attempt created ``succeeded`` for money Clover moved without a call of ours.
Neither commits.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloverpay.api import idempotency_key_for
from cloverpay.service.db import PaymentAttempt, new_id
from cloverpay.service.db.rows import insert_detached
from cloverpay.service.domain import AttemptKind, AttemptState
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.records import add_audit

__all__ = [
    "KEY_NAMESPACE",
    "add_pending_attempt",
    "add_recorded_attempt",
    "attempt_key",
    "first_check_at",
    "refunds_and_voids_held",
]

#: The namespace of the idempotency keys derived from our attempts' ids.
KEY_NAMESPACE = "cloverpay-attempt"

#: the states in which a refund or void of a payment holds (part of) its amount
_HOLDING = (AttemptState.PENDING.value, AttemptState.UNKNOWN.value, AttemptState.SUCCEEDED.value)


def attempt_key(attempt_id: str) -> str:
    """The idempotency key of the attempt ``attempt_id`` (a retry reuses it: rule 1)."""
    return idempotency_key_for(KEY_NAMESPACE, attempt_id)


def first_check_at(ctx: ServiceContext, now: datetime) -> datetime:
    """When the reconciler first looks at an attempt committed at ``now``."""
    return now + timedelta(seconds=ctx.settings.reconciler_steps_s[0])


def _add_attempt(
    s: Session,
    *,
    attempt_id: str,
    idempotency_key: str,
    merchant_id: str,
    kind: AttemptKind,
    state: AttemptState,
    amount: int,
    currency: str,
    source_kind: str,
    request: dict[str, Any],
    actor: str,
    now: datetime,
    action: str,
    audit: dict[str, Any],
    reason: str | None = None,
    detached: bool = False,
    **fields: Any,
) -> PaymentAttempt:
    attempt = PaymentAttempt(
        id=attempt_id,
        merchant_id=merchant_id,
        kind=kind.value,
        state=state.value,
        amount=amount,
        currency=currency,
        idempotency_key=idempotency_key,
        source_kind=source_kind,
        request_json=json.dumps(request, sort_keys=True),
        created_by=actor,
        created_at=now,
        updated_at=now,
        **fields,
    )
    if detached:  # a second open attempt or a reused id loses at the constraint here
        insert_detached(s, attempt)
    else:
        s.add(attempt)
        s.flush()
    add_audit(
        s,
        merchant_id=merchant_id,
        actor=actor,
        action=action,
        entity_type="payment_attempt",
        entity_id=attempt.id,
        to_state=state.value,
        reason=reason,
        data=audit,
        now=now,
    )
    return attempt


def add_pending_attempt(
    s: Session,
    *,
    merchant_id: str,
    kind: AttemptKind,
    amount: int,
    currency: str,
    source_kind: str,
    request: dict[str, Any],
    next_check_at: datetime,
    actor: str,
    now: datetime,
    audit: dict[str, Any],
    action: str | None = None,
    attempt_id: str | None = None,
    detached: bool = False,
    **fields: Any,
) -> PaymentAttempt:
    """Add and flush a ``pending`` attempt and its audit row (``{action}_attempt.created``,
    ``action`` defaulting to the kind, ``audit`` as its data). ``attempt_id``: an id
    chosen by the caller (when another column derives from it); ``fields``: the other
    columns (``invoice_id``, ``payment_id``, ``tip_amount``, ...). ``detached``: one
    Core INSERT instead of the unit of work (:func:`~cloverpay.service.db.rows.insert_detached`),
    for a caller that changes the row no further in its transaction."""
    attempt_id = attempt_id or new_id()
    return _add_attempt(
        s,
        attempt_id=attempt_id,
        idempotency_key=attempt_key(attempt_id),
        merchant_id=merchant_id,
        kind=kind,
        state=AttemptState.PENDING,
        amount=amount,
        currency=currency,
        source_kind=source_kind,
        request=request,
        actor=actor,
        now=now,
        action=f"{action or kind.value}_attempt.created",
        audit=audit,
        next_check_at=next_check_at,
        detached=detached,
        **fields,
    )


def add_recorded_attempt(
    s: Session,
    *,
    key_namespace: str,
    merchant_id: str,
    kind: AttemptKind,
    amount: int,
    currency: str,
    source_kind: str,
    request: dict[str, Any],
    actor: str,
    now: datetime,
    reason: str,
    audit: dict[str, Any],
    **fields: Any,
) -> PaymentAttempt:
    """Add and flush an attempt created ``succeeded`` (money Clover moved already, found
    in a webhook or on the return page: nothing is sent), with its audit row
    (``{kind}_attempt.recorded``). Its idempotency key is derived in ``key_namespace``."""
    attempt_id = new_id()
    return _add_attempt(
        s,
        attempt_id=attempt_id,
        idempotency_key=idempotency_key_for(key_namespace, attempt_id),
        merchant_id=merchant_id,
        kind=kind,
        state=AttemptState.SUCCEEDED,
        amount=amount,
        currency=currency,
        source_kind=source_kind,
        request=request,
        actor=actor,
        now=now,
        action=f"{kind.value}_attempt.recorded",
        audit=audit,
        reason=reason,
        resolved_at=now,
        **fields,
    )


def refunds_and_voids_held(s: Session, payment_id: str) -> list[tuple[str, str]]:
    """(kind, state) of the payment's refund and void attempts that are pending, unknown
    or succeeded: what a new void of the payment must reckon with."""
    rows = s.execute(
        select(PaymentAttempt.kind, PaymentAttempt.state).where(
            PaymentAttempt.payment_id == payment_id,
            PaymentAttempt.kind.in_((AttemptKind.REFUND.value, AttemptKind.VOID.value)),
            PaymentAttempt.state.in_(_HOLDING),
        )
    ).all()
    return [(kind, state) for kind, state in rows]
