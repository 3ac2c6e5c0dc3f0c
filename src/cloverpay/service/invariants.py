"""Invariants of the books, checked after every test scenario (RELIABILITY.md).

:func:`check_invariants` returns the list of violations (empty when all hold):

* every payment's Clover charge succeeded at Clover, and every succeeded charge on an
  order of ours is recorded as exactly one payment, unless an attempt on that order
  is still pending/unknown (pass ``clover_charges``: what ``charges.list()`` says);
  refunds recorded = refunded at Clover, give or take refund attempts still open (and
  refunds made outside the service that a ``refund.needs_attention`` alert names);
* amounts applied to invoices = sum of payments; no invoice is over-paid; an invoice's
  status agrees with its derived totals;
* refunded <= captured for every payment; refund rows match succeeded refund attempts;
  a voided payment has no refunds and no longer counts towards its invoice;
* every stored transition (audit ``from_state -> to_state``) is in the tables;
* every non-final attempt older than the first reconciler step has a scheduled check;
* subscriptions: see :mod:`cloverpay.service.invariants_subscriptions`;
* webhooks and Hosted Checkout: see :mod:`cloverpay.service.invariants_webhooks`;
* terminal payments (pass ``clover_payments``: Clover's v3 payments): see
  :mod:`cloverpay.service.invariants_terminals`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloverpay.service.db import (
    AuditLog,
    Authorization,
    Invoice,
    Payment,
    PaymentAttempt,
    Refund,
    utcnow,
)
from cloverpay.service.domain import (
    OPEN_ATTEMPT_STATES,
    AttemptState,
    AuthorizationStatus,
    InvoiceStatus,
    is_allowed,
)
from cloverpay.service.invariants_subscriptions import subscription_problems
from cloverpay.service.invariants_terminals import terminal_payment_problems
from cloverpay.service.invariants_webhooks import (
    checkout_charge_problems,
    refund_alerted,
    webhook_problems,
)

__all__ = ["CloverChargeFact", "CloverPaymentFact", "check_invariants"]


@dataclass(frozen=True, slots=True)
class CloverChargeFact:
    """What Clover says about one charge."""

    id: str
    status: str
    amount: int
    amount_refunded: int
    order: str | None
    #: ``metadata.checkoutSessionId`` of a Hosted Checkout charge.
    checkout_session: str | None = None
    #: What was captured, when Clover says (a pre-authorization captured in part).
    amount_captured: int | None = None
    captured: bool | None = None


@dataclass(frozen=True, slots=True)
class CloverPaymentFact:
    """What Clover's v3 payments view says about one (terminal) payment."""

    id: str
    result: str
    amount: int
    amount_refunded: int
    external_payment_id: str | None


def _transitions_ok(session: Session) -> list[str]:
    problems = []
    rows = session.execute(
        select(AuditLog.entity_type, AuditLog.entity_id, AuditLog.from_state, AuditLog.to_state)
        .where(AuditLog.from_state.is_not(None), AuditLog.to_state.is_not(None))
        .where(AuditLog.entity_type.in_(("invoice", "payment_attempt", "authorization")))
    ).all()
    for entity_type, entity_id, src, dst in rows:
        if src is None or dst is None:
            continue
        try:
            if entity_type == "invoice":
                ok = src != dst and is_allowed(InvoiceStatus(src), InvoiceStatus(dst))
            elif entity_type == "authorization":
                ok = src != dst and is_allowed(AuthorizationStatus(src), AuthorizationStatus(dst))
            else:
                ok = src != dst and is_allowed(AttemptState(src), AttemptState(dst))
        except ValueError:
            ok = False
        if not ok:
            problems.append(
                f"{entity_type} {entity_id}: stored transition {src}->{dst} not allowed"
            )
    return problems


