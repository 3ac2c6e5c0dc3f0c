"""Recurring (plans, subscriptions; spec §10) and Hosted Checkout (spec §11) objects.

Both APIs use camelCase on the wire; the models expose snake_case attributes.
Recurring timestamps are strings in two formats (``2021-12-24@19:08:56.235+0000`` and
``2023-12-16T00:00:00.000+0000``); :func:`parse_recurring_time` reads both.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from cloverpay.api._models_base import CamelModel

__all__ = ["CheckoutSession", "Plan", "Subscription", "parse_recurring_time"]

PlanInterval = Literal["DAY", "WEEK", "MONTH", "YEAR"] | str


def parse_recurring_time(value: str) -> dt.datetime:
    """Parse a Recurring API timestamp (either documented format) to an aware datetime."""
    text = value.replace("@", "T")
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"):
        try:
            parsed = dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    raise ValueError(f"unrecognised Recurring timestamp: {value!r}")


class Plan(CamelModel):
    """A recurring plan."""

    id: str
    object: str | None = "plan"
    name: str | None = None
    amount: int | None = None
    active: bool | None = None
    interval: PlanInterval | None = None
    interval_count: int | None = None
    note: str | None = None
    merchant_id: str | None = None
    developer_app_id: str | None = None
    created_time: str | int | None = None
    modified_time: str | int | None = None


class Subscription(CamelModel):
    """A customer's subscription to a plan."""

    id: str
    object: str | None = "subscription"
    customer_uuid: str | None = None
    collection_method: Literal["CHARGE_AUTOMATICALLY"] | str | None = None
    active: bool | None = None
    amount: int | None = None
    tip_amount: int | None = None
    total: int | None = None
    note: str | None = None
    soft_descriptor: dict[str, Any] | None = None
    tax_rate_uuids: list[str] | None = None
    additional_charges: list[Any] | None = None
    start_date: str | None = None
    end_date: str | None = None
    last_run_date: str | None = None
    created_time: str | int | None = None
    modified_time: str | int | None = None
    plan: Plan | None = None


class CheckoutSession(CamelModel):
    """A Hosted Checkout session; send the payer to ``href``. Expires after 15 minutes."""

    checkout_session_id: str
    href: str | None = None
    created_time: int | None = None
    expiration_time: int | None = None
    status: str | None = None
