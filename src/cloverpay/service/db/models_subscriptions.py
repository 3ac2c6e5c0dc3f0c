"""Plans, subscriptions and each merchant's choice of who bills them.

One invoice per (subscription, period) is enforced by ``invoices``' unique
(``subscription_id``, ``period_start``); one charge per dunning step by the payment
attempt's primary key, derived from (invoice, step) by the billing run. This module
only holds what the subscription itself is: its plan, its card, where it stands.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloverpay.service.db.base import Base, new_id, utcnow

__all__ = [
    "BILLING_MODES",
    "PLAN_INTERVALS",
    "SUBSCRIPTION_STATUSES",
    "MerchantBillingSettings",
    "Plan",
    "Subscription",
]

#: ``scheduler``: our billing run creates the invoices and charges the card on file.
#: ``clover_recurring``: Clover's Recurring API bills; we record what it charged.
BILLING_MODES = ("scheduler", "clover_recurring")
PLAN_INTERVALS = ("week", "month", "year")
SUBSCRIPTION_STATUSES = ("active", "past_due", "canceled", "deactivated")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Plan(Base):
    """What is billed and how often: ``amount`` every ``interval_count`` ``interval``."""

    __tablename__ = "plans"
    __table_args__ = (
        CheckConstraint("amount > 0 AND interval_count > 0", name="amounts"),
        CheckConstraint(_in("interval", PLAN_INTERVALS), name="interval"),
        Index("ix_plans_merchant", "merchant_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    name: Mapped[str] = mapped_column(String(200))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    interval: Mapped[str] = mapped_column(String(10))
    interval_count: Mapped[int] = mapped_column(Integer, default=1)
    active: Mapped[bool] = mapped_column(default=True)
    #: The plan's twin at Clover, made the first time a Clover-billed subscription needs it.
    clover_plan_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Subscription(Base):
    """A customer's subscription to a plan, charged to a card on file.

    ``period_index`` is the period being billed (0 = the one starting at ``anchor_at``);
    it moves on only when that period's invoice is paid. ``consecutive_failures`` is
    derived from the failed billing attempts of the current invoice and written in the
    transaction that applies them. ``next_billing_at`` is when the billing run looks at
    the subscription next (the period start, a dunning retry, a re-check of an
    unresolved charge, or the next poll of Clover); ``claimed_until`` leases it to one run.
    """

    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint(_in("status", SUBSCRIPTION_STATUSES), name="status"),
        CheckConstraint(_in("billing_mode", BILLING_MODES), name="billing_mode"),
        CheckConstraint("consecutive_failures >= 0 AND period_index >= 0", name="counters"),
        Index("ix_subscriptions_due", "status", "next_billing_at"),
        Index("ix_subscriptions_merchant", "merchant_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    card_on_file_id: Mapped[str] = mapped_column(ForeignKey("cards_on_file.id"))
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"))
    status: Mapped[str] = mapped_column(String(12), default="active")
    billing_mode: Mapped[str] = mapped_column(String(20), default="scheduler")
    anchor_at: Mapped[datetime]
    period_index: Mapped[int] = mapped_column(Integer, default=0)
    current_period_start: Mapped[datetime]
    current_period_end: Mapped[datetime]
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    next_billing_at: Mapped[datetime | None]
    claimed_until: Mapped[datetime | None]
    clover_subscription_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    canceled_at: Mapped[datetime | None]
    deactivated_at: Mapped[datetime | None]


class MerchantBillingSettings(Base):
    """Who bills a merchant's new subscriptions (existing ones keep their own mode)."""

    __tablename__ = "merchant_billing_settings"
    __table_args__ = (CheckConstraint(_in("billing_mode", BILLING_MODES), name="billing_mode"),)

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    billing_mode: Mapped[str] = mapped_column(String(20), default="scheduler")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
