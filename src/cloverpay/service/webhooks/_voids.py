"""Voids Clover reports on our payments (app webhooks ``P:<id>``, the v3 payment fetched).

A payment can be voided outside the service: in Clover's dashboard, or on the device.
An app webhook about a payment we recorded makes :func:`plan_void` fetch the v3 payment
(``GET /v3/merchants/{mId}/payments/{id}``) outside any transaction; only when Clover's
answer says ``result: VOIDED`` is anything planned (the webhook body is never read for
state). :func:`apply_void` then, in the transaction that marks the inbox row processed,
with the payment row locked:

* nothing, when the payment is voided here already (a redelivery, a second notice, or
  our own void settled first);
* retries later (:class:`VoidWaitsForOurs`) while a void of ours on that payment is
  pending or unknown: its terminal owner or the reconciler settles it, exactly once,
  and the next try finds the payment voided;
* otherwise records the void as a terminal void is recorded
  (:func:`~cloverpay.service.services.voids.record_void`): a ``void`` attempt
  created ``succeeded`` (``source_kind="clover"``, audit ``void_attempt.recorded`` by
  actor ``webhook``, reason "recorded from Clover"), ``payments.voided_at`` and
  ``void_attempt_id`` (unique), the invoice's status derived again, ``payment.voided``;
* a person is alerted instead (one ``void.needs_attention`` audit row and ``alert``
  event per Clover payment) when it cannot be matched: refunds are recorded on the
  payment (Clover refuses to void a refunded payment, so the books disagree), or
  Clover's amount is not ours.

A ``VOIDED`` v3 payment that no payment of ours records but whose ``externalPaymentId``
is one of our terminal sale attempts (a sale we never recorded) is alerted too, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloverpay.api import NotFoundError
from cloverpay.service.db import Merchant, Payment, PaymentAttempt, Refund
from cloverpay.service.domain import OPEN_ATTEMPT_STATES, AttemptKind
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.intents import add_recorded_attempt
from cloverpay.service.services.voids import record_void
from cloverpay.service.webhooks._attention import needs_attention
from cloverpay.service.webhooks._retry import RetryLater

__all__ = [
    "EXTERNAL_VOID_SOURCE",
    "AlertVoid",
    "RecordVoid",
    "V3PaymentFact",
    "VoidWaitsForOurs",
    "apply_alert_void",
    "apply_void",
    "fetch_v3_payment",
    "plan_unrecorded_void",
    "plan_void",
]

#: ``payment_attempts.source_kind`` of a void made outside the service.
EXTERNAL_VOID_SOURCE = "clover"
KEY_NAMESPACE = "cloverpay-clover-void"
VOIDED = "VOIDED"


@dataclass(frozen=True, slots=True)
class V3PaymentFact:
    """A v3 payment as Clover reports it (what voids and terminal refunds need)."""

    id: str
    result: str | None
    amount: int | None
    external_payment_id: str | None
    void_reason: str | None
    refunds: tuple[tuple[str, int, int | None], ...] = ()


@dataclass(frozen=True, slots=True)
class RecordVoid:
    """Clover shows one of our payments ``VOIDED``; we do not record it voided yet."""

    merchant_id: str
    payment_id: str
    fact: V3PaymentFact


@dataclass(frozen=True, slots=True)
class AlertVoid:
    """Clover shows a payment ``VOIDED`` that is tied to an attempt of ours but that no
    payment of ours records."""

    merchant_id: str
    attempt_id: str
    fact: V3PaymentFact


class VoidWaitsForOurs(RetryLater):
    """Clover voided the payment while a void of ours on it is unresolved."""


def fetch_v3_payment(
    ctx: ServiceContext, merchant: Merchant, clover_payment_id: str
) -> V3PaymentFact | None:
    """Clover's v3 payment, or None when Clover has no such payment. Any other failure
    raises (the inbox row is retried later)."""
    with ctx.gateway.client(merchant) as clover:
        try:
            p = clover.platform.payments.retrieve(clover_payment_id)
        except NotFoundError:
            return None
    extra: dict[str, Any] = p.model_extra or {}
    elements: list[dict[str, Any]] = (p.refunds or {}).get("elements", [])
    return V3PaymentFact(
        id=p.id or clover_payment_id,
        result=str(p.result) if p.result is not None else None,
        amount=p.amount,
        external_payment_id=p.external_payment_id,
        void_reason=str(extra.get("voidReason")) if extra.get("voidReason") else None,
        refunds=tuple(
            (str(r["id"]), int(r.get("amount") or 0), r.get("createdTime"))
            for r in elements
            if r.get("id")
        ),
    )


def plan_void(payment: Payment, fact: V3PaymentFact | None) -> RecordVoid | None:
    """A void to record, when Clover's v3 payment says VOIDED and ours is not voided."""
    if fact is None or fact.result != VOIDED or payment.voided_at is not None:
        return None
    return RecordVoid(payment.merchant_id, payment.id, fact)


