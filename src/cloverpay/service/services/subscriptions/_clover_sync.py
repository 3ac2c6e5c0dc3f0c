"""Recording what Clover's Recurring API charged (the poll of
:mod:`._clover`, whose module docstring describes the mode; re-exported there).

**Poll** (the billing run, every ``subscription_poll_s``): list the customer's charges
since the anchor. A charge that is on no order of ours, for the plan's amount, is
Clover's recurring charge [G: Clover does not document how its recurring charges are
marked]. A succeeded one is recorded in one transaction as the invoice of the period
that contains it (unique (subscription, period) and unique Clover charge id: a second
poll or a second process records nothing twice), with a succeeded attempt and a
payment. Failed ones since the last success are the consecutive failures: one email
per failed charge (dedupe key on the charge id). Clover's ``active: false`` makes the
subscription ``deactivated`` (Clover deactivates after 5 failures).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from cloverpay.api import Charge, CloverError
from cloverpay.service.db import (
    CardOnFile,
    Invoice,
    InvoiceLineItem,
    Merchant,
    OutboxEvent,
    PaymentAttempt,
    Plan,
    Subscription,
    new_id,
)
from cloverpay.service.domain import AttemptKind, AttemptState, InvoiceStatus
from cloverpay.service.domain.subscription_states import (
    BILLABLE_SUBSCRIPTION_STATES,
    SubscriptionStatus,
)
from cloverpay.service.services.clover_calls import CallOutcome
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.intents import attempt_key
from cloverpay.service.services.invoices import set_invoice_status
from cloverpay.service.services.payments import _record_payment, transition_attempt
from cloverpay.service.services.records import add_audit, add_outbox
from cloverpay.service.services.subscriptions._manage import (
    load_subscription,
    transition_subscription,
)
from cloverpay.service.services.subscriptions._notify import (
    notify_deactivated,
    notify_payment_failed,
)
from cloverpay.service.services.subscriptions._periods import period_bounds, period_index_at

if TYPE_CHECKING:
    from cloverpay.service.services.subscriptions._billing import BillingReport

__all__ = ["ACTOR", "sync_from_clover"]

ACTOR = "clover_recurring"


def _ms(value: datetime) -> int:
    return int(value.replace(tzinfo=UTC).timestamp() * 1000)


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


def _set_error(ctx: ServiceContext, sub_id: str, message: str) -> None:
    with ctx.sessions.begin() as s:
        sub = load_subscription(s, None, sub_id, lock=True)
        sub.last_error = message[:500]


def _recurring_charges(
    ctx: ServiceContext, merchant: Merchant, sub: Subscription, plan: Plan, customer: str
) -> tuple[list[Charge], bool]:
    """Clover's charges for this subscription, oldest first, and Clover's ``active``."""
    since = _ms(sub.anchor_at - timedelta(minutes=5))
    with ctx.gateway.client(merchant) as clover:
        remote = clover.recurring.subscriptions.retrieve(sub.clover_subscription_id or "")
        charges = list(clover.charges.list(customer=customer, created_gte=since, limit=100))
    with ctx.sessions() as s:
        orders = [c.order for c in charges if c.order]
        ours = set(
            s.scalars(
                select(Invoice.clover_order_id).where(
                    Invoice.clover_order_id.in_(orders),
                    Invoice.subscription_id.is_distinct_from(sub.id),
                )
            )
        )
    mine = [
        c
        for c in charges
        if c.order not in ours and c.amount == plan.amount and (c.created or 0) >= since
    ]
    mine.sort(key=lambda c: (c.created or 0, c.id))
    return mine, remote.active is not False


def sync_from_clover(
    ctx: ServiceContext, subscription_id: str, now: datetime, report: BillingReport
) -> None:
    """Record what Clover's Recurring API charged for one subscription (idempotent)."""
    from cloverpay.service.services.subscriptions._clover import start_at_clover

    settings = ctx.settings
    with ctx.sessions() as s:
        sub = load_subscription(s, None, subscription_id)
        plan = s.get_one(Plan, sub.plan_id)
        card = s.get_one(CardOnFile, sub.card_on_file_id)
        merchant = s.get_one(Merchant, sub.merchant_id)
    if sub.status not in {st.value for st in BILLABLE_SUBSCRIPTION_STATES}:
        return
    poll_again = now + timedelta(seconds=settings.subscription_poll_s)
    if sub.clover_subscription_id is None and not start_at_clover(ctx, sub.id, actor=ACTOR):
        _reschedule(ctx, sub.id, poll_again)
        return
    with ctx.sessions() as s:
        sub = load_subscription(s, None, subscription_id)
    try:
        charges, active = _recurring_charges(
            ctx, merchant, sub, plan, card.clover_customer_id or ""
        )
    except CloverError as exc:
        _set_error(ctx, sub.id, f"Clover Recurring poll: {exc}")
        _reschedule(ctx, sub.id, poll_again)
        return
    for charge in charges:
        if charge.status == "succeeded":
            _record_charge(ctx, sub.id, plan, charge, now, report)
    _apply_failures(ctx, sub.id, charges, active, now, report)
    _reschedule(ctx, sub.id, poll_again)


