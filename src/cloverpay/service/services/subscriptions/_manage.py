"""Plans, subscriptions and the merchant's billing mode: create, list, cancel.

Each public function is one unit of work (the rows, the audit row and the outbox row
commit together). Subscription states change only through
:func:`transition_subscription` (the table in ``domain/subscription_states.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloverpay.service.db import (
    CardOnFile,
    Merchant,
    MerchantBillingSettings,
    Plan,
    Subscription,
)
from cloverpay.service.db.models_subscriptions import BILLING_MODES, PLAN_INTERVALS
from cloverpay.service.domain.subscription_states import (
    SubscriptionStatus,
    apply_subscription_transition,
)
from cloverpay.service.errors import ConflictError, InvalidRequest, NotFound
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.customers import load_customer
from cloverpay.service.services.records import add_audit, add_outbox
from cloverpay.service.services.subscriptions._periods import period_bounds

__all__ = [
    "billing_mode_of",
    "create_plan",
    "create_subscription",
    "list_plans",
    "list_subscriptions",
    "load_plan",
    "load_subscription",
    "set_billing_mode",
    "transition_subscription",
]


def billing_mode_of(session: Session, merchant_id: str) -> str:
    row = session.get(MerchantBillingSettings, merchant_id)
    return row.billing_mode if row is not None else "scheduler"


def set_billing_mode(ctx: ServiceContext, merchant_id: str, mode: str, *, actor: str) -> str:
    """Who bills the merchant's *new* subscriptions; existing ones keep their mode."""
    if mode not in BILLING_MODES:
        raise InvalidRequest(f"billing_mode must be one of {BILLING_MODES}", field="billing_mode")
    with ctx.sessions.begin() as s:
        row = s.get(MerchantBillingSettings, merchant_id, with_for_update=True)
        before = row.billing_mode if row is not None else "scheduler"
        if row is None:
            row = MerchantBillingSettings(merchant_id=merchant_id)
            s.add(row)
        row.billing_mode = mode
        row.updated_at = ctx.now()
        if before != mode:
            add_audit(
                s,
                merchant_id=merchant_id,
                actor=actor,
                action="merchant.billing_mode_changed",
                entity_type="merchant",
                entity_id=merchant_id,
                data={"from": before, "to": mode},
            )
    return mode


def load_plan(session: Session, merchant_id: str, plan_id: str) -> Plan:
    plan = session.scalar(select(Plan).where(Plan.id == plan_id, Plan.merchant_id == merchant_id))
    if plan is None:
        raise NotFound(f"no plan {plan_id}", field="plan_id")
    return plan


def load_subscription(
    session: Session, merchant_id: str | None, subscription_id: str, *, lock: bool = False
) -> Subscription:
    stmt = select(Subscription).where(Subscription.id == subscription_id)
    if merchant_id is not None:
        stmt = stmt.where(Subscription.merchant_id == merchant_id)
    if lock:
        stmt = stmt.with_for_update()
    sub = session.scalar(stmt)
    if sub is None:
        raise NotFound(f"no subscription {subscription_id}", field="subscription_id")
    return sub