def plan_unrecorded_void(
    ctx: ServiceContext, merchant: Merchant, fact: V3PaymentFact | None
) -> AlertVoid | None:
    """A ``VOIDED`` v3 payment we never recorded, whose externalPaymentId is one of our
    terminal sale attempts (any other payment of the merchant is none of ours)."""
    if fact is None or fact.result != VOIDED or not fact.external_payment_id:
        return None
    with ctx.sessions() as s:
        attempt_id = s.scalar(
            select(PaymentAttempt.id).where(
                PaymentAttempt.merchant_id == merchant.id,
                PaymentAttempt.external_payment_id == fact.external_payment_id,
            )
        )
    return None if attempt_id is None else AlertVoid(merchant.id, attempt_id, fact)


def apply_void(s: Session, effect: RecordVoid, *, actor: str, now: datetime) -> str:
    """Record Clover's void of our payment (idempotent); see the module's docstring."""
    payment = s.scalar(select(Payment).where(Payment.id == effect.payment_id).with_for_update())
    if payment is None:
        return f"no payment {effect.payment_id}"
    if payment.voided_at is not None:
        return f"payment {payment.id} voided already"
    fact = effect.fact
    ours = s.scalar(
        select(PaymentAttempt.id).where(
            PaymentAttempt.payment_id == payment.id,
            PaymentAttempt.kind == AttemptKind.VOID.value,
            PaymentAttempt.state.in_([st.value for st in OPEN_ATTEMPT_STATES]),
        )
    )
    if ours is not None:
        raise VoidWaitsForOurs(
            f"payment {payment.id} is VOIDED at Clover while our void {ours} is unresolved; "
            "waiting for it"
        )
    refunded = int(
        s.scalar(
            select(func.coalesce(func.sum(Refund.amount), 0)).where(Refund.payment_id == payment.id)
        )
        or 0
    )
    problem = None
    if refunded:
        problem = f"VOIDED at Clover, but {refunded} of it is recorded refunded here"
    elif fact.amount is not None and fact.amount != payment.amount:
        problem = f"VOIDED at Clover for {fact.amount}, our payment is {payment.amount}"
    if problem is not None:
        return needs_attention(
            s,
            topic="void.needs_attention",
            key=fact.id,
            merchant_id=payment.merchant_id,
            entity_type="payment",
            entity_id=payment.id,
            problem=problem,
            data={"payment_id": payment.id, "clover_payment_id": fact.id, "amount": fact.amount},
            actor=actor,
        )
    attempt = add_recorded_attempt(
        s,
        key_namespace=KEY_NAMESPACE,
        merchant_id=payment.merchant_id,
        kind=AttemptKind.VOID,
        amount=payment.amount,
        currency=payment.currency,
        source_kind=EXTERNAL_VOID_SOURCE,
        request={"payment": fact.id, "void_reason": fact.void_reason},
        actor=actor,
        now=now,
        reason=f"recorded from Clover: payment {fact.id} voided outside the service",
        audit={"payment_id": payment.id, "clover_payment_id": fact.id, "amount": payment.amount},
        invoice_id=payment.invoice_id,
        payment_id=payment.id,
    )
    status = record_void(s, payment, attempt, actor=actor, now=now)
    after = f"; invoice {status}" if status else ""
    return f"recorded void of payment {payment.id} from Clover (payment {fact.id}){after}"


def apply_alert_void(s: Session, effect: AlertVoid, *, actor: str) -> str:
    fact = effect.fact
    return needs_attention(
        s,
        topic="void.needs_attention",
        key=fact.id,
        merchant_id=effect.merchant_id,
        entity_type="payment_attempt",
        entity_id=effect.attempt_id,
        problem=(
            f"payment {fact.id} (externalPaymentId {fact.external_payment_id}) is VOIDED at "
            f"Clover, and no payment of ours records it"
        ),
        data={
            "attempt_id": effect.attempt_id,
            "clover_payment_id": fact.id,
            "amount": fact.amount,
        },
        actor=actor,
    )
