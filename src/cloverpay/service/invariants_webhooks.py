"""Invariants of what webhooks record, part of
:func:`cloverpay.service.invariants.check_invariants`:

* no webhook event processed twice: each inbox row has at most one
  ``webhook.processed`` audit row, exactly one when it is ``processed``;
* every succeeded Hosted Checkout charge of one of our checkout sessions is recorded,
  unless an alert names it for a person or a webhook naming it is not processed yet.

:func:`refund_alerted` says whether a refund Clover shows was left to a person.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloverpay.service.db import AuditLog, WebhookInbox

if TYPE_CHECKING:
    from cloverpay.service.invariants import CloverChargeFact

__all__ = ["checkout_charge_problems", "refund_alerted", "webhook_problems"]


def refund_alerted(session: Session, payment_id: str) -> bool:
    """A refund Clover shows on this payment was left to a person (webhooks)."""
    return bool(
        session.scalar(
            select(func.count()).where(
                AuditLog.action == "refund.needs_attention",
                AuditLog.entity_type == "payment",
                AuditLog.entity_id == payment_id,
            )
        )
    )


def webhook_problems(session: Session) -> list[str]:
    problems = []
    marks = dict(
        session.execute(
            select(AuditLog.entity_id, func.count())
            .where(AuditLog.action == "webhook.processed")
            .group_by(AuditLog.entity_id)
        ).all()
    )
    for row_id, status, processed_at in session.execute(
        select(WebhookInbox.id, WebhookInbox.status, WebhookInbox.processed_at)
    ).all():
        n = int(marks.get(str(row_id), 0))
        if n > 1:
            problems.append(f"webhook inbox row {row_id} processed {n} times")
        if (status == "processed") != (n == 1) or (status == "processed") != (
            processed_at is not None
        ):
            problems.append(f"webhook inbox row {row_id} is {status} with {n} processed marks")
    return problems


def checkout_charge_problems(
    session: Session, facts: Iterable[CloverChargeFact], recorded: set[str]
) -> list[str]:
    from cloverpay.service.db.models_web import CheckoutLink

    ours = set(session.scalars(select(CheckoutLink.checkout_session_id)).all())
    unprocessed = session.scalars(
        select(WebhookInbox.body).where(WebhookInbox.status != "processed")
    ).all()
    problems = []
    for fact in facts:
        if fact.status != "succeeded" or fact.checkout_session not in ours:
            continue
        if fact.id in recorded:
            continue
        alerted = session.scalar(
            select(func.count()).where(
                AuditLog.action == "charge.needs_attention",
                AuditLog.data_json.contains(fact.id),
            )
        )
        waiting = any(fact.id.encode() in body for body in unprocessed)
        if not alerted and not waiting:
            problems.append(f"Hosted Checkout charge {fact.id} succeeded but not recorded")
    return problems
