"""Refunds Clover reports on our payments (app webhooks ``P:<id>``, fetched from Clover).

An app webhook about a payment we recorded may mean a refund happened: ours (the
request path or the reconciler may not have settled it yet) or one made outside the
service (Clover's dashboard, a device). :func:`plan_refunds` (:mod:`._refund_facts`)
fetches the payment's refunds from Clover (``/v1/refunds?charge=`` for Ecommerce
charges; the v3 payment's ``refunds`` for terminal payments), outside any
transaction. :func:`apply_refunds`
then, inside the transaction that marks the inbox row processed, with the payment row
locked, takes each refund Clover shows that no row of ours records:

* a refund carrying our reference (``metadata``, see
  :mod:`~cloverpay.service.services.refund_refs`; for a terminal payment read from
  ``/v1/refunds``, as its v3 refunds carry none) settles
  the ``pending``/``unknown`` attempt it names, a refund or a void of an online payment
  (as the request path or the reconciler would: same transition, same refund row;
  whoever comes second finds the attempt final and changes nothing); if that attempt is
  final already, or of another amount, it is for a person (``refund.needs_attention``).
  Such refunds are taken first, so an equal refund without reference never takes
  their attempt;
* a refund without our reference settles a ``pending``/``unknown`` refund attempt of
  ours on that payment for the same amount that was sent without one either (the
  older rule, for attempts made before the reference); while one of ours that carries
  the reference has that amount and is unresolved, the webhook waits for it
  (:class:`RefundWaitsForOurs`): that Clover echoes ``metadata`` is a guess, so the
  refund may be ours, and the attempt's own answer (or the reconciler's resend with
  its key) tells;
* otherwise it is recorded as a refund of our payment made outside the service: a
  ``refund`` attempt created ``succeeded`` (``source_kind="clover"``, audit
  ``refund_attempt.recorded``, reason "recorded from Clover"), the refund row and the
  ``payment.refunded`` event; provided its amount does not exceed what is left of the
  payment after the refunds recorded. If it does, nothing is recorded: one
  ``refund.needs_attention`` audit row and ``alert`` event per refund, for a person.
  If it fits only once an unresolved refund of ours proves failed, the webhook is
  retried later (the reconciler resolves ours meanwhile).

The refund ids are unique (``refunds.clover_refund_id``, ``payment_attempts.clover_refund_id``):
a concurrent duplicate loses at the constraint.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloverpay.service.db import Payment, PaymentAttempt, Refund
from cloverpay.service.domain import OPEN_ATTEMPT_STATES, AttemptKind, AttemptState
from cloverpay.service.services.clover_calls import CallOutcome
from cloverpay.service.services.intents import add_recorded_attempt
from cloverpay.service.services.refund_refs import carried_reference
from cloverpay.service.services.refunds import (
    REST_SOURCE_KIND,
    apply_refund_outcome,
    record_refund,
)
from cloverpay.service.webhooks._attention import needs_attention
from cloverpay.service.webhooks._refund_facts import (
    RefundFact,
    SyncRefunds,
    fetch_refunds,
    open_ours,
    plan_refunds,
)
from cloverpay.service.webhooks._retry import RetryLater

__all__ = [
    "EXTERNAL_REFUND_SOURCE",
    "RECORDED_FROM_CLOVER",
    "RefundFact",
    "RefundWaitsForOurs",
    "SyncRefunds",
    "apply_refunds",
    "fetch_refunds",
    "plan_refunds",
]

#: ``payment_attempts.source_kind`` of a refund made outside the service.
EXTERNAL_REFUND_SOURCE = "clover"
RECORDED_FROM_CLOVER = "recorded from Clover"
KEY_NAMESPACE = "cloverpay-clover-refund"


def _recorded(s: Session, refund_id: str) -> bool:
    if s.scalar(select(Refund.id).where(Refund.clover_refund_id == refund_id)) is not None:
        return True
    return (
        s.scalar(select(PaymentAttempt.id).where(PaymentAttempt.clover_refund_id == refund_id))
        is not None
    )


def _sum(s: Session, payment_id: str, states: list[str]) -> int:
    total = s.scalar(
        select(func.coalesce(func.sum(PaymentAttempt.amount), 0)).where(
            PaymentAttempt.payment_id == payment_id,
            PaymentAttempt.kind == AttemptKind.REFUND.value,
            PaymentAttempt.state.in_(states),
        )
    )
    return int(total or 0)


class RefundWaitsForOurs(RetryLater):
    """A refund from Clover fits only if an unresolved refund of ours failed."""


def apply_refunds(s: Session, effect: SyncRefunds, *, actor: str, now: datetime) -> str:
    """Settle or record each refund Clover shows that no row records (idempotent).
    Raises :class:`RefundWaitsForOurs` when one must wait for our own attempt's outcome."""
    # NO KEY UPDATE on PostgreSQL: serializes with refund_payment's FOR UPDATE (what is
    # left to refund) but not with the FOR KEY SHARE that inserting a refund row takes
    # (settle_refund locks the attempt first, then inserts: no deadlock with us).
    payment = s.scalar(
        select(Payment).where(Payment.id == effect.payment_id).with_for_update(key_share=True)
    )
    if payment is None:
        return f"no payment {effect.payment_id}"
    done: list[str] = []
    # those carrying our reference first: an equal one without it cannot take their attempt
    for fact in sorted(effect.refunds, key=lambda f: f.reference is None):
        done.append(_apply_one(s, payment, fact, actor=actor, now=now))
    return "; ".join(done)


