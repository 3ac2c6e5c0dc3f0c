"""Request and response bodies of ``/v1/plans``, ``/v1/subscriptions`` and
``/v1/billing_settings`` (unknown fields are refused, by name)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cloverpay.service.api.schemas import UtcDateTime
from cloverpay.service.db import Plan, Subscription

__all__ = [
    "BillingSettingsIn",
    "BillingSettingsOut",
    "PlanIn",
    "PlanOut",
    "SubscriptionIn",
    "SubscriptionOut",
    "plan_out",
    "subscription_out",
]

BillingMode = Literal["scheduler", "clover_recurring"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PlanIn(_In):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    amount: Annotated[int, Field(ge=1, le=99_999_999)]
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")] | None = None
    interval: Literal["week", "month", "year"]
    interval_count: Annotated[int, Field(ge=1, le=52)] = 1


class PlanOut(BaseModel):
    id: str
    name: str
    amount: int
    currency: str
    interval: str
    interval_count: int
    active: bool
    clover_plan_id: str | None
    created_at: UtcDateTime


class SubscriptionIn(_In):
    customer_id: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    card_on_file_id: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    plan_id: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    #: When period 1 starts (and is billed); default now. Naive = UTC.
    start_at: datetime | None = None
    #: Default: the merchant's billing mode (``/v1/billing_settings``).
    billing_mode: BillingMode | None = None


class SubscriptionOut(BaseModel):
    id: str
    customer_id: str
    card_on_file_id: str
    plan: PlanOut
    status: str
    billing_mode: str
    period_index: int
    current_period_start: UtcDateTime
    current_period_end: UtcDateTime
    consecutive_failures: int
    next_billing_at: UtcDateTime | None
    clover_subscription_id: str | None
    last_error: str | None
    created_at: UtcDateTime
    canceled_at: UtcDateTime | None
    deactivated_at: UtcDateTime | None


class BillingSettingsIn(_In):
    billing_mode: BillingMode


class BillingSettingsOut(BaseModel):
    billing_mode: str


def plan_out(p: Plan) -> PlanOut:
    return PlanOut(
        id=p.id,
        name=p.name,
        amount=p.amount,
        currency=p.currency,
        interval=p.interval,
        interval_count=p.interval_count,
        active=p.active,
        clover_plan_id=p.clover_plan_id,
        created_at=p.created_at,
    )


def subscription_out(s: Subscription, plan: Plan) -> SubscriptionOut:
    return SubscriptionOut(
        id=s.id,
        customer_id=s.customer_id,
        card_on_file_id=s.card_on_file_id,
        plan=plan_out(plan),
        status=s.status,
        billing_mode=s.billing_mode,
        period_index=s.period_index,
        current_period_start=s.current_period_start,
        current_period_end=s.current_period_end,
        consecutive_failures=s.consecutive_failures,
        next_billing_at=s.next_billing_at,
        clover_subscription_id=s.clover_subscription_id,
        last_error=s.last_error,
        created_at=s.created_at,
        canceled_at=s.canceled_at,
        deactivated_at=s.deactivated_at,
    )
