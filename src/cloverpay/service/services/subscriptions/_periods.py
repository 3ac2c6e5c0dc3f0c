"""Billing periods: period ``n`` starts ``n × interval_count`` intervals after the anchor.

Months are counted from the anchor each time (Jan 31 → Feb 28/29 → Mar 31), so nothing
drifts; a year is twelve months. Pure functions, no clock.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta

__all__ = ["add_intervals", "period_bounds", "period_index_at"]


def add_intervals(anchor: datetime, interval: str, count: int) -> datetime:
    if interval == "week":
        return anchor + timedelta(weeks=count)
    if interval not in ("month", "year"):
        raise ValueError(f"unknown interval {interval!r}")
    months = count * (12 if interval == "year" else 1)
    total = anchor.year * 12 + (anchor.month - 1) + months
    year, month0 = divmod(total, 12)
    day = min(anchor.day, calendar.monthrange(year, month0 + 1)[1])
    return anchor.replace(year=year, month=month0 + 1, day=day)


def period_bounds(
    anchor: datetime, interval: str, interval_count: int, index: int
) -> tuple[datetime, datetime]:
    """Start and end (exclusive) of period ``index``."""
    start = add_intervals(anchor, interval, index * interval_count)
    end = add_intervals(anchor, interval, (index + 1) * interval_count)
    return start, end


def period_index_at(anchor: datetime, interval: str, interval_count: int, at: datetime) -> int:
    """The period that contains ``at`` (0 for anything before the anchor)."""
    if at < anchor:
        return 0
    index = 0
    while add_intervals(anchor, interval, (index + 1) * interval_count) <= at:
        index += 1
    return index
