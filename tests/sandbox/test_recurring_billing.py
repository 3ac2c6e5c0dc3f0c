"""run_due_billing as a pure function: periods, retries, deactivation, double runs."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cloverpay.sandbox._recurring import (
    BillingAttempt,
    BillingOutcome,
    Plan,
    RecurringStore,
    Subscription,
    add_intervals,
    format_time,
    parse_time,
    run_due_billing,
)

DAY = 24 * 3600 * 1000
START = parse_time("2026-01-31T00:00:00.000+0000", "startDate")


class Gateway:
    """Records attempts; approves unless told to decline."""

    def __init__(self, decline: bool = False) -> None:
        self.decline = decline
        self.attempts: list[BillingAttempt] = []
        self.keys: set[str] = set()

    def __call__(self, attempt: BillingAttempt) -> BillingOutcome:
        self.attempts.append(attempt)
        assert attempt.idempotency_key not in self.keys, "same attempt charged twice"
        self.keys.add(attempt.idempotency_key)
        if self.decline:
            return BillingOutcome(False, None, "card_declined")
        return BillingOutcome(True, f"CH{len(self.attempts)}", None)


def _store(interval: str = "MONTH") -> tuple[RecurringStore, Subscription]:
    store = RecurringStore()
    store.plans["P"] = Plan("P", "M", None, "Gold", 1000, interval, 1, None, True, START, START)
    sub = Subscription("S", "M", "P", "CUST", 1000, 100, START, None, None, START, START)
    store.subscriptions["S"] = sub
    return store, sub


def test_months_clamp_to_month_end_without_drift() -> None:
    assert format_time(add_intervals(START, "MONTH", 1)) == "2026-02-28T00:00:00.000+0000"
    assert format_time(add_intervals(START, "MONTH", 2)) == "2026-03-31T00:00:00.000+0000"
    assert format_time(add_intervals(START, "YEAR", 1)) == "2027-01-31T00:00:00.000+0000"


def test_parse_time_formats() -> None:
    assert parse_time("2021-12-24@19:08:56.235+0000", "d") == parse_time(
        "2021-12-24T19:08:56.235Z", "d"
    )
    assert parse_time("2021-12-24T21:08:56.235+02:00", "d") == parse_time(
        "2021-12-24T19:08:56.235Z", "d"
    )
    assert parse_time("2021-12-24", "d") % DAY == 0


def test_bills_once_per_period_even_when_run_twice() -> None:
    store, sub = _store()
    gw = Gateway()
    run_due_billing(store, START - 1, gw)
    assert gw.attempts == []
    run_due_billing(store, START, gw)
    run_due_billing(store, START + DAY, gw)
    assert len(gw.attempts) == 1
    assert gw.attempts[0].amount == 1000
    assert gw.attempts[0].tip_amount == 100
    # Three months later, two more periods (Feb 28, Mar 31) are due.
    later = add_intervals(START, "MONTH", 2)
    run_due_billing(store, later, gw)
    run_due_billing(store, later, gw)
    assert len(gw.attempts) == 3
    assert sub.next_period == 3
    assert all(i.status == "PAID" for i in store.invoices.values())


def test_five_consecutive_failures_deactivate() -> None:
    store, sub = _store()
    gw = Gateway(decline=True)
    run_due_billing(store, START, gw)
    assert len(gw.attempts) == 1
    assert sub.active
    run_due_billing(store, START, gw)  # nothing new is due at the same moment
    assert len(gw.attempts) == 1
    run_due_billing(store, START + 3 * DAY, gw)
    assert len(gw.attempts) == 4
    assert sub.active
    run_due_billing(store, START + 30 * DAY, gw)
    assert len(gw.attempts) == 5
    assert not sub.active
    assert sub.consecutive_failures == 5
    run_due_billing(store, START + 90 * DAY, gw)
    assert len(gw.attempts) == 5


def test_success_after_failures_resets_the_count() -> None:
    store, sub = _store()
    gw = Gateway(decline=True)
    run_due_billing(store, START + 2 * DAY, gw)
    assert len(gw.attempts) == 3
    gw.decline = False
    run_due_billing(store, START + 3 * DAY, gw)
    assert sub.consecutive_failures == 0
    assert sub.active
    assert store.invoices[("S", 0)].status == "PAID"


def test_end_date_stops_billing() -> None:
    store, sub = _store("WEEK")
    sub.end_ms = START + 10 * DAY
    gw = Gateway()
    run_due_billing(store, START + 100 * DAY, gw)
    assert len(gw.attempts) == 2  # day 0 and day 7


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=400 * DAY), min_size=1, max_size=12))
def test_any_sequence_of_runs_bills_each_period_once(offsets: list[int]) -> None:
    store, _ = _store("WEEK")
    gw = Gateway()
    for offset in sorted(offsets):
        run_due_billing(store, START + offset, gw)
    weeks = max(offsets) // (7 * DAY) + 1
    assert len(gw.attempts) == weeks
    assert len({a.idempotency_key for a in gw.attempts}) == weeks


def test_reactivation_resumes_with_the_next_period() -> None:
    store, sub = _store()
    gw = Gateway(decline=True)
    run_due_billing(store, START + 10 * DAY, gw)
    assert not sub.active
    assert store.invoices[("S", 0)].status == "FAILED"
    gw.decline = False
    store.reactivate(sub)
    run_due_billing(store, START + 10 * DAY, gw)
    assert len(gw.attempts) == 5  # the failed period is not retried
    run_due_billing(store, add_intervals(START, "MONTH", 1), gw)
    assert len(gw.attempts) == 6
    assert store.invoices[("S", 1)].status == "PAID"
    assert sub.active
