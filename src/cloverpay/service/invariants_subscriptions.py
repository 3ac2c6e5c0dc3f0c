"""Invariants of subscriptions, part of :func:`cloverpay.service.invariants.check_invariants`:

* one invoice per (subscription, period), each on a period boundary of its
  subscription (anchor + n intervals) and not ahead of the period being billed;
* every stored subscription transition is in the table;
* a subscription's ``consecutive_failures`` is not more than the failed billing
  attempts of its current period's invoice (derived, never invented);
* a canceled or deactivated subscription has no billing scheduled.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloverpay.service.db import AuditLog, Invoice, PaymentAttempt, Plan, Subscription
from cloverpay.service.domain.subscription_states import (
    BILLABLE_SUBSCRIPTION_STATES,
    subscription_transition_allowed,
)
from cloverpay.service.services.subscriptions._periods import period_bounds

__all__ = ["subscription_problems"]


def subscription_problems(session: Session) -> list[str]:
    problems: list[str] = []
    subs = {s.id: s for s in session.scalars(select(Subscription))}
    plans = {p.id: p for p in session.scalars(select(Plan))}
    invoices = session.scalars(select(Invoice).where(Invoice.subscription_id.is_not(None))).all()
    per_period = Counter((i.subscription_id, i.period_start) for i in invoices)
    for (sub_id, start), n in per_period.items():
        if n > 1:
            problems.append(f"subscription {sub_id}: {n} invoices for the period at {start}")
    for inv in invoices:
        sub = subs.get(inv.subscription_id or "")
        if sub is None or inv.period_start is None:
            problems.append(f"invoice {inv.number}: subscription or period missing")
            continue
        plan = plans[sub.plan_id]
        ok = any(
            period_bounds(sub.anchor_at, plan.interval, plan.interval_count, k)[0]
            == inv.period_start
            for k in range(sub.period_index + 1)
        )
        if not ok:
            problems.append(
                f"invoice {inv.number}: {inv.period_start} is no billed period of {sub.id}"
            )
    for sub in subs.values():
        if sub.billing_mode == "scheduler":
            current = [
                i
                for i in invoices
                if i.subscription_id == sub.id and i.period_start == sub.current_period_start
            ]
            failed = 0
            if current:
                failed = len(
                    session.scalars(
                        select(PaymentAttempt.id).where(
                            PaymentAttempt.invoice_id == current[0].id,
                            PaymentAttempt.state == "failed",
                        )
                    ).all()
                )
            if sub.consecutive_failures > failed:
                problems.append(
                    f"subscription {sub.id}: {sub.consecutive_failures} failures recorded, "
                    f"{failed} failed attempts"
                )
        billable = {st.value for st in BILLABLE_SUBSCRIPTION_STATES}
        if sub.status not in billable and sub.next_billing_at is not None:
            problems.append(f"subscription {sub.id} is {sub.status} with billing scheduled")
    rows = session.execute(
        select(AuditLog.entity_id, AuditLog.from_state, AuditLog.to_state).where(
            AuditLog.entity_type == "subscription",
            AuditLog.from_state.is_not(None),
            AuditLog.to_state.is_not(None),
        )
    ).all()
    for entity_id, src, dst in rows:
        if src == dst or not subscription_transition_allowed(str(src), str(dst)):
            problems.append(f"subscription {entity_id}: stored transition {src}->{dst} not allowed")
    return problems
