"""Refunds, full and partial, never above what was captured (rule 8).

The check runs inside the transaction that commits the refund intent, with the payment
row locked (``FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite): the amount
still refundable is derived from the refund attempts that are succeeded, pending or
unknown, so concurrent requests reserve their amount before calling Clover and exactly
the excess ones are refused.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloverpay.service.db import Merchant, Payment, PaymentAttempt, Refund, new_id
from cloverpay.service.domain import FINAL_ATTEMPT_STATES, AttemptKind, AttemptState
from cloverpay.service.errors import (
    AttemptUnresolvedError,
    ConflictError,
    InvalidRequest,
    NotFound,
)
from cloverpay.service.services.clover_calls import RECONNECT_REQUIRED, CallOutcome, send_refund
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.intents import add_pending_attempt, first_check_at
from cloverpay.service.services.payments import lock_attempt, transition_attempt
from cloverpay.service.services.receipts import queue_refund_receipt
from cloverpay.service.services.records import add_outbox, alert_reconnect_required
from cloverpay.service.services.refund_refs import with_reference
from cloverpay.service.services.send import Send, send_then_settle

__all__ = [
    "REST_SOURCE_KIND",
    "apply_refund_outcome",
    "create_refund_intent",
    "lock_payment",
    "record_refund",
    "refund_payment",
    "refunded_total",
    "settle_refund",
]

#: ``source_kind`` of a refund sent through ``POST /v1/refunds`` (it carries our reference)
REST_SOURCE_KIND = "refund"

_HOLDING = (AttemptState.PENDING.value, AttemptState.UNKNOWN.value, AttemptState.SUCCEEDED.value)


def refunded_total(session: Session, payment_id: str) -> int:
    """Sum of recorded refunds of a payment."""
    total = session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(Refund.payment_id == payment_id)
    )
    return int(total or 0)


def refund_payment(
    ctx: ServiceContext,
    merchant_id: str,
    payment_id: str,
    *,
    amount: int | None = None,
    reason: str | None = None,
    actor: str,
    send: Send = send_refund,
    source_kind: str = REST_SOURCE_KIND,
) -> PaymentAttempt:
    """``send``/``source_kind``: how the refund reaches Clover (the REST API by default;
    a terminal payment is refunded through its terminal, see
    :mod:`~cloverpay.service.services.terminal_ops`)."""
    now = ctx.now()
    with ctx.sessions.begin() as s:
        attempt = create_refund_intent(
            s,
            ctx,
            merchant_id,
            payment_id,
            amount=amount,
            reason=reason,
            actor=actor,
            source_kind=source_kind,
            now=now,
        )
        merchant = s.get_one(Merchant, merchant_id)
    return send_then_settle(
        ctx, merchant, attempt, kind="refund", send=send, settle=settle_refund, actor=actor
    )


def lock_payment(s: Session, merchant_id: str, payment_id: str) -> Payment:
    """The merchant's payment, locked (``FOR UPDATE``) for the rest of the transaction."""
    payment = s.scalar(
        select(Payment)
        .where(Payment.id == payment_id, Payment.merchant_id == merchant_id)
        .with_for_update()
    )
    if payment is None:
        raise NotFound(f"no payment {payment_id}", field="payment_id")
    return payment


