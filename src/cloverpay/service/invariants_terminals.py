"""Invariants of terminal payments, part of :func:`cloverpay.service.invariants.check_invariants`
(given ``clover_payments``: Clover's v3 payments):

* each recorded terminal payment is a successful v3 payment of that amount;
* each successful v3 payment carrying the ``externalPaymentId`` of one of our attempts
  is recorded, unless that attempt is still pending/unknown;
* never two successful payments for one ``externalPaymentId``;
* a payment voided here is ``VOIDED`` there.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloverpay.service.db import Payment, PaymentAttempt, Refund
from cloverpay.service.domain import OPEN_ATTEMPT_STATES
from cloverpay.service.invariants_webhooks import refund_alerted

if TYPE_CHECKING:
    from cloverpay.service.invariants import CloverPaymentFact

__all__ = ["terminal_payment_problems"]


def terminal_payment_problems(
    session: Session, payments: list[Payment], facts: Iterable[CloverPaymentFact]
) -> list[str]:
    problems: list[str] = []
    by_id = {f.id: f for f in facts}
    attempts = {
        a.external_payment_id: a
        for a in session.scalars(
            select(PaymentAttempt).where(PaymentAttempt.source_kind == "terminal")
        )
        if a.external_payment_id
    }
    terminal_attempt_ids = {a.id for a in attempts.values()}
    recorded = {p.clover_charge_id: p for p in payments if p.attempt_id in terminal_attempt_ids}
    open_voids = set(
        session.scalars(
            select(PaymentAttempt.payment_id).where(
                PaymentAttempt.kind == "void",
                PaymentAttempt.state.in_([s.value for s in OPEN_ATTEMPT_STATES]),
            )
        )
    )
    for pid, p in recorded.items():
        fact = by_id.get(pid)
        if p.voided_at is not None:
            if fact is None or fact.result != "VOIDED":
                problems.append(f"payment {p.id} voided here, v3 payment {pid} is not VOIDED")
            continue
        if fact is not None and fact.result == "VOIDED" and p.id in open_voids:
            continue  # voided at Clover; the void's attempt is being resolved
        if fact is None or fact.result != "SUCCESS":
            problems.append(f"payment {p.id} records v3 payment {pid} not successful")
        elif fact.amount != p.amount:
            problems.append(f"payment {p.id} amount {p.amount} != Clover's {fact.amount}")
        else:
            ours = sum(
                session.scalars(select(Refund.amount).where(Refund.payment_id == p.id)).all()
            )
            open_refunds = sum(
                session.scalars(
                    select(PaymentAttempt.amount).where(
                        PaymentAttempt.payment_id == p.id,
                        PaymentAttempt.kind == "refund",
                        PaymentAttempt.state.in_([s.value for s in OPEN_ATTEMPT_STATES]),
                    )
                ).all()
            )
            ahead_ok = fact.amount_refunded <= ours + open_refunds or refund_alerted(session, p.id)
            if not (ours <= fact.amount_refunded and ahead_ok):
                problems.append(
                    f"payment {p.id} refunded {ours} here, {fact.amount_refunded} at Clover"
                )
    successes: dict[str, list[str]] = {}
    for fact in by_id.values():
        if fact.result == "SUCCESS" and fact.external_payment_id in attempts:
            successes.setdefault(fact.external_payment_id, []).append(fact.id)
    open_states = {s.value for s in OPEN_ATTEMPT_STATES}
    for ext, ids in successes.items():
        if len(ids) > 1:
            problems.append(f"{len(ids)} successful payments for externalPaymentId {ext}")
        if attempts[ext].state in open_states:
            continue
        for pid in ids:
            if pid not in recorded:
                problems.append(f"v3 payment {pid} ({ext}) succeeded at Clover, not recorded")
    return problems
