"""Recurring plans and subscriptions (spec §10) and the billing run.

Billing rules:

* The first period starts on ``startDate``; period ``n`` starts ``n × intervalCount ×
  interval`` later (months clamp to the month's last day, counted from the start date so
  nothing drifts). No period starting after ``endDate`` is billed.
* One invoice per (subscription, period), keyed in ``RecurringStore.invoices``; its charge
  uses the idempotency key ``recurring:{subscription}:{period}:{attempt}``, so running the
  billing twice for the same moment charges once.
* A failed attempt is retried every ``retry_interval_ms`` (guessed: one day). Attempt ``k``
  of a period becomes due at ``period start + k × retry_interval``. After
  ``max_consecutive_failures`` (5, spec) failures in a row the subscription is deactivated.
* Periods are billed in order; a later period waits until the earlier one is paid.

``run_due_billing(state_like, now_ms, charge)`` is the whole scheduler: pure except for the
``charge`` callback, which goes through the Ecommerce charge logic.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "BillingAttempt",
    "BillingOutcome",
    "Invoice",
    "Plan",
    "RecurringError",
    "RecurringStore",
    "Subscription",
    "format_time",
    "parse_time",
    "run_due_billing",
]

INTERVALS = ("DAY", "WEEK", "MONTH", "YEAR")


class RecurringError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


_TIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T@ ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)


def parse_time(value: object, where: str) -> int:
    """Parse Clover's date strings (``2023-12-16T00:00:00.000+0000``, ``…@19:08:56.235+0000``,
    ISO-8601, a bare date) or epoch ms to epoch ms."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise RecurringError(f"{where} must be a date string")
    m = _TIME_RE.match(value.strip())
    if m is None:
        raise RecurringError(f"{where} is not a date: {value!r}")
    y, mo, d, hh, mm, ss, frac, tz = m.groups()
    try:
        dt = datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0), tzinfo=UTC)
    except ValueError as exc:
        raise RecurringError(f"{where} is not a date: {value!r}") from exc
    if frac:
        dt += timedelta(microseconds=int(frac.ljust(6, "0")))
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        dt -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return int(dt.timestamp() * 1000)


def format_time(ms: int | None) -> str | None:
    if ms is None:
        return None
    dt = datetime.fromtimestamp(ms / 1000, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


def add_intervals(start_ms: int, interval: str, count: int) -> int:
    dt = datetime.fromtimestamp(start_ms / 1000, UTC)
    if interval == "DAY":
        dt += timedelta(days=count)
    elif interval == "WEEK":
        dt += timedelta(weeks=count)
    else:
        months = count * (12 if interval == "YEAR" else 1)
        total = dt.year * 12 + (dt.month - 1) + months
        year, month = divmod(total, 12)
        day = min(dt.day, calendar.monthrange(year, month + 1)[1])
        dt = dt.replace(year=year, month=month + 1, day=day)
    return int(dt.timestamp() * 1000)


@dataclass
class Plan:
    id: str
    merchant_id: str
    app_id: str | None
    name: str
    amount: int
    interval: str
    interval_count: int
    note: str | None
    active: bool
    created_ms: int
    modified_ms: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "plan",
            "name": self.name,
            "amount": self.amount,
            "active": self.active,
            "interval": self.interval,
            "intervalCount": self.interval_count,
            "note": self.note,
            "merchantId": self.merchant_id,
            "developerAppId": self.app_id,
            "createdTime": format_time(self.created_ms),
            "modifiedTime": format_time(self.modified_ms),
        }


@dataclass
class Subscription:
    id: str
    merchant_id: str
    plan_id: str
    customer_id: str
    amount: int
    tip_amount: int
    start_ms: int
    end_ms: int | None
    note: str | None
    created_ms: int
    modified_ms: int
    active: bool = True
    collection_method: str = "CHARGE_AUTOMATICALLY"
    tax_rate_uuids: list[str] = field(default_factory=list)
    soft_descriptor: dict[str, Any] | None = None
    last_run_ms: int | None = None
    next_period: int = 0
    consecutive_failures: int = 0
    deactivated_reason: str | None = None

    @property
    def total(self) -> int:
        return self.amount + self.tip_amount

    def to_json(self, plan: Plan | None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "subscription",
            "customerUuid": self.customer_id,
            "collectionMethod": self.collection_method,
            "active": self.active,
            "amount": self.amount,
            "tipAmount": self.tip_amount,
            "total": self.total,
            "note": self.note,
            "softDescriptor": self.soft_descriptor,
            "taxRateUuids": list(self.tax_rate_uuids),
            "additionalCharges": [],
            "startDate": format_time(self.start_ms),
            "endDate": format_time(self.end_ms),
            "lastRunDate": format_time(self.last_run_ms),
            "createdTime": format_time(self.created_ms),
            "modifiedTime": format_time(self.modified_ms),
            "plan": plan.to_json() if plan else None,
        }


