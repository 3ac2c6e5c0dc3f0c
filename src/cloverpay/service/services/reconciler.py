"""The reconciler (RELIABILITY.md rule 3): resolves pending and unknown attempts.

Each due attempt is first resent with its own idempotency key (Clover replays the
first result, or performs the call if it never arrived: a crash before send). If
Clover *rejects* the resend, the object is looked up (the charges of the invoice's
Clover order, the refunds of the charge) before anything is believed: only a lookup
proving there is no charge makes an attempt ``failed``.

Schedule: the first look is ``steps[0]`` after the attempt was created; each look that
does not resolve it schedules the next after ``steps[check_step]`` (default 1 min,
5 min, 1 h, then daily). A charge found this way is compared with the attempt (amount,
currency; rule 7): a mismatch leaves the attempt unknown and alerts at once. After
the last step it raises one alert (an audit row and an ``attempt.needs_attention``
outbox event) and keeps looking daily: the attempt stays ``unknown`` for a person.
Time comes from ``ctx.now`` so tests control it.

Terminal sales (``source_kind='terminal'``) are never resent: they are looked up by
``externalPaymentId`` (:func:`~cloverpay.service.services.terminal_sales.check_terminal_attempt`:
on the device through ``terminal_resolver`` when this process owns it, else through the
REST API only), and their refunds and voids on the v3 payment
(:func:`~cloverpay.service.services.terminal_ops.check_terminal_op`), each only once it
is out of the hands of the process that sent it.

Several processes may run it: due rows are claimed with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL (``BEGIN IMMEDIATE`` serializes the claim on SQLite) and leased by moving
``next_check_at`` forward, so a crashed worker's claim expires.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from cloverpay.service.db import Merchant, PaymentAttempt
from cloverpay.service.domain import OPEN_ATTEMPT_STATES, AttemptKind, AttemptState
from cloverpay.service.services.clover_calls import (
    CallOutcome,
    lookup_charge,
    lookup_refund,
    send_charge,
    send_refund,
    verify_charge,
)
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.payments import lock_attempt, settle_charge
from cloverpay.service.services.preauth import reconcile_handler
from cloverpay.service.services.records import add_audit, add_outbox
from cloverpay.service.services.refunds import settle_refund
from cloverpay.service.services.terminal_ops import (
    TerminalOpLookup,
    check_terminal_op,
    rest_op_lookup,
)
from cloverpay.service.services.terminal_sales import (
    TerminalResolver,
    check_terminal_attempt,
    rest_resolver,
)

__all__ = ["ReconcileReport", "Reconciler", "next_check"]

ACTOR = "reconciler"


def next_check(steps: tuple[int, ...], done: int, now: datetime) -> datetime:
    """When to look again after ``done`` looks (the last step repeats)."""
    return now + timedelta(seconds=steps[min(done, len(steps) - 1)])


@dataclass
class ReconcileReport:
    checked: list[str] = field(default_factory=list)
    resolved: dict[str, str] = field(default_factory=dict)
    alerted: list[str] = field(default_factory=list)


class Reconciler:
    def __init__(
        self,
        ctx: ServiceContext,
        *,
        batch: int = 50,
        terminal_resolver: TerminalResolver | None = None,
        terminal_op_lookup: TerminalOpLookup | None = None,
    ) -> None:
        """``terminal_resolver``: how to look a terminal sale up (the process's
        terminal runtime: device, then REST); default REST only. ``terminal_op_lookup``:
        how to look up a terminal refund or void whose answer was lost (REST)."""
        self.ctx = ctx
        self.batch = batch
        self.terminal_resolver = terminal_resolver or rest_resolver(ctx)
        self.terminal_op_lookup = terminal_op_lookup or rest_op_lookup(ctx)

    def claim(self, now: datetime) -> list[str]:
        lease = now + timedelta(seconds=self.ctx.settings.reconciler_lease_s)
        with self.ctx.sessions.begin() as s:
            rows = s.scalars(
                select(PaymentAttempt)
                .where(
                    PaymentAttempt.state.in_([st.value for st in OPEN_ATTEMPT_STATES]),
                    PaymentAttempt.next_check_at <= now,
                )
                .order_by(PaymentAttempt.next_check_at)
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                row.next_check_at = lease
            return [row.id for row in rows]

    def run_once(self) -> ReconcileReport:
        now = self.ctx.now()
        report = ReconcileReport()
        for attempt_id in self.claim(now):
            report.checked.append(attempt_id)
            state = self.check(attempt_id, now, report)
            if state in (AttemptState.SUCCEEDED.value, AttemptState.FAILED.value):
                report.resolved[attempt_id] = state
        return report

    def _ask_clover(self, merchant: Merchant, attempt: PaymentAttempt) -> CallOutcome:
        charge = attempt.kind == AttemptKind.CHARGE.value
        outcome = (send_charge if charge else send_refund)(self.ctx, merchant, attempt)
        if outcome.status == "rejected":
            outcome = (lookup_charge if charge else lookup_refund)(self.ctx, merchant, attempt)
        if charge:
            outcome = verify_charge(self.ctx, merchant, attempt, outcome)
        return outcome

    def check(self, attempt_id: str, now: datetime, report: ReconcileReport) -> str:
        with self.ctx.sessions() as s:
            attempt = s.get_one(PaymentAttempt, attempt_id)
            merchant = s.get_one(Merchant, attempt.merchant_id)
        if attempt.state not in {st.value for st in OPEN_ATTEMPT_STATES}:
            return attempt.state
        if attempt.source_kind == "terminal":
            return self._check_terminal(merchant, attempt, now, report)
        handler = reconcile_handler(attempt)  # pre-authorize, capture, void
        if handler is not None:
            outcome = handler.ask(self.ctx, merchant, attempt)
            settled = handler.settle(self.ctx, attempt_id, outcome, actor=ACTOR)
        elif attempt.kind not in (AttemptKind.CHARGE.value, AttemptKind.REFUND.value):
            return attempt.state
        else:
            outcome = self._ask_clover(merchant, attempt)
            settle = settle_charge if attempt.kind == AttemptKind.CHARGE.value else settle_refund
            settled = settle(self.ctx, attempt_id, outcome, actor=ACTOR)
        if settled.state != AttemptState.UNKNOWN.value:
            return settled.state
        self._reschedule(attempt_id, now, outcome, report)
        return AttemptState.UNKNOWN.value

    def _check_terminal(
        self, merchant: Merchant, attempt: PaymentAttempt, now: datetime, report: ReconcileReport
    ) -> str:
        if attempt.kind in (AttemptKind.REFUND.value, AttemptKind.VOID.value):
            settled_op, looked = check_terminal_op(
                self.ctx, attempt.id, self.terminal_op_lookup, actor=ACTOR
            )
            state = settled_op.state
            if looked is None:
                return state  # still queued or with its owner: not looked at
            outcome = looked
        else:
            settled, found = check_terminal_attempt(
                self.ctx, attempt.id, self.terminal_resolver, actor=ACTOR
            )
            state = settled.state
            if found is None:
                return state  # still queued or running in its owner: not looked at
            outcome = CallOutcome("unknown", code=found.code, message=found.message)
        if state != AttemptState.UNKNOWN.value:
            return state
        self._reschedule(attempt.id, now, outcome, report)
        return state

    def _reschedule(
        self, attempt_id: str, now: datetime, outcome: CallOutcome, report: ReconcileReport
    ) -> None:
        steps = self.ctx.settings.reconciler_steps_s
        with self.ctx.sessions.begin() as s:
            attempt = lock_attempt(s, attempt_id)
            if attempt.state != AttemptState.UNKNOWN.value:
                return
            attempt.check_step += 1
            attempt.next_check_at = next_check(steps, attempt.check_step, now)
            add_audit(
                s,
                merchant_id=attempt.merchant_id,
                actor=ACTOR,
                action="attempt.check_unresolved",
                entity_type="payment_attempt",
                entity_id=attempt.id,
                reason=outcome.code or outcome.status,
                data={"check_step": attempt.check_step, "next_check_at": attempt.next_check_at},
                now=now,
            )
            mismatch = outcome.code == "amount_mismatch"
            if (attempt.check_step >= len(steps) or mismatch) and attempt.alerted_at is None:
                attempt.alerted_at = now
                add_audit(
                    s,
                    merchant_id=attempt.merchant_id,
                    actor=ACTOR,
                    action="attempt.needs_attention",
                    entity_type="payment_attempt",
                    entity_id=attempt.id,
                    reason=outcome.message
                    if mismatch
                    else "still unknown after the last reconciler step",
                    now=now,
                )
                add_outbox(
                    s,
                    merchant_id=attempt.merchant_id,
                    topic="attempt.needs_attention",
                    channel="alert",
                    dedupe_key=f"attempt.needs_attention:{attempt.id}",
                    payload={"attempt_id": attempt.id, "kind": attempt.kind},
                    now=now,
                )
                report.alerted.append(attempt.id)
