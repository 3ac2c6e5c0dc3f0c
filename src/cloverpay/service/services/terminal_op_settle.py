"""Settling and recovering terminal refunds and voids (steps 3 and 4 of
:mod:`cloverpay.service.services.terminal_ops`, which requests them and re-exports
these names).

3. **Settle** — :func:`settle_terminal_op`: a refund as the online path records it
   (refund row, outbox, audit); a void marks the payment voided, which stops it
   counting towards its invoice, whose status is derived again (``paid`` ->
   ``partially_paid`` / ``open``), with audit and outbox rows, in one transaction.
4. **Recover** — :func:`check_terminal_op`, the reconciler's look over REST once the op
   is out of its owner's hands; an op nobody claimed in time expires unsent.
"""

from __future__ import annotations

import time
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
from cloverpay.service.services.terminal_lookups import TerminalOpLookup
from cloverpay.service.services.voids import record_void

__all__ = ["check_terminal_op", "settle_terminal_op", "wait_settled"]


def _expire(ctx: ServiceContext, attempt_id: str, *, actor: str) -> bool:
    if not queue.mark_expired(ctx, TerminalOp, attempt_id, "The terminal never took it"):
        return False
    settle_terminal_op(
        ctx,
        attempt_id,
        CallOutcome(
            "rejected",
            code="terminal_unavailable",
            message="never sent: no service process had the terminal connected in time",
        ),
        actor=actor,
    )
    return True


# -- 3. settle -------------------------------------------------------------------------------


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


# -- 4. recover (the reconciler's part) ------------------------------------------------------


def check_terminal_op(
    ctx: ServiceContext,
    attempt_id: str,
    lookup: TerminalOpLookup,
    *,
    actor: str = "reconciler",
) -> tuple[PaymentAttempt, CallOutcome | None]:
    """The reconciler's look at a terminal refund or void. Returns the attempt and the
    lookup's outcome (None when it did not look: still queued or running in its owner)."""
    now = ctx.now()
    attempt, op, terminal = queue.load(ctx, TerminalOp, attempt_id)
    if attempt.state not in (AttemptState.PENDING.value, AttemptState.UNKNOWN.value):
        return attempt, None
    waiting = queue.wait_or_give_up(
        ctx,
        attempt,
        op,
        terminal,
        now=now,
        expire=lambda: _expire(ctx, attempt_id, actor=actor),
        give_up=lambda: settle_terminal_op(
            ctx,
            attempt_id,
            CallOutcome("unknown", code="owner_lost", message="the process sending it stopped"),
            actor=actor,
            flag_unknown=False,
        ),
    )
    if waiting is not None:
        return waiting, None
    outcome = lookup(attempt)
    if outcome.status == "unknown":
        return queue.reread(ctx, attempt_id), outcome
    return settle_terminal_op(ctx, attempt_id, outcome, actor=actor), outcome


def wait_settled(
    ctx: ServiceContext, attempt_id: str, timeout: float, *, poll_s: float = 0.1
) -> PaymentAttempt:
    """The attempt once it leaves ``pending`` (or as it is after ``timeout`` seconds):
    for a caller that queued an op and wants to answer with its outcome if it is quick."""
    deadline = time.monotonic() + timeout
    while True:
        with ctx.sessions() as s:
            attempt = s.get_one(PaymentAttempt, attempt_id)
        if attempt.state != AttemptState.PENDING.value or time.monotonic() >= deadline:
            return attempt
        time.sleep(poll_s)