def _reschedule(ctx: ServiceContext, sub_id: str, at: datetime) -> None:
    with ctx.sessions.begin() as s:
        s.execute(
            update(Subscription)
            .where(
                Subscription.id == sub_id,
                Subscription.status.in_([st.value for st in BILLABLE_SUBSCRIPTION_STATES]),
            )
            .values(next_billing_at=at)
        )


def _record_charge(
    ctx: ServiceContext,
    sub_id: str,
    plan: Plan,
    charge: Charge,
    now: datetime,
    report: BillingReport,
) -> None:
    """One transaction: the period's invoice (draft -> open -> paid), a succeeded attempt
    and the payment. A charge already recorded, or a second charge for a period that has
    its invoice, loses at a unique constraint; the second case is flagged for a person."""
    with ctx.sessions() as s:
        if s.scalar(select(PaymentAttempt.id).where(PaymentAttempt.clover_charge_id == charge.id)):
            return
    created = _from_ms(charge.created or _ms(now))
    try:
        with ctx.sessions.begin() as s:
            sub = load_subscription(s, None, sub_id, lock=True)
            index = period_index_at(sub.anchor_at, plan.interval, plan.interval_count, created)
            start, end = period_bounds(sub.anchor_at, plan.interval, plan.interval_count, index)
            merchant = s.get_one(Merchant, sub.merchant_id, with_for_update=True)
            merchant.invoice_seq += 1
            invoice = Invoice(
                merchant_id=sub.merchant_id,
                customer_id=sub.customer_id,
                number=f"INV-{merchant.invoice_seq:06d}",
                status=InvoiceStatus.DRAFT.value,
                currency=plan.currency,
                subtotal=plan.amount,
                tax_amount=0,
                total=plan.amount,
                memo=f"Subscription {sub.id}, period {index + 1} (billed by Clover)",
                clover_order_id=charge.order,
                subscription_id=sub.id,
                period_start=start,
                due_at=start,
                line_items=[
                    InvoiceLineItem(
                        position=0,
                        description=f"{plan.name} ({start:%Y-%m-%d} to {end:%Y-%m-%d})",
                        quantity=1,
                        unit_amount=plan.amount,
                        amount=plan.amount,
                    )
                ],
            )
            s.add(invoice)
            s.flush()
            add_audit(
                s,
                merchant_id=sub.merchant_id,
                actor=ACTOR,
                action="invoice.created",
                entity_type="invoice",
                entity_id=invoice.id,
                to_state=InvoiceStatus.DRAFT.value,
                data={"subscription_id": sub.id, "clover_charge_id": charge.id},
            )
            set_invoice_status(s, invoice, InvoiceStatus.OPEN, actor=ACTOR)
            attempt_id = new_id()
            attempt = PaymentAttempt(
                id=attempt_id,
                idempotency_key=attempt_key(attempt_id),
                merchant_id=sub.merchant_id,
                kind=AttemptKind.CHARGE.value,
                state=AttemptState.PENDING.value,
                invoice_id=invoice.id,
                amount=plan.amount,
                currency=plan.currency,
                source_kind="clover_recurring",
                card_on_file_id=sub.card_on_file_id,
                initiator="MERCHANT",
                request_json=json.dumps({"clover_subscription_id": sub.clover_subscription_id}),
                clover_order_id=charge.order,
                created_by=ACTOR,
                created_at=now,
                updated_at=now,
            )
            s.add(attempt)
            s.flush()
            transition_attempt(
                s, attempt, AttemptState.SUCCEEDED, actor=ACTOR, reason="Clover Recurring"
            )
            source = charge.source if not isinstance(charge.source, str) else None
            _record_payment(
                s,
                attempt,
                CallOutcome(
                    "succeeded",
                    clover_id=charge.id,
                    card_brand=source.brand if source else None,
                    card_last4=source.last4 if source else None,
                ),
                actor=ACTOR,
                now=now,
            )
            attempt.resolved_at = now
            if index >= sub.period_index:
                sub.period_index = index + 1
                sub.current_period_start, sub.current_period_end = period_bounds(
                    sub.anchor_at, plan.interval, plan.interval_count, index + 1
                )
            sub.consecutive_failures = 0
            sub.last_error = None
            sub.updated_at = now
            transition_subscription(s, sub, SubscriptionStatus.ACTIVE, actor=ACTOR, now=now)
    except IntegrityError:
        with ctx.sessions() as s:
            recorded = s.scalar(
                select(PaymentAttempt.id).where(PaymentAttempt.clover_charge_id == charge.id)
            )
        if recorded is None:
            _flag_unmatched(ctx, sub_id, charge)
        report.lost_races.append(f"charge:{charge.id}")
        return
    report.recorded.append(charge.id)