def create_refund_intent(
    s: Session,
    ctx: ServiceContext,
    merchant_id: str,
    payment_id: str,
    *,
    amount: int | None,
    reason: str | None,
    actor: str,
    source_kind: str,
    now: datetime,
    next_check_at: datetime | None = None,
) -> PaymentAttempt:
    """Add a ``pending`` refund attempt (and its audit row) in the caller's transaction,
    with the payment row locked: never above what is left, refused while another
    refund or a void of the payment is unresolved, or once it is voided."""
    if amount is not None and amount <= 0:
        raise InvalidRequest("amount must be positive", field="amount")
    payment = lock_payment(s, merchant_id, payment_id)
    if payment.voided_at is not None:
        raise ConflictError("the payment was voided", field="payment_id", code="payment_voided")
    rows = s.execute(
        select(PaymentAttempt.kind, PaymentAttempt.state, PaymentAttempt.amount).where(
            PaymentAttempt.payment_id == payment.id,
            PaymentAttempt.kind.in_((AttemptKind.REFUND.value, AttemptKind.VOID.value)),
            PaymentAttempt.state.in_(_HOLDING),
        )
    ).all()
    # A void still open blocks refunds; a succeeded one (an online payment's void is a
    # refund of all of it, services.preauth) counts against what is left below.
    if any(k == AttemptKind.VOID.value and st != AttemptState.SUCCEEDED.value for k, st, _ in rows):
        raise AttemptUnresolvedError("a void of this payment is in progress", field="payment_id")
    if any(state == AttemptState.UNKNOWN.value for _, state, _ in rows):
        raise AttemptUnresolvedError(
            "a refund of this payment has an unknown outcome; it is being reconciled",
            field="payment_id",
        )
    remaining = payment.amount - sum(a for _, _, a in rows)
    if remaining <= 0:
        raise ConflictError(
            "the payment is fully refunded", field="payment_id", code="charge_already_refunded"
        )
    refund_amount = remaining if amount is None else amount
    if refund_amount > remaining:
        raise InvalidRequest(
            f"amount {refund_amount} exceeds the {remaining} cents left to refund",
            field="amount",
            code="amount_too_large",
        )
    attempt_id = new_id()
    request: dict[str, object] = {"charge": payment.clover_charge_id, "reason": reason}
    if source_kind == REST_SOURCE_KIND:  # a terminal refund gets it if sent over REST
        request = with_reference(request, attempt_id)
    return add_pending_attempt(
        s,
        attempt_id=attempt_id,
        merchant_id=merchant_id,
        kind=AttemptKind.REFUND,
        amount=refund_amount,
        currency=payment.currency,
        source_kind=source_kind,
        request=request,
        next_check_at=next_check_at or first_check_at(ctx, now),
        actor=actor,
        now=now,
        audit={"payment_id": payment.id, "amount": refund_amount},
        invoice_id=payment.invoice_id,
        payment_id=payment.id,
    )


def settle_refund(
    ctx: ServiceContext, attempt_id: str, outcome: CallOutcome, *, actor: str
) -> PaymentAttempt:
    """Apply Clover's answer to a refund attempt in one transaction (idempotent)."""
    with ctx.sessions.begin() as s:
        attempt = lock_attempt(s, attempt_id)
        apply_refund_outcome(s, attempt, outcome, actor=actor, now=ctx.now())
    return attempt


def apply_refund_outcome(
    s: Session, attempt: PaymentAttempt, outcome: CallOutcome, *, actor: str, now: datetime
) -> bool:
    """Settle a *locked* refund attempt inside the caller's transaction (a webhook's
    processing applies it together with marking the event processed). False when the
    attempt was final already (settled by the request, the reconciler or a webhook)."""
    if AttemptState(attempt.state) in FINAL_ATTEMPT_STATES:
        return False
    if outcome.status == "succeeded":
        assert outcome.clover_id is not None
        assert attempt.payment_id is not None
        transition_attempt(s, attempt, AttemptState.SUCCEEDED, actor=actor)
        attempt.clover_refund_id = outcome.clover_id
        reason = json.loads(attempt.request_json).get("reason")
        record_refund(s, attempt, outcome.clover_id, reason=reason, now=now)
        attempt.resolved_at = now
        attempt.next_check_at = None
    elif outcome.status in ("declined", "rejected", "failed"):
        transition_attempt(s, attempt, AttemptState.FAILED, actor=actor, reason=outcome.message)
        attempt.failure_code = outcome.code
        attempt.failure_message = outcome.message
        attempt.resolved_at = now
        attempt.next_check_at = None
        if outcome.code == RECONNECT_REQUIRED:
            alert_reconnect_required(
                s, attempt.merchant_id, attempt_id=attempt.id, actor=actor, now=now
            )
    else:
        transition_attempt(
            s, attempt, AttemptState.UNKNOWN, actor=actor, reason=outcome.code or "no answer"
        )
        attempt.failure_code = outcome.code
    attempt.updated_at = now
    return True


def record_refund(
    s: Session,
    attempt: PaymentAttempt,
    clover_refund_id: str,
    *,
    reason: str | None,
    now: datetime | None = None,
) -> Refund:
    """The refund row of a succeeded refund attempt, its ``payment.refunded`` event and
    the payer's refund receipt."""
    assert attempt.payment_id is not None
    refund = Refund(
        merchant_id=attempt.merchant_id,
        payment_id=attempt.payment_id,
        attempt_id=attempt.id,
        clover_refund_id=clover_refund_id,
        amount=attempt.amount,
        currency=attempt.currency,
        reason=reason,
    )
    s.add(refund)
    s.flush()
    add_outbox(
        s,
        merchant_id=attempt.merchant_id,
        topic="payment.refunded",
        dedupe_key=f"payment.refunded:{refund.id}",
        payload={
            "refund_id": refund.id,
            "payment_id": attempt.payment_id,
            "invoice_id": attempt.invoice_id,
            "amount": refund.amount,
        },
    )
    queue_refund_receipt(s, refund, s.get_one(Payment, attempt.payment_id), now=now)
    return refund