@dataclass(frozen=True)
class BillingAttempt:
    """What the billing run asks the charge logic to do."""

    merchant_id: str
    customer_id: str
    amount: int
    tip_amount: int
    idempotency_key: str
    description: str


@dataclass(frozen=True)
class BillingOutcome:
    succeeded: bool
    charge_id: str | None = None
    message: str | None = None


@dataclass
class Invoice:
    subscription_id: str
    period: int
    period_start_ms: int
    amount: int
    status: str = "OPEN"  # OPEN -> PAID | FAILED
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "subscriptionId": self.subscription_id,
            "period": self.period,
            "periodStart": format_time(self.period_start_ms),
            "amount": self.amount,
            "status": self.status,
            "attempts": list(self.attempts),
        }


@dataclass
class RecurringStore:
    plans: dict[str, Plan] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    invoices: dict[tuple[str, int], Invoice] = field(default_factory=dict)
    retry_interval_ms: int = 24 * 3600 * 1000
    max_consecutive_failures: int = 5

    def plan(self, merchant_id: str, plan_id: str) -> Plan:
        plan = self.plans.get(plan_id)
        if plan is None or plan.merchant_id != merchant_id:
            raise RecurringError(f"plan {plan_id} not found", 404)
        return plan

    def reactivate(self, sub: Subscription) -> None:
        """Turn billing back on. A period whose invoice failed for good stays failed;
        billing resumes with the next period."""
        sub.active = True
        sub.consecutive_failures = 0
        sub.deactivated_reason = None
        invoice = self.invoices.get((sub.id, sub.next_period))
        if invoice is not None and invoice.status == "FAILED":
            sub.next_period += 1

    def subscription(self, merchant_id: str, sub_id: str) -> Subscription:
        sub = self.subscriptions.get(sub_id)
        if sub is None or sub.merchant_id != merchant_id:
            raise RecurringError(f"subscription {sub_id} not found", 404)
        return sub


ChargeFn = Callable[[BillingAttempt], BillingOutcome]


def _bill_period(
    store: RecurringStore, sub: Subscription, period_start: int, now_ms: int, charge: ChargeFn
) -> bool:
    """Make the attempts due for ``sub.next_period``; True if that period is now paid."""
    key = (sub.id, sub.next_period)
    invoice = store.invoices.get(key)
    if invoice is None:
        invoice = Invoice(sub.id, sub.next_period, period_start, sub.total)
        store.invoices[key] = invoice
    if invoice.status == "PAID":
        return True
    allowed = min(
        store.max_consecutive_failures,
        (now_ms - period_start) // store.retry_interval_ms + 1,
    )
    while invoice.status == "OPEN" and len(invoice.attempts) < allowed and sub.active:
        n = len(invoice.attempts)
        outcome = charge(
            BillingAttempt(
                merchant_id=sub.merchant_id,
                customer_id=sub.customer_id,
                amount=sub.amount,
                tip_amount=sub.tip_amount,
                idempotency_key=f"recurring:{sub.id}:{sub.next_period}:{n}",
                description=f"Subscription {sub.id} period {sub.next_period + 1}",
            )
        )
        invoice.attempts.append(
            {
                "at": format_time(now_ms),
                "succeeded": outcome.succeeded,
                "chargeId": outcome.charge_id,
                "message": outcome.message,
            }
        )
        sub.last_run_ms = now_ms
        if outcome.succeeded:
            invoice.status = "PAID"
            sub.consecutive_failures = 0
            return True
        sub.consecutive_failures += 1
        if sub.consecutive_failures >= store.max_consecutive_failures:
            invoice.status = "FAILED"
            sub.active = False
            sub.deactivated_reason = (
                f"deactivated after {sub.consecutive_failures} failed payment attempts"
            )
    return False


def run_due_billing(store: RecurringStore, now_ms: int, charge: ChargeFn) -> list[Invoice]:
    """Bill every due period of every active subscription at ``now_ms``.

    Safe to call any number of times: an invoice already paid is never charged again and an
    attempt already made is not made again. Returns the invoices touched.
    """
    touched: list[Invoice] = []
    for sub in list(store.subscriptions.values()):
        plan = store.plans.get(sub.plan_id)
        if plan is None:
            continue
        while sub.active:
            start = add_intervals(
                sub.start_ms, plan.interval, sub.next_period * plan.interval_count
            )
            if start > now_ms or (sub.end_ms is not None and start > sub.end_ms):
                break
            paid = _bill_period(store, sub, start, now_ms, charge)
            touched.append(store.invoices[(sub.id, sub.next_period)])
            if not paid:
                break
            sub.next_period += 1
    return touched