def _flag_unmatched(ctx: ServiceContext, sub_id: str, charge: Charge) -> None:
    with ctx.sessions.begin() as s:
        sub = load_subscription(s, None, sub_id, lock=True)
        key = f"subscription.unmatched_charge:{charge.id}"
        if s.scalar(select(OutboxEvent.id).where(OutboxEvent.dedupe_key == key)):
            return
        add_audit(
            s,
            merchant_id=sub.merchant_id,
            actor=ACTOR,
            action="subscription.unmatched_charge",
            entity_type="subscription",
            entity_id=sub.id,
            reason=f"Clover charge {charge.id} falls in a period that already has an invoice",
        )
        add_outbox(
            s,
            merchant_id=sub.merchant_id,
            topic="subscription.unmatched_charge",
            channel="alert",
            dedupe_key=key,
            payload={"subscription_id": sub.id, "clover_charge_id": charge.id},
        )


def _apply_failures(
    ctx: ServiceContext,
    sub_id: str,
    charges: list[Charge],
    active: bool,
    now: datetime,
    report: BillingReport,
) -> None:
    """Failed charges since the last succeeded one are the consecutive failures."""
    streak: list[Charge] = []
    for charge in charges:
        streak = [] if charge.status == "succeeded" else [*streak, charge]
    failed = [c for c in streak if c.status == "failed"]
    max_failures = ctx.settings.subscription_max_failures
    with ctx.sessions.begin() as s:
        sub = load_subscription(s, None, sub_id, lock=True)
        if sub.status not in {st.value for st in BILLABLE_SUBSCRIPTION_STATES}:
            return
        for k, charge in enumerate(failed, start=1):
            notify_payment_failed(
                s,
                sub,
                fact_id=charge.id,
                failures=k,
                max_failures=max_failures,
                next_attempt_at=None,
                reason=charge.failure_message or charge.failure_code,
                now=now,
            )
        if len(failed) != sub.consecutive_failures:
            if len(failed) > sub.consecutive_failures:
                report.failures.extend(c.id for c in failed[sub.consecutive_failures :])
            sub.consecutive_failures = len(failed)
            if failed:
                transition_subscription(
                    s,
                    sub,
                    SubscriptionStatus.PAST_DUE,
                    actor=ACTOR,
                    reason="Clover charge failed",
                    now=now,
                )
        if not active:
            reason = (
                f"Clover deactivated it after {len(failed)} failed payments"
                if failed
                else "Clover deactivated it"
            )
            if transition_subscription(
                s, sub, SubscriptionStatus.DEACTIVATED, actor=ACTOR, reason=reason, now=now
            ):
                sub.deactivated_at = now
                sub.next_billing_at = None
                report.deactivated.append(sub.id)
                notify_deactivated(s, sub, reason=reason, now=now)
