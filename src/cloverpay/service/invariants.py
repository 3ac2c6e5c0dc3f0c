"""Invariants of the books, checked after every test scenario (RELIABILITY.md).

:func:`check_invariants` returns the list of violations (empty when all hold):

* every payment's Clover charge succeeded at Clover, and every succeeded charge on an
  order of ours is recorded as exactly one payment, unless an attempt on that order
  is still pending/unknown (pass ``clover_charges``: what ``charges.list()`` says);
  refunds recorded = refunded at Clover, give or take refund attempts still open;
* amounts applied to invoices = sum of payments; no invoice is over-paid; an invoice's
  status agrees with its derived totals;
* refunded <= captured for every payment; refund rows match succeeded refund attempts;
* every stored transition (audit ``from_state -> to_state``) is in the tables;
* every non-final attempt older than the first reconciler step has a scheduled check.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloverpay.service.db import AuditLog, Invoice, Payment, PaymentAttempt, Refund, utcnow
from cloverpay.service.domain import (
    OPEN_ATTEMPT_STATES,
    AttemptState,
    InvoiceStatus,
    is_allowed,
)

__all__ = ["CloverChargeFact", "check_invariants"]


@dataclass(frozen=True, slots=True)
class CloverChargeFact:
    """What Clover says about one charge."""

    id: str
    status: str
    amount: int
    amount_refunded: int
    order: str | None


def _transitions_ok(session: Session) -> list[str]:
    problems = []
    rows = session.execute(
        select(AuditLog.entity_type, AuditLog.entity_id, AuditLog.from_state, AuditLog.to_state)
        .where(AuditLog.from_state.is_not(None), AuditLog.to_state.is_not(None))
        .where(AuditLog.entity_type.in_(("invoice", "payment_attempt")))
    ).all()
    for entity_type, entity_id, src, dst in rows:
        if src is None or dst is None:
            continue
        try:
            if entity_type == "invoice":
                ok = src != dst and is_allowed(InvoiceStatus(src), InvoiceStatus(dst))
            else:
                ok = src != dst and is_allowed(AttemptState(src), AttemptState(dst))
        except ValueError:
            ok = False
        if not ok:
            problems.append(
                f"{entity_type} {entity_id}: stored transition {src}->{dst} not allowed"
            )
    return problems


def check_invariants(
    session: Session,
    *,
    clover_charges: Iterable[CloverChargeFact] | None = None,
    now: datetime | None = None,
    first_step_s: int = 60,
) -> list[str]:
    problems: list[str] = []
    now = now or utcnow()
    payments = session.scalars(select(Payment)).all()
    by_charge = {p.clover_charge_id: p for p in payments}
    if len(by_charge) != len(payments):
        problems.append("two payments record the same Clover charge")

    if clover_charges is not None:
        our_orders = set(session.scalars(select(Invoice.clover_order_id)).all()) - {None}
        facts = {c.id: c for c in clover_charges}
        succeeded = {
            c.id for c in facts.values() if c.status == "succeeded" and c.order in our_orders
        }
        in_flight_orders = set(
            session.scalars(
                select(PaymentAttempt.clover_order_id).where(
                    PaymentAttempt.state.in_([s.value for s in OPEN_ATTEMPT_STATES])
                )
            ).all()
        )
        # A charge is allowed to be unrecorded only while an attempt on its order is
        # still pending or unknown (the reconciler will record it).
        missing = {c for c in succeeded - set(by_charge) if facts[c].order not in in_flight_orders}
        if missing:
            problems.append(f"charges succeeded at Clover but not recorded: {sorted(missing)}")
        for p in payments:
            fact = facts.get(p.clover_charge_id)
            if fact is None or fact.status != "succeeded":
                problems.append(f"payment {p.id} records charge {p.clover_charge_id} not succeeded")
            elif fact.amount != p.amount:
                problems.append(f"payment {p.id} amount {p.amount} != Clover's {fact.amount}")
            else:
                ours = sum(
                    r.amount
                    for r in session.scalars(select(Refund).where(Refund.payment_id == p.id))
                )
                in_flight = sum(
                    session.scalars(
                        select(PaymentAttempt.amount).where(
                            PaymentAttempt.payment_id == p.id,
                            PaymentAttempt.kind == "refund",
                            PaymentAttempt.state.in_([s.value for s in OPEN_ATTEMPT_STATES]),
                        )
                    )
                )
                # Clover may be ahead of us by refunds still pending/unknown here.
                if not ours <= fact.amount_refunded <= ours + in_flight:
                    problems.append(
                        f"payment {p.id} refunded {ours} here, {fact.amount_refunded} at Clover"
                    )

    for inv in session.scalars(select(Invoice)).all():
        paid = sum(p.amount for p in payments if p.invoice_id == inv.id)
        if paid > inv.total:
            problems.append(f"invoice {inv.number} over-paid: {paid} > {inv.total}")
        expected = None
        if paid >= inv.total and paid > 0:
            expected = InvoiceStatus.PAID.value
        elif paid > 0 and inv.status != InvoiceStatus.UNCOLLECTIBLE.value:
            expected = InvoiceStatus.PARTIALLY_PAID.value
        if expected is not None and inv.status != expected:
            problems.append(f"invoice {inv.number} is {inv.status}, payments say {expected}")
        if paid == 0 and inv.status in (
            InvoiceStatus.PAID.value,
            InvoiceStatus.PARTIALLY_PAID.value,
        ):
            problems.append(f"invoice {inv.number} is {inv.status} with no payment")

    for p in payments:
        refunded = session.scalar(
            select(func.coalesce(func.sum(Refund.amount), 0)).where(Refund.payment_id == p.id)
        )
        if int(refunded or 0) > p.amount:
            problems.append(f"payment {p.id} refunded {refunded} > captured {p.amount}")
        attempt = session.get(PaymentAttempt, p.attempt_id)
        if attempt is None or attempt.state != AttemptState.SUCCEEDED.value:
            problems.append(f"payment {p.id} without a succeeded attempt")

    for r in session.scalars(select(Refund)).all():
        attempt = session.get(PaymentAttempt, r.attempt_id)
        if attempt is None or attempt.state != AttemptState.SUCCEEDED.value:
            problems.append(f"refund {r.id} without a succeeded attempt")
    succeeded_attempts = session.scalars(
        select(PaymentAttempt).where(PaymentAttempt.state == AttemptState.SUCCEEDED.value)
    ).all()
    recorded = {p.attempt_id for p in payments} | {
        r for r in session.scalars(select(Refund.attempt_id)).all()
    }
    for a in succeeded_attempts:
        if a.id not in recorded:
            problems.append(f"attempt {a.id} succeeded but nothing recorded")

    problems.extend(_transitions_ok(session))

    cutoff = now - timedelta(seconds=first_step_s)
    for a in session.scalars(
        select(PaymentAttempt).where(
            PaymentAttempt.state.in_([s.value for s in OPEN_ATTEMPT_STATES]),
            PaymentAttempt.created_at <= cutoff,
        )
    ).all():
        if a.next_check_at is None:
            problems.append(f"attempt {a.id} is {a.state} with no scheduled check")
    return problems