def _apply_one(s: Session, payment: Payment, fact: RefundFact, *, actor: str, now: datetime) -> str:
    if fact.status not in (None, "succeeded"):
        return f"refund {fact.id} is {fact.status} at Clover"
    # Lock our open refund attempts of the payment first: a request or the reconciler
    # settling one of them right now holds its row; we wait for that commit, and the
    # checks below (new statements) see it. Checking first could miss it and take its
    # refund for one made outside the service.
    open_states = [st.value for st in OPEN_ATTEMPT_STATES]
    candidates = s.scalars(
        open_ours(payment.id).with_for_update().execution_options(populate_existing=True)
    ).all()
    if _recorded(s, fact.id):
        return f"refund {fact.id} recorded already"
    if fact.currency is not None and fact.currency != payment.currency.lower():
        return _needs_attention(
            s, payment, fact, f"refund currency {fact.currency} is not {payment.currency}", actor
        )
    if fact.reference is not None:
        mine = _referenced(s, payment, fact.reference, candidates)
        if mine is not None:
            return _settle_referenced(s, payment, mine, fact, actor=actor, now=now)
    # without our reference: the older rule (charge + amount), for attempts sent without
    # one; one sent with it is settled by its own answer (or its reference), not guessed
    ours = next(
        (
            a
            for a in candidates
            if a.kind == AttemptKind.REFUND.value
            and carried_reference(a) is None
            and a.amount == fact.amount
        ),
        None,
    )
    if ours is not None:
        apply_refund_outcome(
            s, ours, CallOutcome("succeeded", clover_id=fact.id), actor=actor, now=now
        )
        return f"settled refund attempt {ours.id} with refund {fact.id}"
    equal = next((a for a in candidates if carried_reference(a) and a.amount == fact.amount), None)
    if equal is not None:
        raise RefundWaitsForOurs(
            f"refund {fact.id} ({fact.amount}) carries no reference of ours and our "
            f"{equal.kind} attempt {equal.id} of that amount is unresolved; waiting for "
            "its own answer"
        )
    left = payment.amount - _sum(s, payment.id, [AttemptState.SUCCEEDED.value])
    if fact.amount > left:
        return _needs_attention(
            s, payment, fact, f"refund {fact.amount} exceeds the {left} left to refund", actor
        )
    reserved = _sum(s, payment.id, open_states)
    if fact.amount > left - reserved:
        raise RefundWaitsForOurs(
            f"refund {fact.id} ({fact.amount}) fits only if our unresolved refunds "
            f"({reserved}) of payment {payment.id} failed; waiting for them"
        )
    return _record_external(s, payment, fact, actor=actor, now=now)


