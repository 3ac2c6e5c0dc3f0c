"""Subscriptions billed by Clover's Recurring API (``billing_mode="clover_recurring"``).

Clover makes the charges; we create the plan and the subscription there and **poll**
what it charged (webhook-triggered recording is left to the webhook intake: a payment
``CREATE`` event for the customer can call :func:`sync_from_clover` early, the poll
stays the safety net).

* **Create** (RELIABILITY rule 1 in spirit: Clover will move money): our subscription
  row is committed first; its id goes into the Clover subscription's ``note``; before
  creating, Clover's subscriptions of the plan are searched for that note, so a retry
  after a lost answer finds the first one instead of making a second (Clover documents
  no idempotency key for the Recurring API).
* **Poll**: :mod:`._clover_sync` (what Clover charged, recorded once).
* **Cancel**: at Clover first, then here.
"""

from __future__ import annotations

from datetime import datetime

from cloverpay.api import CloverError
from cloverpay.service.db import CardOnFile, Merchant, Plan, Subscription
from cloverpay.service.domain.subscription_states import SubscriptionStatus
from cloverpay.service.errors import UpstreamError
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.records import add_audit, audit_failure
from cloverpay.service.services.subscriptions._clover_sync import (  # re-exported
    _set_error,
    sync_from_clover,
)
from cloverpay.service.services.subscriptions._manage import load_subscription, mark_canceled

__all__ = ["cancel_subscription", "start_at_clover", "sync_from_clover"]

_INTERVALS = {"week": "WEEK", "month": "MONTH", "year": "YEAR"}


def _note(sub_id: str) -> str:
    return f"cloverpay:{sub_id}"


def _clover_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def start_at_clover(ctx: ServiceContext, subscription_id: str, *, actor: str) -> bool:
    """Create the plan (once) and the subscription at Clover; True when both exist.
    Errors are recorded on the subscription (``last_error``) and audited, not raised:
    the billing run tries again at its next poll."""
    with ctx.sessions() as s:
        sub = load_subscription(s, None, subscription_id)
        if sub.clover_subscription_id is not None:
            return True
        plan = s.get_one(Plan, sub.plan_id)
        card = s.get_one(CardOnFile, sub.card_on_file_id)
        merchant = s.get_one(Merchant, sub.merchant_id)
    if card.clover_customer_id is None:
        _set_error(ctx, sub.id, "the card on file has no Clover customer")
        return False
    try:
        with ctx.gateway.client(merchant) as clover:
            clover_plan_id = plan.clover_plan_id
            if clover_plan_id is None:
                made = clover.recurring.plans.create(
                    name=plan.name,
                    amount=plan.amount,
                    interval=_INTERVALS[plan.interval],
                    interval_count=plan.interval_count,
                    note=f"cloverpay plan {plan.id}",
                )
                with ctx.sessions.begin() as s:
                    row = s.get_one(Plan, plan.id, with_for_update=True)
                    if row.clover_plan_id is None:
                        row.clover_plan_id = made.id
                    clover_plan_id = row.clover_plan_id
            found = next(
                (
                    c
                    for c in clover.recurring.subscriptions.list(clover_plan_id)
                    if c.note == _note(sub.id)
                ),
                None,
            )
            if found is None:
                found = clover.recurring.subscriptions.create(
                    clover_plan_id,
                    customer_id=card.clover_customer_id,
                    start_date=_clover_time(sub.anchor_at),
                    amount=plan.amount,
                    note=_note(sub.id),
                )
    except CloverError as exc:
        _set_error(ctx, sub.id, f"Clover Recurring: {exc}")
        audit_failure(
            ctx.sessions,
            merchant_id=sub.merchant_id,
            actor=actor,
            action="subscription.clover_create_failed",
            entity_type="subscription",
            entity_id=sub.id,
            reason=str(exc)[:500],
        )
        return False
    with ctx.sessions.begin() as s:
        locked = load_subscription(s, None, sub.id, lock=True)
        if locked.clover_subscription_id is None:
            locked.clover_subscription_id = found.id
            locked.last_error = None
            add_audit(
                s,
                merchant_id=locked.merchant_id,
                actor=actor,
                action="subscription.clover_created",
                entity_type="subscription",
                entity_id=locked.id,
                data={"clover_subscription_id": found.id, "clover_plan_id": clover_plan_id},
            )
    return True


def cancel_subscription(
    ctx: ServiceContext, merchant_id: str, subscription_id: str, *, actor: str
) -> Subscription:
    """Cancel (both modes). A Clover-billed one is canceled at Clover first; if Clover
    refuses, nothing changes here (502) and the caller may retry."""
    with ctx.sessions() as s:
        sub = load_subscription(s, merchant_id, subscription_id)
        merchant = s.get_one(Merchant, merchant_id)
    if sub.status == SubscriptionStatus.CANCELED.value:
        return sub
    if sub.billing_mode == "clover_recurring" and sub.clover_subscription_id:
        try:
            with ctx.gateway.client(merchant) as clover:
                clover.recurring.subscriptions.cancel(sub.clover_subscription_id)
        except CloverError as exc:
            audit_failure(
                ctx.sessions,
                merchant_id=merchant_id,
                actor=actor,
                action="subscription.clover_cancel_failed",
                entity_type="subscription",
                entity_id=sub.id,
                reason=str(exc)[:500],
            )
            raise UpstreamError(f"Clover did not cancel the subscription: {exc}") from exc
    return mark_canceled(ctx, merchant_id, subscription_id, actor=actor)
