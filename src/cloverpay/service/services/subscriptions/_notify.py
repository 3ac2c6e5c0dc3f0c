"""Emails and CRM events about a subscription's billing, written into the outbox.

Each row's ``dedupe_key`` names the fact it reports (one failed charge, one
deactivation), and ``outbox.dedupe_key`` is unique: a billing run that re-applies the
same failure, a periodic poll, or a second process cannot enqueue it twice. The email
worker (``outbox_email.py``) delivers them; a customer without an email address gets
none (the CRM event still goes out). The emails are plain text and HTML
(``services/emails/subscription_*``); one that cannot be rendered is logged and skipped,
never the billing it reports on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloverpay.service.db import Customer, Merchant, OutboxEvent, Plan, Subscription
from cloverpay.service.services.emails import email_payload, render_or_skip
from cloverpay.service.services.records import add_outbox

__all__ = ["notify_deactivated", "notify_payment_failed"]


def _add_once(
    s: Session,
    *,
    merchant_id: str,
    topic: str,
    dedupe_key: str,
    payload: Mapping[str, object],
    channel: str,
    now: datetime,
) -> bool:
    # The caller holds the subscription's row lock, so this check and the insert are
    # not raced by another run; the unique dedupe_key is the backstop if they were.
    if s.scalar(select(OutboxEvent.id).where(OutboxEvent.dedupe_key == dedupe_key)) is not None:
        return False
    add_outbox(
        s,
        merchant_id=merchant_id,
        topic=topic,
        channel=channel,
        dedupe_key=dedupe_key,
        payload=dict(payload),
        now=now,
    )
    return True


def notify_payment_failed(
    s: Session,
    sub: Subscription,
    *,
    fact_id: str,
    failures: int,
    max_failures: int,
    next_attempt_at: datetime | None,
    reason: str | None,
    now: datetime,
) -> None:
    """One failed charge (``fact_id``: our attempt id, or Clover's charge id)."""
    plan = s.get_one(Plan, sub.plan_id)
    customer = s.get_one(Customer, sub.customer_id)
    merchant = s.get_one(Merchant, sub.merchant_id)
    data = {
        "subscription_id": sub.id,
        "failure": fact_id,
        "consecutive_failures": failures,
        "next_attempt_at": next_attempt_at.isoformat() if next_attempt_at else None,
    }
    _add_once(
        s,
        merchant_id=sub.merchant_id,
        topic="subscription.payment_failed",
        dedupe_key=f"subscription.payment_failed:{fact_id}",
        payload=data,
        channel="webhook",
        now=now,
    )
    if not customer.email:
        return
    again = next_attempt_at is not None and failures < max_failures
    content = render_or_skip(
        "subscription_payment_failed",
        {
            "customer_name": customer.name or customer.email,
            "merchant_name": merchant.name,
            "plan_name": plan.name,
            "amount": plan.amount,
            "currency": plan.currency,
            "reason": reason,
            "next_attempt": f"{next_attempt_at:%B %d, %Y}" if again and next_attempt_at else None,
            "failures": failures,
            "max_failures": max_failures,
        },
    )
    if content is None:
        return
    _add_once(
        s,
        merchant_id=sub.merchant_id,
        topic="email.subscription_payment_failed",
        dedupe_key=f"email.subscription_payment_failed:{fact_id}",
        payload=email_payload(
            to=customer.email, subject=f"Payment for {plan.name} failed", content=content, **data
        ),
        channel="email",
        now=now,
    )


def notify_deactivated(s: Session, sub: Subscription, *, reason: str, now: datetime) -> None:
    plan = s.get_one(Plan, sub.plan_id)
    customer = s.get_one(Customer, sub.customer_id)
    merchant = s.get_one(Merchant, sub.merchant_id)
    data = {"subscription_id": sub.id, "reason": reason}
    _add_once(
        s,
        merchant_id=sub.merchant_id,
        topic="subscription.deactivated",
        dedupe_key=f"subscription.deactivated:{sub.id}",
        payload=data,
        channel="webhook",
        now=now,
    )
    if not customer.email:
        return
    content = render_or_skip(
        "subscription_deactivated",
        {
            "customer_name": customer.name or customer.email,
            "merchant_name": merchant.name,
            "plan_name": plan.name,
            "reason": reason,
        },
    )
    if content is None:
        return
    _add_once(
        s,
        merchant_id=sub.merchant_id,
        topic="email.subscription_deactivated",
        dedupe_key=f"email.subscription_deactivated:{sub.id}",
        payload=email_payload(
            to=customer.email,
            subject=f"Your subscription to {plan.name} was deactivated",
            content=content,
            **data,
        ),
        channel="email",
        now=now,
    )
