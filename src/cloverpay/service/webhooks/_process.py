"""The inbox worker: claim, fetch, apply + mark processed in one transaction; and the
sweeper that re-queues rows whose lease passed (RELIABILITY rule 6).

Row states: ``received`` (waiting; ``claimed_until`` doubles as "not before" after a
failed try) → ``processing`` (claimed; ``claimed_until`` is the lease, ``attempts`` the
fencing token) → ``processed`` (effect committed with it) or, after
:data:`MAX_ATTEMPTS`, ``failed`` with an alert for a person. A worker that lost its lease
(the sweeper re-queued the row and another worker claimed it) finds ``attempts``
changed when it comes to commit, and commits nothing.

Claims use ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (several processes); on SQLite every
transaction is ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import or_, select, update

from cloverpay.api import CloverError
from cloverpay.service.core.crash import crash_point
from cloverpay.service.db import WebhookInbox
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.records import add_audit, add_outbox
from cloverpay.service.webhooks._config import SOURCE_APP, SOURCE_APP_VERIFICATION
from cloverpay.service.webhooks._effects import (
    Effect,
    InboxItem,
    RetryLater,
    apply_effect,
    plan_app,
    plan_checkout,
)

__all__ = [
    "LEASE_S",
    "MAX_ATTEMPTS",
    "InboxReport",
    "claim_inbox",
    "process_inbox_once",
    "run_inbox_worker",
    "sweep_inbox",
]

log = logging.getLogger("cloverpay.service.webhooks")

LEASE_S = 120
MAX_ATTEMPTS = 8
#: Seconds before the n-th retry (then the last value).
BACKOFF_S = (5, 30, 120, 600, 1800, 3600)


@dataclass
class InboxReport:
    requeued: int = 0
    processed: int = 0
    retried: int = 0
    failed: int = 0
    lost_lease: int = 0
    outcomes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Claim:
    id: int
    attempts: int


def sweep_inbox(ctx: ServiceContext) -> int:
    """Re-queue rows stuck in ``processing`` past their lease (a worker died)."""
    now = ctx.now()
    with ctx.sessions.begin() as s:
        result = s.execute(
            update(WebhookInbox)
            .where(WebhookInbox.status == "processing", WebhookInbox.claimed_until < now)
            .values(status="received", claimed_until=None)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)


def claim_inbox(ctx: ServiceContext, limit: int = 50) -> list[Claim]:
    now = ctx.now()
    with ctx.sessions.begin() as s:
        rows = s.scalars(
            select(WebhookInbox)
            .where(
                WebhookInbox.status == "received",
                or_(WebhookInbox.claimed_until.is_(None), WebhookInbox.claimed_until <= now),
            )
            .order_by(WebhookInbox.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        claims = []
        for row in rows:
            row.status = "processing"
            row.attempts += 1
            row.claimed_until = now + timedelta(seconds=LEASE_S)
            claims.append(Claim(row.id, row.attempts))
    return claims


def _plan(ctx: ServiceContext, item: InboxItem) -> list[Effect]:
    if item.source in (SOURCE_APP, SOURCE_APP_VERIFICATION):
        return plan_app(ctx, item)
    return [plan_checkout(ctx, item)]


def _item(ctx: ServiceContext, claim: Claim) -> InboxItem | None:
    with ctx.sessions() as s:
        row = s.get(WebhookInbox, claim.id)
        if row is None:
            return None
        return InboxItem(row.id, row.source, row.merchant_id, row.body, row.verified)


def process_claim(ctx: ServiceContext, claim: Claim) -> str:
    """Plan (fetching from Clover), then apply and mark processed in one transaction.
    Returns ``processed:<what>`` or ``lost_lease``; raises when it should be retried."""
    item = _item(ctx, claim)
    if item is None:
        return "lost_lease"
    effects = _plan(ctx, item)
    actor = f"webhook:{item.source}"
    with ctx.sessions.begin() as s:
        row = s.scalar(select(WebhookInbox).where(WebhookInbox.id == claim.id).with_for_update())
        if row is None or row.status != "processing" or row.attempts != claim.attempts:
            return "lost_lease"
        now = ctx.now()
        outcomes = [apply_effect(s, e, actor=actor, now=now) for e in effects]
        crash_point("webhook_before_processed_commit")
        row.status = "processed"
        row.processed_at = now
        row.claimed_until = None
        row.last_error = None
        what = "; ".join(outcomes)[:1000]
        add_audit(
            s,
            merchant_id=row.merchant_id,
            actor=actor,
            action="webhook.processed",
            entity_type="webhook_inbox",
            entity_id=str(row.id),
            reason=what,
            data={"verified": row.verified, "event_key": row.event_key},
            now=now,
        )
    return f"processed:{what}"


def _give_back(ctx: ServiceContext, claim: Claim, error: str, report: InboxReport) -> None:
    now = ctx.now()
    with ctx.sessions.begin() as s:
        row = s.scalar(select(WebhookInbox).where(WebhookInbox.id == claim.id).with_for_update())
        if row is None or row.status != "processing" or row.attempts != claim.attempts:
            report.lost_lease += 1
            return
        row.last_error = error[:1000]
        if row.attempts >= MAX_ATTEMPTS:
            row.status = "failed"
            row.claimed_until = None
            report.failed += 1
            add_audit(
                s,
                merchant_id=row.merchant_id,
                actor="webhook_worker",
                action="webhook.needs_attention",
                entity_type="webhook_inbox",
                entity_id=str(row.id),
                reason=f"gave up after {row.attempts} tries: {error}"[:1000],
            )
            add_outbox(
                s,
                merchant_id=row.merchant_id,
                topic="webhook.needs_attention",
                channel="alert",
                dedupe_key=f"webhook.needs_attention:{row.id}",
                payload={"inbox_id": row.id, "error": error[:500]},
            )
            return
        row.status = "received"
        step = BACKOFF_S[min(row.attempts - 1, len(BACKOFF_S) - 1)]
        row.claimed_until = now + timedelta(seconds=step)
        report.retried += 1


def process_inbox_once(ctx: ServiceContext, *, limit: int = 50) -> InboxReport:
    """One pass: sweep expired leases, claim due rows, process each."""
    report = InboxReport(requeued=sweep_inbox(ctx))
    for claim in claim_inbox(ctx, limit):
        try:
            result = process_claim(ctx, claim)
        except (CloverError, RetryLater) as exc:
            _give_back(ctx, claim, f"{type(exc).__name__}: {exc}", report)
            continue
        except Exception as exc:  # a bug or the database: retried, then a person
            log.exception("webhook inbox row %s failed", claim.id)
            _give_back(ctx, claim, f"{type(exc).__name__}: {exc}", report)
            continue
        if result == "lost_lease":
            report.lost_lease += 1
        else:
            report.processed += 1
            report.outcomes.append(result.removeprefix("processed:"))
    return report


def run_inbox_worker(
    ctx: ServiceContext, stop: threading.Event, *, interval_s: float = 1.0
) -> None:
    """Process the inbox until ``stop`` is set (a full batch goes again at once)."""
    while not stop.is_set():
        try:
            report = process_inbox_once(ctx)
        except Exception:  # logged; the next pass retries
            log.exception("webhook inbox pass failed")
            report = InboxReport()
        busy = report.processed + report.retried + report.lost_lease >= 50
        if not busy and stop.wait(interval_s):
            return
