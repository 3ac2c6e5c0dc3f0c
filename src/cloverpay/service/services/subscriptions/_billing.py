"""The billing run of our own scheduler (RELIABILITY.md scenario 10).

For each subscription that is due (``next_billing_at <= now``, status active or
past_due) the run:

1. **claims** it (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN IMMEDIATE`` on
   SQLite; leased through ``claimed_until``, so a crashed run's claim expires);
2. makes the current period's **invoice**: the insert is the arbiter. ``invoices``
   has unique (``subscription_id``, ``period_start``), so a concurrent or repeated run
   loses at the constraint and uses the winner's invoice; the invoice is then opened
   (the Clover order; opening twice is a no-op);
3. **derives** where the period stands from its charge attempts, under the
   subscription's row lock (:func:`_apply_outcomes`): paid → next period, status
   active; a charge attempt pending or unknown → look again later, never charge (the
   reconciler resolves it); new failed attempts → ``consecutive_failures``, one email
   and one CRM event per failure (dedupe keys), the next retry on the dunning schedule,
   deactivation (with its email) at the maximum; an attempt never sent because the
   merchant must reconnect to Clover (``merchant_reconnect_required``) is not the card's
   failure: no dunning, no email, the subscription is looked at again later;
4. **charges** the card on file through the money path (``pay_invoice``,
   ``initiator=MERCHANT``, ``is_scheduled``) with an attempt id derived from
   (invoice, step): a second run making the same dunning step loses at the attempt's
   primary key, and its idempotency key (derived from that id) is the same anyway.

Then it goes back to 3 with the charge's outcome. Nothing is kept in memory between
steps: a crash anywhere is finished by the next run (and the reconciler). Time comes
from ``ctx.now``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloverpay.service.core.crash import crash_point
from cloverpay.service.db import Invoice, PaymentAttempt, Plan, Subscription
from cloverpay.service.domain import OPEN_ATTEMPT_STATES, AttemptKind, AttemptState, InvoiceStatus
from cloverpay.service.domain.states import InvalidTransition
from cloverpay.service.domain.subscription_states import (
    BILLABLE_SUBSCRIPTION_STATES,
    SubscriptionStatus,
)
from cloverpay.service.errors import AttemptUnresolvedError, ServiceError
from cloverpay.service.services.clover_calls import RECONNECT_REQUIRED
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.invoices import LineItemInput, create_invoice, open_invoice
from cloverpay.service.services.payments import pay_invoice
from cloverpay.service.services.records import add_audit, add_outbox, audit_failure
from cloverpay.service.services.subscriptions._manage import (
    load_subscription,
    transition_subscription,
)
from cloverpay.service.services.subscriptions._notify import (
    notify_deactivated,
    notify_payment_failed,
)
from cloverpay.service.services.subscriptions._periods import period_bounds

__all__ = ["BILLING_ACTOR", "BillingReport", "BillingRun", "billing_attempt_id"]

log = logging.getLogger("cloverpay.billing")

BILLING_ACTOR = "billing"
_ATTEMPT_NS = uuid.UUID("6f0c1f8e-4d7a-5b1e-9a57-2c1f0b6f5a10")
#: At most this many steps (period advances, charges) per subscription per run.
MAX_STEPS = 50

Progress = Callable[[int, int, str], None]


def billing_attempt_id(invoice_id: str, step: int) -> str:
    """The payment attempt id of dunning step ``step`` (0 = first try) of an invoice."""
    return uuid.uuid5(_ATTEMPT_NS, f"{invoice_id}:{step}").hex


@dataclass
class BillingReport:
    claimed: list[str] = field(default_factory=list)
    invoices_created: list[str] = field(default_factory=list)
    charged: list[str] = field(default_factory=list)
    paid_periods: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    lost_races: list[str] = field(default_factory=list)
    recorded: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"{len(self.claimed)} due, {len(self.invoices_created)} invoices, "
            f"{len(self.charged)} charges ({len(self.paid_periods)} periods paid, "
            f"{len(self.failures)} failed), {len(self.deactivated)} deactivated, "
            f"{len(self.waiting)} waiting on an unresolved charge, "
            f"{len(self.recorded)} recorded from Clover, {len(self.errors)} errors"
        )


Decision = Literal["advanced", "wait", "stop", "charge"]


class BillingRun:
    """One pass: ``BillingRun(ctx).run_once()``. Several may run at once, in threads or
    processes, against one database."""

    def __init__(self, ctx: ServiceContext, *, batch: int = 100) -> None:
        self.ctx = ctx
        self.batch = batch

    def claim(self, now: datetime) -> list[tuple[str, datetime]]:
        lease = now + timedelta(seconds=self.ctx.settings.subscription_lease_s)
        with self.ctx.sessions.begin() as s:
            rows = s.scalars(
                select(Subscription)
                .where(
                    Subscription.status.in_([st.value for st in BILLABLE_SUBSCRIPTION_STATES]),
                    Subscription.next_billing_at <= now,
                    or_(Subscription.claimed_until.is_(None), Subscription.claimed_until <= now),
                )
                .order_by(Subscription.next_billing_at)
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                row.claimed_until = lease
            return [(row.id, lease) for row in rows]

    def release(self, subscription_id: str, lease: datetime) -> None:
        with self.ctx.sessions.begin() as s:
            s.execute(
                update(Subscription)
                .where(Subscription.id == subscription_id, Subscription.claimed_until == lease)
                .values(claimed_until=None)
            )

    def run_once(self, *, progress: Progress | None = None) -> BillingReport:
        now = self.ctx.now()
        report = BillingReport()
        claimed = self.claim(now)
        for done, (sub_id, lease) in enumerate(claimed, start=1):
            report.claimed.append(sub_id)
            try:
                self.bill(sub_id, now, report)
            except Exception as exc:  # one subscription's trouble never stops the run
                log.exception("billing subscription %s failed", sub_id)
                report.errors[sub_id] = f"{type(exc).__name__}: {exc}"[:500]
                audit_failure(
                    self.ctx.sessions,
                    merchant_id=None,
                    actor=BILLING_ACTOR,
                    action="subscription.billing_failed",
                    entity_type="subscription",
                    entity_id=sub_id,
                    reason=report.errors[sub_id],
                )
            finally:
                self.release(sub_id, lease)
            if progress is not None:
                progress(done, len(claimed), sub_id)
        return report

    # -- one subscription ------------------------------------------------------------

    def bill(self, subscription_id: str, now: datetime, report: BillingReport) -> None:
        """Bring one subscription up to date at ``now`` (safe to call concurrently)."""
        with self.ctx.sessions() as s:
            mode = load_subscription(s, None, subscription_id).billing_mode
        if mode == "clover_recurring":
            from cloverpay.service.services.subscriptions._clover import sync_from_clover

            sync_from_clover(self.ctx, subscription_id, now, report)
            return
        for _ in range(MAX_STEPS):
            with self.ctx.sessions() as s:
                sub = load_subscription(s, None, subscription_id)
                plan = s.get_one(Plan, sub.plan_id)
            if sub.status not in {st.value for st in BILLABLE_SUBSCRIPTION_STATES}:
                return
            if sub.next_billing_at is None or sub.next_billing_at > now:
                return
            try:
                invoice_id = self._period_invoice(sub, plan, report)
                crash_point("billing_after_invoice_created")
                self._open(sub, invoice_id)
            except ServiceError as exc:
                self._postpone(subscription_id, now, f"invoice: {exc.message}")
                report.errors[subscription_id] = exc.message
                return
            if not self._settle_period(sub, invoice_id, now, report):
                return
        log.warning("subscription %s: stopped after %d billing steps", subscription_id, MAX_STEPS)

    def _settle_period(
        self, sub: Subscription, invoice_id: str, now: datetime, report: BillingReport
    ) -> bool:
        """Apply the period invoice's outcomes and charge while a dunning step is due.
        After a charge its outcome is applied here, on the same invoice, whatever the
        schedule says by then (a concurrent run may have postponed the subscription
        while the charge ran). True when the period was closed and billing goes on."""
        for _ in range(MAX_STEPS):
            decision, step = self._apply_outcomes(sub.id, invoice_id, now, report)
            if decision == "advanced":
                report.paid_periods.append(invoice_id)
                return True
            if decision != "charge" or not self._charge(sub, invoice_id, step, now, report):
                return False
            crash_point("billing_after_charge_settled")
        return False

    def _period_invoice(self, sub: Subscription, plan: Plan, report: BillingReport) -> str:
        """The invoice of the current period; created here unless it exists. The unique
        (subscription_id, period_start) decides between concurrent runs."""
        existing = self._find_invoice(sub)
        if existing is not None:
            return existing
        start, end = sub.current_period_start, sub.current_period_end
        try:
            invoice = create_invoice(
                self.ctx,
                sub.merchant_id,
                line_items=[
                    LineItemInput(
                        f"{plan.name} ({start:%Y-%m-%d} to {end:%Y-%m-%d})", 1, plan.amount
                    )
                ],
                currency=plan.currency,
                customer_id=sub.customer_id,
                memo=f"Subscription {sub.id}, period {sub.period_index + 1}",
                subscription_id=sub.id,
                period_start=start,
                due_at=start,
                actor=BILLING_ACTOR,
            )
        except IntegrityError:
            found = self._find_invoice(sub)
            if found is None:
                raise
            report.lost_races.append(f"invoice:{sub.id}:{start.isoformat()}")
            return found
        report.invoices_created.append(invoice.id)
        return invoice.id

    def _find_invoice(self, sub: Subscription) -> str | None:
        with self.ctx.sessions() as s:
            return s.scalar(
                select(Invoice.id).where(
                    Invoice.subscription_id == sub.id,
                    Invoice.period_start == sub.current_period_start,
                )
            )

    def _open(self, sub: Subscription, invoice_id: str) -> None:
        with self.ctx.sessions() as s:
            status = s.get_one(Invoice, invoice_id).status
        if status == InvoiceStatus.DRAFT.value:
            try:
                open_invoice(self.ctx, sub.merchant_id, invoice_id, actor=BILLING_ACTOR)
            except InvalidTransition:
                # A concurrent run opened it (and maybe paid it) since we looked.
                with self.ctx.sessions() as s:
                    if s.get_one(Invoice, invoice_id).status == InvoiceStatus.DRAFT.value:
                        raise

    def _postpone(self, subscription_id: str, now: datetime, why: str) -> None:
        with self.ctx.sessions.begin() as s:
            sub = load_subscription(s, None, subscription_id, lock=True)
            sub.last_error = why[:500]
            sub.next_billing_at = now + timedelta(seconds=self.ctx.settings.subscription_recheck_s)
            sub.updated_at = now

    def _charge(
        self, sub: Subscription, invoice_id: str, step: int, now: datetime, report: BillingReport
    ) -> bool:
        """Make dunning step ``step``; False when this run should stop here."""
        attempt_id = billing_attempt_id(invoice_id, step)
        try:
            pay_invoice(
                self.ctx,
                sub.merchant_id,
                invoice_id,
                card_on_file_id=sub.card_on_file_id,
                initiator="MERCHANT",
                is_scheduled=True,
                attempt_id=attempt_id,
                actor=BILLING_ACTOR,
            )
        except AttemptUnresolvedError:
            # Another run made this step (the attempt's primary key) or is making one.
            report.lost_races.append(f"attempt:{attempt_id}")
            return False
        except ServiceError as exc:  # card deleted, invoice not payable: nothing was sent
            self._postpone(sub.id, now, f"charge: {exc.message}")
            report.errors[sub.id] = exc.message
            return False
        report.charged.append(attempt_id)
        return True

    def _apply_outcomes(
        self, subscription_id: str, invoice_id: str, now: datetime, report: BillingReport
    ) -> tuple[Decision, int]:
        """Derive the period's standing from its attempts and write it, in one
        transaction under the subscription's row lock. Returns what to do next and, for
        ``charge``, the dunning step to make."""
        settings = self.ctx.settings
        max_failures = settings.subscription_max_failures
        with self.ctx.sessions.begin() as s:
            sub = load_subscription(s, None, subscription_id, lock=True)
            if sub.status not in {st.value for st in BILLABLE_SUBSCRIPTION_STATES}:
                return "stop", 0
            invoice = s.get_one(Invoice, invoice_id)
            if invoice.period_start != sub.current_period_start:
                return "stop", 0  # another run moved the subscription on meanwhile
            if invoice.status in (InvoiceStatus.PAID.value, InvoiceStatus.VOID.value):
                self._advance(s, sub, invoice, now)
                return "advanced", 0
            attempts = s.scalars(
                select(PaymentAttempt)
                .where(
                    PaymentAttempt.invoice_id == invoice_id,
                    PaymentAttempt.kind == AttemptKind.CHARGE.value,
                )
                .order_by(PaymentAttempt.created_at, PaymentAttempt.id)
            ).all()
            if any(a.state in {st.value for st in OPEN_ATTEMPT_STATES} for a in attempts):
                sub.next_billing_at = now + timedelta(seconds=settings.subscription_recheck_s)
                sub.updated_at = now
                report.waiting.append(subscription_id)
                return "wait", 0
            made = [
                a
                for a in attempts
                if a.state == AttemptState.FAILED.value and a.created_by == BILLING_ACTOR
            ]
            # Never sent because the merchant must reconnect: not the card's failure (no
            # dunning, no email); the subscription looks again later.
            failed = [a for a in made if a.failure_code != RECONNECT_REQUIRED]
            if len(failed) > sub.consecutive_failures:
                self._apply_failures(s, sub, failed, now, report)
            if len(failed) >= max_failures:
                self._deactivate(s, sub, len(failed), now, report)
                return "stop", 0
            if made and made[-1].failure_code == RECONNECT_REQUIRED:
                last = made[-1]
                if sub.next_billing_at is None or sub.next_billing_at <= (last.resolved_at or now):
                    sub.last_error = f"{last.failure_code}: {last.failure_message}"[:500]
                    sub.next_billing_at = now + timedelta(seconds=settings.subscription_recheck_s)
                    sub.updated_at = now
                    report.errors[subscription_id] = last.failure_message or RECONNECT_REQUIRED
            if sub.next_billing_at is None or sub.next_billing_at > now:
                return "wait", 0
            return "charge", len(made)

    def _advance(self, s: Session, sub: Subscription, invoice: Invoice, now: datetime) -> None:
        plan = s.get_one(Plan, sub.plan_id)
        sub.period_index += 1
        start, end = period_bounds(
            sub.anchor_at, plan.interval, plan.interval_count, sub.period_index
        )
        sub.current_period_start, sub.current_period_end = start, end
        sub.consecutive_failures = 0
        sub.next_billing_at = start
        sub.last_error = None
        sub.updated_at = now
        transition_subscription(
            s,
            sub,
            SubscriptionStatus.ACTIVE,
            actor=BILLING_ACTOR,
            reason=f"invoice {invoice.number} {invoice.status}",
            now=now,
        )
        add_audit(
            s,
            merchant_id=sub.merchant_id,
            actor=BILLING_ACTOR,
            action="subscription.period_advanced",
            entity_type="subscription",
            entity_id=sub.id,
            reason=f"invoice {invoice.number} {invoice.status}",
            data={"period_index": sub.period_index, "period_start": start},
            now=now,
        )
        add_outbox(
            s,
            merchant_id=sub.merchant_id,
            topic="subscription.period_closed",
            dedupe_key=f"subscription.period_closed:{invoice.id}",
            payload={"subscription_id": sub.id, "invoice_id": invoice.id, "status": invoice.status},
            now=now,
        )

    def _apply_failures(
        self,
        s: Session,
        sub: Subscription,
        failed: list[PaymentAttempt],
        now: datetime,
        report: BillingReport,
    ) -> None:
        settings = self.ctx.settings
        steps = settings.subscription_dunning_s
        n = len(failed)
        last = failed[-1]
        base = last.resolved_at or now
        retry_at = base + timedelta(seconds=steps[min(n - 1, len(steps) - 1)])
        max_failures = settings.subscription_max_failures
        for k, attempt in enumerate(
            failed[sub.consecutive_failures :], start=sub.consecutive_failures + 1
        ):
            report.failures.append(attempt.id)
            notify_payment_failed(
                s,
                sub,
                fact_id=attempt.id,
                failures=k,
                max_failures=max_failures,
                next_attempt_at=retry_at if k == n and n < max_failures else None,
                reason=attempt.failure_message or attempt.failure_code,
                now=now,
            )
        sub.consecutive_failures = n
        sub.last_error = f"{last.failure_code}: {last.failure_message}"[:500]
        sub.updated_at = now
        add_audit(
            s,
            merchant_id=sub.merchant_id,
            actor=BILLING_ACTOR,
            action="subscription.payment_failed",
            entity_type="subscription",
            entity_id=sub.id,
            reason=last.failure_code,
            data={"consecutive_failures": n, "attempt_id": last.id, "retry_at": retry_at},
            now=now,
        )
        if n < max_failures:
            sub.next_billing_at = retry_at
            transition_subscription(
                s,
                sub,
                SubscriptionStatus.PAST_DUE,
                actor=BILLING_ACTOR,
                reason=last.failure_code,
                now=now,
            )

    def _deactivate(
        self, s: Session, sub: Subscription, failures: int, now: datetime, report: BillingReport
    ) -> None:
        reason = f"{failures} consecutive failed payments"
        if transition_subscription(
            s, sub, SubscriptionStatus.DEACTIVATED, actor=BILLING_ACTOR, reason=reason, now=now
        ):
            sub.deactivated_at = now
            sub.next_billing_at = None
            sub.updated_at = now
            report.deactivated.append(sub.id)
            notify_deactivated(s, sub, reason=reason, now=now)
