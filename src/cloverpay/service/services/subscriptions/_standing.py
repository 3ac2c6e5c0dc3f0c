"""Where a billing period stands (step 3 of the billing run, :mod:`._billing`): derived
from the period invoice's charge attempts under the subscription's row lock, and
written with its audit and outbox rows in one transaction: paid -> next period; an
attempt pending or unknown -> wait; new failed attempts -> dunning (``past_due``, one
email and CRM event each, the next try on the schedule), deactivation at the maximum;
a failure because the merchant must reconnect -> not the card's, look again later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloverpay.service.db import Invoice, PaymentAttempt, Plan, Subscription
from cloverpay.service.domain import OPEN_ATTEMPT_STATES, AttemptKind, AttemptState, InvoiceStatus
from cloverpay.service.domain.subscription_states import (
    BILLABLE_SUBSCRIPTION_STATES,
    SubscriptionStatus,
)
from cloverpay.service.services.clover_calls import RECONNECT_REQUIRED
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.records import add_audit, add_outbox
from cloverpay.service.services.subscriptions._manage import (
    load_subscription,
    transition_subscription,
)
from cloverpay.service.services.subscriptions._notify import (
    notify_deactivated,
    notify_payment_failed,
)
from cloverpay.service.services.subscriptions._periods import period_bounds

__all__ = ["BILLING_ACTOR", "BillingReport", "Decision", "apply_outcomes"]

BILLING_ACTOR = "billing"


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


def apply_outcomes(
    ctx: ServiceContext, subscription_id: str, invoice_id: str, now: datetime, report: BillingReport
) -> tuple[Decision, int]:
    """Derive the period's standing from its attempts and write it, in one
    transaction under the subscription's row lock. Returns what to do next and, for
    ``charge``, the dunning step to make."""
    settings = ctx.settings
    max_failures = settings.subscription_max_failures
    with ctx.sessions.begin() as s:
        sub = load_subscription(s, None, subscription_id, lock=True)
        if sub.status not in {st.value for st in BILLABLE_SUBSCRIPTION_STATES}:
            return "stop", 0
        invoice = s.get_one(Invoice, invoice_id)
        if invoice.period_start != sub.current_period_start:
            return "stop", 0  # another run moved the subscription on meanwhile
        if invoice.status in (InvoiceStatus.PAID.value, InvoiceStatus.VOID.value):
            _advance(s, sub, invoice, now)
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
            _apply_failures(ctx, s, sub, failed, now, report)
        if len(failed) >= max_failures:
            _deactivate(s, sub, len(failed), now, report)
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


def _advance(s: Session, sub: Subscription, invoice: Invoice, now: datetime) -> None:
    plan = s.get_one(Plan, sub.plan_id)
    sub.period_index += 1
    start, end = period_bounds(sub.anchor_at, plan.interval, plan.interval_count, sub.period_index)
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
    ctx: ServiceContext,
    s: Session,
    sub: Subscription,
    failed: list[PaymentAttempt],
    now: datetime,
    report: BillingReport,
) -> None:
    settings = ctx.settings
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
    s: Session, sub: Subscription, failures: int, now: datetime, report: BillingReport
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