def _authorizations_ok(
    session: Session,
    payments: Iterable[Payment],
    clover_charges: Iterable[CloverChargeFact] | None,
    problems: list[str],
) -> set[str]:
    """Pre-authorizations: one per succeeded authorize attempt; captured ones have
    exactly one payment of what was captured, voided ones a succeeded void attempt;
    Clover agrees on captured or not. Returns the attempts they account for."""
    accounted: set[str] = set()
    by_attempt = {p.attempt_id: p for p in payments}
    facts = {c.id: c for c in clover_charges} if clover_charges is not None else None
    auths = session.scalars(select(Authorization)).all()
    auth_attempts = {a.attempt_id for a in auths}
    for a in session.scalars(
        select(PaymentAttempt).where(
            PaymentAttempt.kind == "charge",
            PaymentAttempt.capture.is_(False),
            PaymentAttempt.state == AttemptState.SUCCEEDED.value,
        )
    ).all():
        if a.id not in auth_attempts:
            problems.append(f"authorize attempt {a.id} succeeded without an authorization")
    for auth in auths:
        accounted.add(auth.attempt_id)
        acts = session.scalars(
            select(PaymentAttempt).where(
                PaymentAttempt.authorization_id == auth.id,
                PaymentAttempt.state == AttemptState.SUCCEEDED.value,
            )
        ).all()
        captures = [x for x in acts if x.kind == "capture"]
        voids = [x for x in acts if x.kind == "void"]
        accounted.update(x.id for x in voids)
        paid = [by_attempt[x.id] for x in captures if x.id in by_attempt]
        if auth.status == AuthorizationStatus.CAPTURED.value:
            if len(captures) != 1 or len(paid) != 1 or voids:
                problems.append(f"authorization {auth.id} captured: {len(paid)} payments")
            elif paid[0].amount != auth.amount_captured or auth.amount_captured > auth.amount:
                problems.append(f"authorization {auth.id} captured amount disagrees")
        elif auth.status == AuthorizationStatus.VOIDED.value:
            if len(voids) != 1 or captures:
                problems.append(f"authorization {auth.id} voided without one void")
        elif acts:
            problems.append(f"authorization {auth.id} authorized after a capture or void")
        in_flight = session.scalar(
            select(func.count())
            .select_from(PaymentAttempt)
            .where(
                PaymentAttempt.authorization_id == auth.id,
                PaymentAttempt.state.in_([s.value for s in OPEN_ATTEMPT_STATES]),
            )
        )
        if facts is not None and not in_flight:  # Clover may be ahead while one is open
            fact = facts.get(auth.clover_charge_id)
            captured = auth.status == AuthorizationStatus.CAPTURED.value
            if fact is None or fact.status != "succeeded":
                problems.append(f"authorization {auth.id}: Clover has no such authorized charge")
            elif fact.captured is not None and bool(fact.captured) != captured:
                problems.append(f"authorization {auth.id} is {auth.status}, Clover disagrees")
            elif auth.status == AuthorizationStatus.VOIDED.value and (
                fact.amount_refunded < auth.amount
            ):
                problems.append(f"authorization {auth.id} voided here, not released at Clover")
    return accounted


def check_invariants(
    session: Session,
    *,
    clover_charges: Iterable[CloverChargeFact] | None = None,
    now: datetime | None = None,
    first_step_s: int = 60,
    clover_payments: Iterable[CloverPaymentFact] | None = None,
) -> list[str]:
    problems: list[str] = []
    now = now or utcnow()
    payments = session.scalars(select(Payment)).all()
    by_charge = {p.clover_charge_id: p for p in payments}
    if len(by_charge) != len(payments):
        problems.append("two payments record the same Clover charge")

    capture_attempts = set(
        session.scalars(select(PaymentAttempt.id).where(PaymentAttempt.kind == "capture")).all()
    )
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
        terminal_attempts = set(
            session.scalars(
                select(PaymentAttempt.id).where(PaymentAttempt.source_kind == "terminal")
            ).all()
        )
        for p in payments:
            if p.attempt_id in terminal_attempts:
                continue  # a v3 payment, checked against clover_payments
            fact = facts.get(p.clover_charge_id)
            if fact is None or fact.status != "succeeded":
                problems.append(f"payment {p.id} records charge {p.clover_charge_id} not succeeded")
            elif (
                fact.amount_captured if p.attempt_id in capture_attempts else fact.amount
            ) != p.amount:
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
                            PaymentAttempt.kind.in_(("refund", "void")),
                            PaymentAttempt.state.in_([s.value for s in OPEN_ATTEMPT_STATES]),
                        )
                    )
                )
                # Clover may be ahead of us by refunds still pending/unknown here, or
                # by a refund made outside the service that a person was alerted about.
                ahead_ok = fact.amount_refunded <= ours + in_flight or refund_alerted(session, p.id)
                if not (ours <= fact.amount_refunded and ahead_ok):
                    problems.append(
                        f"payment {p.id} refunded {ours} here, {fact.amount_refunded} at Clover"
                    )

    for inv in session.scalars(select(Invoice)).all():
        # a voided payment no longer counts (Clover reversed it)
        paid = sum(p.amount for p in payments if p.invoice_id == inv.id and p.voided_at is None)
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
    recorded = (
        {p.attempt_id for p in payments}
        | {p.void_attempt_id for p in payments if p.void_attempt_id}
        | set(session.scalars(select(Refund.attempt_id)).all())
    )
    recorded |= _authorizations_ok(session, payments, clover_charges, problems)
    for p in payments:
        if (p.voided_at is None) != (p.void_attempt_id is None):
            problems.append(f"payment {p.id} half voided")
        if p.voided_at is not None and session.scalar(
            select(func.count()).select_from(Refund).where(Refund.payment_id == p.id)
        ):
            problems.append(f"payment {p.id} voided and refunded")
    for a in succeeded_attempts:
        if a.id not in recorded:
            problems.append(f"attempt {a.id} succeeded but nothing recorded")

    problems.extend(_transitions_ok(session))
    problems.extend(subscription_problems(session))
    problems.extend(webhook_problems(session))
    if clover_charges is not None:
        problems.extend(checkout_charge_problems(session, facts.values(), set(by_charge)))
    if clover_payments is not None:
        problems.extend(terminal_payment_problems(session, list(payments), clover_payments))

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
