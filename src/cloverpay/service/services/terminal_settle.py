"""Settling a terminal refund or void: its outcome, with the op's live stage, in one
transaction (RELIABILITY rule 5), whichever way it was sent (the terminal's owner, the
REST fallback of a refund, a lookup).

A refund is recorded as the online path records it (refund row, outbox, audit); a void
marks the payment voided, which stops it counting towards its invoice, whose status is
derived again (``paid`` -> ``partially_paid`` / ``open``), with audit and outbox rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from cloverpay.service.db import Payment, PaymentAttempt, TerminalOp
from cloverpay.service.domain import (
    FINAL_ATTEMPT_STATES,
    AttemptKind,
    AttemptState,
)
from cloverpay.service.services import terminal_queue as queue
from cloverpay.service.services.clover_calls import CallOutcome
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.payments import lock_attempt, transition_attempt
from cloverpay.service.services.refunds import apply_refund_outcome
from cloverpay.service.services.voids import record_void

__all__ = ["settle_terminal_op"]


def _apply_void_outcome(
    s: Session, attempt: PaymentAttempt, outcome: CallOutcome, *, actor: str, now: datetime
) -> None:
    if outcome.status == "succeeded":
        assert attempt.payment_id is not None
        transition_attempt(s, attempt, AttemptState.SUCCEEDED, actor=actor)
        payment = s.get_one(Payment, attempt.payment_id, with_for_update=True)
        attempt.resolved_at = now
        attempt.next_check_at = None
        record_void(s, payment, attempt, actor=actor, now=now)
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
        attempt.failure_message = outcome.message


def settle_terminal_op(
    ctx: ServiceContext,
    attempt_id: str,
    outcome: CallOutcome,
    *,
    actor: str,
    flag_unknown: bool = True,
) -> PaymentAttempt:
    """Apply a terminal refund's or void's outcome, with the op's live stage, in one
    transaction (idempotent: a final attempt is left as it is)."""
    now = ctx.now()
    with ctx.sessions.begin() as s:
        attempt = lock_attempt(s, attempt_id)
        op = s.get(TerminalOp, attempt_id)
        if AttemptState(attempt.state) in FINAL_ATTEMPT_STATES:
            return attempt
        if attempt.kind == AttemptKind.REFUND.value:
            apply_refund_outcome(s, attempt, outcome, actor=actor, now=now)
            if attempt.state == AttemptState.FAILED.value:
                attempt.failure_message = outcome.message
        else:
            _apply_void_outcome(s, attempt, outcome, actor=actor, now=now)
        if attempt.state == AttemptState.UNKNOWN.value:
            queue.mark_unknown(
                ctx,
                s,
                attempt,
                outcome.code,
                outcome.message,
                flag=flag_unknown,
                actor=actor,
                now=now,
            )
        attempt.updated_at = now
        if op is not None:
            if attempt.state == AttemptState.SUCCEEDED.value:
                stage, text = "done", "Refunded" if op.kind == "refund" else "Voided"
            elif attempt.state == AttemptState.FAILED.value:
                stage = "expired" if op.stage == "expired" else "done"
                text = f"Not {'refunded' if op.kind == 'refund' else 'voided'}"
            else:
                stage, text = "unknown", "Outcome unknown: being looked up"
            queue.show_outcome(op, stage, text, outcome.message or outcome.code, now)
    return attempt