def transition_subscription(
    session: Session,
    sub: Subscription,
    target: SubscriptionStatus,
    *,
    actor: str,
    reason: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Apply the table and audit the change; False for a no-op."""
    current = sub.status
    if not apply_subscription_transition(current, target):
        return False
    sub.status = target.value
    add_audit(
        session,
        merchant_id=sub.merchant_id,
        actor=actor,
        action=f"subscription.{target.value}",
        entity_type="subscription",
        entity_id=sub.id,
        from_state=current,
        to_state=target.value,
        reason=reason,
        now=now,
    )
    return True


def create_plan(
    ctx: ServiceContext,
    merchant_id: str,
    *,
    name: str,
    amount: int,
    interval: str,
    interval_count: int = 1,
    currency: str | None = None,
    actor: str,
) -> Plan:
    if interval not in PLAN_INTERVALS:
        raise InvalidRequest(f"interval must be one of {PLAN_INTERVALS}", field="interval")
    if amount <= 0:
        raise InvalidRequest("amount must be positive", field="amount")
    if interval_count <= 0:
        raise InvalidRequest("interval_count must be positive", field="interval_count")
    with ctx.sessions.begin() as s:
        merchant = s.get(Merchant, merchant_id)
        if merchant is None:
            raise NotFound("no such merchant", field="merchant")
        plan = Plan(
            merchant_id=merchant_id,
            name=name,
            amount=amount,
            currency=(currency or merchant.currency).lower(),
            interval=interval,
            interval_count=interval_count,
            created_at=ctx.now(),
        )
        s.add(plan)
        s.flush()
        add_audit(
            s,
            merchant_id=merchant_id,
            actor=actor,
            action="plan.created",
            entity_type="plan",
            entity_id=plan.id,
            data={"amount": amount, "interval": interval, "interval_count": interval_count},
        )
    return plan


def list_plans(ctx: ServiceContext, merchant_id: str, *, limit: int = 100) -> list[Plan]:
    with ctx.sessions() as s:
        stmt = (
            select(Plan)
            .where(Plan.merchant_id == merchant_id)
            .order_by(Plan.created_at.desc(), Plan.id)
            .limit(limit)
        )
        return list(s.scalars(stmt))


def create_subscription(
    ctx: ServiceContext,
    merchant_id: str,
    *,
    customer_id: str,
    card_on_file_id: str,
    plan_id: str,
    start_at: datetime | None = None,
    billing_mode: str | None = None,
    actor: str,
) -> Subscription:
    """Commit the subscription (period 0 starts at ``start_at``, default now, and is
    billed then). In ``clover_recurring`` mode it is then created at Clover; if that
    fails the row stays (its ``last_error`` says why) and the billing run retries it."""
    now = ctx.now()
    if start_at is not None and start_at.tzinfo is not None:
        start_at = start_at.astimezone(UTC).replace(tzinfo=None)
    anchor = (start_at or now).replace(microsecond=0)
    with ctx.sessions.begin() as s:
        customer = load_customer(s, merchant_id, customer_id)
        plan = load_plan(s, merchant_id, plan_id)
        if not plan.active:
            raise ConflictError(f"plan {plan_id} is not active", field="plan_id")
        card = s.get(CardOnFile, card_on_file_id)
        if (
            card is None
            or card.merchant_id != merchant_id
            or card.customer_id != customer.id
            or card.deleted_at is not None
        ):
            raise NotFound(
                f"no card on file {card_on_file_id} for this customer", field="card_on_file_id"
            )
        mode = billing_mode or billing_mode_of(s, merchant_id)
        if mode not in BILLING_MODES:
            raise InvalidRequest(
                f"billing_mode must be one of {BILLING_MODES}", field="billing_mode"
            )
        start, end = period_bounds(anchor, plan.interval, plan.interval_count, 0)
        sub = Subscription(
            merchant_id=merchant_id,
            customer_id=customer.id,
            card_on_file_id=card.id,
            plan_id=plan.id,
            status=SubscriptionStatus.ACTIVE.value,
            billing_mode=mode,
            anchor_at=anchor,
            period_index=0,
            current_period_start=start,
            current_period_end=end,
            consecutive_failures=0,
            # our scheduler bills period 0 at its start; in Clover mode this is the
            # first poll of what Clover charged (and the retry of a failed create)
            next_billing_at=anchor if mode == "scheduler" else now,
            created_at=now,
            updated_at=now,
        )
        s.add(sub)
        s.flush()
        add_audit(
            s,
            merchant_id=merchant_id,
            actor=actor,
            action="subscription.created",
            entity_type="subscription",
            entity_id=sub.id,
            to_state=SubscriptionStatus.ACTIVE.value,
            data={"plan_id": plan.id, "billing_mode": mode, "anchor_at": anchor},
            now=now,
        )
        add_outbox(
            s,
            merchant_id=merchant_id,
            topic="subscription.created",
            dedupe_key=f"subscription.created:{sub.id}",
            payload={"subscription_id": sub.id, "plan_id": plan.id, "customer_id": customer.id},
            now=now,
        )
    if mode == "clover_recurring":
        from cloverpay.service.services.subscriptions._clover import start_at_clover

        start_at_clover(ctx, sub.id, actor=actor)
        with ctx.sessions() as s:
            sub = load_subscription(s, merchant_id, sub.id)
    return sub


def mark_canceled(
    ctx: ServiceContext, merchant_id: str, subscription_id: str, *, actor: str
) -> Subscription:
    """The local half of a cancel: no more billing. Unpaid invoices stay as they are."""
    now = ctx.now()
    with ctx.sessions.begin() as s:
        sub = load_subscription(s, merchant_id, subscription_id, lock=True)
        if transition_subscription(s, sub, SubscriptionStatus.CANCELED, actor=actor, now=now):
            sub.canceled_at = now
            sub.next_billing_at = None
            sub.updated_at = now
            add_outbox(
                s,
                merchant_id=merchant_id,
                topic="subscription.canceled",
                dedupe_key=f"subscription.canceled:{sub.id}",
                payload={"subscription_id": sub.id},
                now=now,
            )
    return sub


def list_subscriptions(
    ctx: ServiceContext, merchant_id: str, *, status: str | None = None, limit: int = 100
) -> list[tuple[Subscription, Plan]]:
    with ctx.sessions() as s:
        stmt = (
            select(Subscription, Plan)
            .join(Plan, Plan.id == Subscription.plan_id)
            .where(Subscription.merchant_id == merchant_id)
        )
        if status is not None:
            stmt = stmt.where(Subscription.status == status)
        stmt = stmt.order_by(Subscription.created_at.desc(), Subscription.id).limit(limit)
        return [(sub, plan) for sub, plan in s.execute(stmt).all()]