def _referenced(
    s: Session, payment: Payment, reference: str, candidates: Sequence[PaymentAttempt]
) -> PaymentAttempt | None:
    """Our attempt on this payment that ``reference`` names (the locked open one, or a
    final one); None when it names none (treated as a refund without reference)."""
    for attempt in candidates:
        if attempt.id == reference:
            return attempt
    named = s.get(PaymentAttempt, reference)
    if named is None or named.payment_id != payment.id:
        return None
    if named.kind == AttemptKind.REFUND.value or (
        named.kind == AttemptKind.VOID.value and named.source_kind == REST_SOURCE_KIND
    ):
        return named
    return None


def _settle_referenced(
    s: Session,
    payment: Payment,
    attempt: PaymentAttempt,
    fact: RefundFact,
    *,
    actor: str,
    now: datetime,
) -> str:
    """Settle the attempt a refund's reference names, as its request's answer would; a
    different amount, or an attempt already final with another outcome, is for a person
    (rule 7), never an update."""
    if AttemptState(attempt.state) not in OPEN_ATTEMPT_STATES:
        return _needs_attention(
            s,
            payment,
            fact,
            f"refund {fact.id} carries the reference of our {attempt.kind} attempt "
            f"{attempt.id}, which is {attempt.state}"
            + (f" with refund {attempt.clover_refund_id}" if attempt.clover_refund_id else ""),
            actor,
        )
    if attempt.amount != fact.amount:
        return _needs_attention(
            s,
            payment,
            fact,
            f"refund {fact.id} of {fact.amount} carries the reference of our "
            f"{attempt.kind} attempt {attempt.id} of {attempt.amount}",
            actor,
        )
    apply_refund_outcome(
        s, attempt, CallOutcome("succeeded", clover_id=fact.id), actor=actor, now=now
    )
    return f"settled {attempt.kind} attempt {attempt.id} with refund {fact.id} (by reference)"


def _record_external(
    s: Session, payment: Payment, fact: RefundFact, *, actor: str, now: datetime
) -> str:
    attempt = add_recorded_attempt(
        s,
        key_namespace=KEY_NAMESPACE,
        merchant_id=payment.merchant_id,
        kind=AttemptKind.REFUND,
        amount=fact.amount,
        currency=payment.currency,
        source_kind=EXTERNAL_REFUND_SOURCE,
        request={"charge": payment.clover_charge_id, "reason": None},
        actor=actor,
        now=now,
        reason=f"{RECORDED_FROM_CLOVER}: refund {fact.id} made outside the service",
        audit={"payment_id": payment.id, "clover_refund_id": fact.id, "amount": fact.amount},
        invoice_id=payment.invoice_id,
        payment_id=payment.id,
        clover_refund_id=fact.id,
    )
    refund = record_refund(s, attempt, fact.id, reason=RECORDED_FROM_CLOVER, now=now)
    return f"recorded refund {refund.id} from Clover (refund {fact.id}, {fact.amount})"


def _needs_attention(
    s: Session, payment: Payment, fact: RefundFact, problem: str, actor: str
) -> str:
    return needs_attention(
        s,
        topic="refund.needs_attention",
        key=fact.id,
        merchant_id=payment.merchant_id,
        entity_type="payment",
        entity_id=payment.id,
        problem=problem,
        data={
            "payment_id": payment.id,
            "clover_charge_id": payment.clover_charge_id,
            "clover_refund_id": fact.id,
            "amount": fact.amount,
        },
        actor=actor,
    )
