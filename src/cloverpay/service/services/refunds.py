"""Refunds, full and partial, never above what was captured (rule 8).

The check runs inside the transaction that commits the refund intent, with the payment
row locked (``FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite): the amount
still refundable is derived from the refund attempts that are succeeded, pending or
unknown, so concurrent requests reserve their amount before calling Clover and exactly
the excess ones are refused.
"""

from __future__ import annotations

import json
from datetime import timedelta

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
from cloverpay.service.services.clover_calls import CallOutcome, send_refund
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.payments import attempt_key, lock_attempt, transition_attempt
from cloverpay.service.services.records import add_audit, add_outbox
from cloverpay.service.services.send import send_then_settle

__all__ = ["refund_payment", "refunded_total", "settle_refund"]

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
) -> PaymentAttempt:
    if amount is not None and amount <= 0:
        raise InvalidRequest("amount must be positive", field="amount")
    now = ctx.now()
    with ctx.sessions.begin() as s:
        payment = s.scalar(
            select(Payment)
            .where(Payment.id == payment_id, Payment.merchant_id == merchant_id)
            .with_for_update()
        )
        if payment is None:
            raise NotFound(f"no payment {payment_id}", field="payment_id")
        rows = s.execute(
            select(PaymentAttempt.state, PaymentAttempt.amount).where(
                PaymentAttempt.payment_id == payment.id,
                PaymentAttempt.kind == AttemptKind.REFUND.value,
                PaymentAttempt.state.in_(_HOLDING),
            )
        ).all()
        if any(state == AttemptState.UNKNOWN.value for state, _ in rows):
            raise AttemptUnresolvedError(
                "a refund of this payment has an unknown outcome; it is being reconciled",
                field="payment_id",
            )
        remaining = payment.amount - sum(a for _, a in rows)
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
        attempt = PaymentAttempt(
            id=attempt_id,
            merchant_id=merchant_id,
            kind=AttemptKind.REFUND.value,
            state=AttemptState.PENDING.value,
            invoice_id=payment.invoice_id,
            payment_id=payment.id,
            amount=refund_amount,
            currency=payment.currency,
            idempotency_key=attempt_key(attempt_id),
            source_kind="refund",
            request_json=json.dumps({"charge": payment.clover_charge_id, "reason": reason}),
            next_check_at=now + timedelta(seconds=ctx.settings.reconciler_steps_s[0]),
            created_by=actor,
            created_at=now,
            updated_at=now,
        )
        s.add(attempt)
        s.flush()
        add_audit(
            s,
            merchant_id=merchant_id,
            actor=actor,
            action="refund_attempt.created",
            entity_type="payment_attempt",
            entity_id=attempt.id,
            to_state=AttemptState.PENDING.value,
            data={"payment_id": payment.id, "amount": refund_amount},
            now=now,
        )
        merchant = s.get_one(Merchant, merchant_id)
    return send_then_settle(
        ctx, merchant, attempt, kind="refund", send=send_refund, settle=settle_refund, actor=actor
    )


def settle_refund(
    ctx: ServiceContext, attempt_id: str, outcome: CallOutcome, *, actor: str
) -> PaymentAttempt:
    now = ctx.now()
    with ctx.sessions.begin() as s:
        attempt = lock_attempt(s, attempt_id)
        if AttemptState(attempt.state) in FINAL_ATTEMPT_STATES:
            return attempt
        if outcome.status == "succeeded":
            assert outcome.clover_id is not None
            assert attempt.payment_id is not None
            transition_attempt(s, attempt, AttemptState.SUCCEEDED, actor=actor)
            attempt.clover_refund_id = outcome.clover_id
            reason = json.loads(attempt.request_json).get("reason")
            refund = Refund(
                merchant_id=attempt.merchant_id,
                payment_id=attempt.payment_id,
                attempt_id=attempt.id,
                clover_refund_id=outcome.clover_id,
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
            attempt.resolved_at = now
            attempt.next_check_at = None
        elif outcome.status in ("declined", "rejected", "failed"):
            transition_attempt(s, attempt, AttemptState.FAILED, actor=actor, reason=outcome.message)
            attempt.failure_code = outcome.code
            attempt.failure_message = outcome.message
            attempt.resolved_at = now
            attempt.next_check_at = None
        else:
            transition_attempt(
                s, attempt, AttemptState.UNKNOWN, actor=actor, reason=outcome.code or "no answer"
            )
            attempt.failure_code = outcome.code
        attempt.updated_at = now
    return attempt
