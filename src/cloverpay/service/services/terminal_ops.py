"""Refunds and voids of terminal payments, from any service process.

A payment taken on a terminal is refunded or voided through that terminal (the
device's ``REFUND_REQUEST`` / ``VOID_PAYMENT``). Only the process holding the
terminal's lease has its connection, so, like a sale, the request goes through the
database:

1. **Intent** — :func:`request_terminal_refund` / :func:`request_terminal_void` commit,
   in one transaction with the payment row locked, a ``pending`` attempt (kind
   ``refund`` / ``void``, ``source_kind='terminal'``), a ``terminal_ops`` row in stage
   ``queued`` and the audit row. The refund rules are the core's (never above what is
   left, concurrent refunds reserve their amount, an unknown refund or an open void
   blocks more); a void is refused once the payment has refunds, and one void per
   payment is open at a time (a partial unique index).
2. **One send** — the owner's runtime wins ``queued -> sending`` (a conditional UPDATE)
   before anything leaves; nothing moves an op back to ``queued``. An op nobody
   claims within :data:`QUEUE_TTL_S` expires unsent (``failed``,
   ``terminal_unavailable``) — except a refund whose terminal nobody owns then: it is
   sent once through Clover's REST API instead
   (:mod:`~cloverpay.service.services.terminal_refund_rest`; voids stay device-only).
   A refund asked for ``via='rest'`` (:func:`refund_via_rest_now`: the device away or
   broken, the customer not there) is never queued: its op is written claimed for the
   REST API in the intent's transaction, and the request sends it at once, the same
   way the fallback does.
3. **Settle** — :func:`settle_terminal_op` (in :mod:`.terminal_settle`): a refund as
   the online path records it (refund row, outbox, audit); a void marks the payment
   voided, which stops it counting towards its invoice, whose status is derived again
   (``paid`` -> ``partially_paid`` / ``open``), with audit and outbox rows, in one
   transaction.
4. **Recover** — an answer lost on the way back is looked up by the connector (device
   view by the sale's externalPaymentId, else the v3 payment over REST; never re-sent);
   what it cannot prove stays ``unknown``, flagged, and the reconciler
   (:func:`check_terminal_op`) looks the payment up over REST on its schedule: a void
   is done when the payment is ``VOIDED``, not done when it is still ``SUCCESS``; a
   refund is done when the payment lists a refund of that amount we have not recorded.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloverpay.service.db import (
    Payment,
    PaymentAttempt,
    Terminal,
    TerminalOp,
    TerminalSale,
)
from cloverpay.service.domain import AttemptKind, AttemptState
from cloverpay.service.errors import AttemptUnresolvedError, ConflictError, InvalidRequest
from cloverpay.service.services import terminal_queue as queue
from cloverpay.service.services.clover_calls import CallOutcome
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.intents import add_pending_attempt, refunds_and_voids_held
from cloverpay.service.services.refunds import create_refund_intent, lock_payment
from cloverpay.service.services.terminal_lookups import (
    TerminalOpLookup,
    lookup_terminal_void,
    rest_op_lookup,
)
from cloverpay.service.services.terminal_queue import MAX_SALE_S, QUEUE_TTL_S, SOURCE_KIND
from cloverpay.service.services.terminal_refund_rest import (
    add_claimed_op,
    refund_via_rest,
    rest_fallback_applies,
    send_claimed,
)
from cloverpay.service.services.terminal_settle import settle_terminal_op

__all__ = [
    "RefundVia",
    "TerminalOpLookup",
    "check_terminal_op",
    "claim_op",
    "lookup_terminal_void",
    "orphaned_ops",
    "queued_ops",
    "refund_via_rest_now",
    "request_terminal_refund",
    "request_terminal_void",
    "rest_op_lookup",
    "settle_terminal_op",
    "terminal_payment",
    "update_op_screen",
    "wait_settled",
]


#: How a refund of a terminal payment reaches Clover: on the ``terminal`` (its owner
#: sends it on the device; the default) or through Clover's ``rest`` API at once.
RefundVia = Literal["terminal", "rest"]


def terminal_payment(s: Session, payment_id: str) -> tuple[str, str | None] | None:
    """(terminal id, the sale's externalPaymentId) of a payment taken on a terminal."""
    row = s.execute(
        select(TerminalSale.terminal_id, PaymentAttempt.external_payment_id)
        .join(PaymentAttempt, PaymentAttempt.id == TerminalSale.attempt_id)
        .join(Payment, Payment.attempt_id == TerminalSale.attempt_id)
        .where(Payment.id == payment_id)
    ).first()
    return (row[0], row[1]) if row is not None else None


def _terminal_of(s: Session, merchant_id: str, payment_id: str, *, device: bool = True) -> str:
    """The terminal that took the merchant's payment (the payment row locked); with
    ``device`` it must not be disabled (a REST refund does not use the device)."""
    lock_payment(s, merchant_id, payment_id)  # 404 for a payment that is not theirs
    found = terminal_payment(s, payment_id)
    if found is None:
        raise ConflictError(
            "not a payment taken on a terminal (refund it; only terminal payments are voided)",
            field="payment_id",
            code="not_a_terminal_payment",
        )
    terminal = s.get(Terminal, found[0])
    if terminal is None or terminal.merchant_id != merchant_id:
        raise ConflictError("the payment's terminal is gone", field="payment_id")
    if device and terminal.status == "disabled":
        raise ConflictError(
            "the terminal that took this payment is disabled",
            field="payment_id",
            code="terminal_unavailable",
        )
    return terminal.id


def _queue(s: Session, attempt: PaymentAttempt, terminal_id: str, kind: str, now: datetime) -> None:
    assert attempt.payment_id is not None
    s.add(
        TerminalOp(
            attempt_id=attempt.id,
            merchant_id=attempt.merchant_id,
            terminal_id=terminal_id,
            kind=kind,
            payment_id=attempt.payment_id,
            stage="queued",
            ui_text="Waiting for the terminal",
            created_at=now,
            updated_at=now,
        )
    )


# -- 1. intent ------------------------------------------------------------------------------


def request_terminal_refund(
    ctx: ServiceContext,
    merchant_id: str,
    payment_id: str,
    *,
    amount: int | None = None,
    reason: str | None = None,
    actor: str,
    via: RefundVia = "terminal",
) -> PaymentAttempt:
    """Commit the intent of a refund of a terminal payment. Returns the ``pending``
    attempt. ``via='terminal'``: queued, the terminal's lease owner sends it.
    ``via='rest'``: its op is written claimed for the REST API by ``actor`` (stage
    ``sending``, never ``queued``), for ``actor`` to send at once
    (:func:`refund_via_rest_now`); the terminal may be disabled."""
    if via not in ("terminal", "rest"):
        raise InvalidRequest("via must be 'terminal' or 'rest'", field="via")
    now = ctx.now()
    wait_s = QUEUE_TTL_S if via == "terminal" else MAX_SALE_S
    with ctx.sessions.begin() as s:
        terminal_id = _terminal_of(s, merchant_id, payment_id, device=via == "terminal")
        attempt = create_refund_intent(
            s,
            ctx,
            merchant_id,
            payment_id,
            amount=amount,
            reason=reason,
            actor=actor,
            source_kind=SOURCE_KIND,
            now=now,
            next_check_at=now + timedelta(seconds=wait_s),
        )
        if via == "rest":
            add_claimed_op(s, attempt, terminal_id, actor=actor, now=now)
        else:
            _queue(s, attempt, terminal_id, "refund", now)
    return attempt


def refund_via_rest_now(
    ctx: ServiceContext,
    merchant_id: str,
    payment_id: str,
    *,
    amount: int | None = None,
    reason: str | None = None,
    actor: str,
) -> PaymentAttempt:
    """Refund a terminal payment through Clover's REST API at once, without the
    terminal: the intent as for the terminal (same rules, amount reserved under the
    payment's lock) with its op claimed for REST in the same transaction, then one
    send and the settle, as the fallback does. Allowed whatever
    ``Settings.terminal_refund_via_rest`` says (that switch is the automatic
    fallback's); Clover refusing it fails it, nothing moved. Returns the attempt as
    settled (``unknown`` when the answer was lost: the reconciler looks it up)."""
    attempt = request_terminal_refund(
        ctx, merchant_id, payment_id, amount=amount, reason=reason, actor=actor, via="rest"
    )
    return send_claimed(ctx, attempt.id, actor=actor)


def request_terminal_void(
    ctx: ServiceContext,
    merchant_id: str,
    payment_id: str,
    *,
    reason: str | None = None,
    actor: str,
) -> PaymentAttempt:
    """Commit the intent of a void of a terminal payment (the whole payment; refused
    once it has refunds, as Clover refuses it); the terminal's lease owner sends it."""
    now = ctx.now()
    try:
        with ctx.sessions.begin() as s:
            terminal_id = _terminal_of(s, merchant_id, payment_id)
            payment = lock_payment(s, merchant_id, payment_id)
            if payment.voided_at is not None:
                raise ConflictError(
                    "the payment is voided already", field="payment_id", code="payment_voided"
                )
            others = refunds_and_voids_held(s, payment.id)
            if any(kind == AttemptKind.VOID.value for kind, _ in others):
                raise AttemptUnresolvedError(
                    "a void of this payment is in progress", field="payment_id"
                )
            if others:
                raise ConflictError(
                    "a payment with refunds cannot be voided: refund what is left",
                    field="payment_id",
                    code="payment_has_refunds",
                )
            attempt = add_pending_attempt(
                s,
                merchant_id=merchant_id,
                kind=AttemptKind.VOID,
                amount=payment.amount,
                currency=payment.currency,
                source_kind=SOURCE_KIND,
                request={"charge": payment.clover_charge_id, "reason": reason},
                next_check_at=now + timedelta(seconds=QUEUE_TTL_S),
                actor=actor,
                now=now,
                audit={"payment_id": payment.id, "amount": payment.amount},
                invoice_id=payment.invoice_id,
                payment_id=payment.id,
            )
            _queue(s, attempt, terminal_id, "void", now)
    except IntegrityError:  # a concurrent void won the partial unique index
        raise AttemptUnresolvedError(
            "a void of this payment is in progress", field="payment_id"
        ) from None
    return attempt


# -- 2. the one send -------------------------------------------------------------------------


def claim_op(ctx: ServiceContext, attempt_id: str, owner: str) -> bool:
    """``queued -> sending`` for ``owner``, committed before anything is sent. True for
    the one caller that may send the op, ever."""
    return queue.claim(ctx, TerminalOp, attempt_id, owner, action="terminal_{kind}.sent")


def queued_ops(
    ctx: ServiceContext, terminal_id: str, limit: int = 5
) -> list[tuple[PaymentAttempt, TerminalOp]]:
    """The terminal's queued refunds and voids, oldest first (attempts still pending)."""
    return queue.queued(ctx, TerminalOp, terminal_id, limit)


def orphaned_ops(ctx: ServiceContext, terminal_id: str, owner: str) -> list[str]:
    """Refunds / voids of the terminal sent by another process and never settled."""
    return queue.orphaned(ctx, TerminalOp, terminal_id, owner)


def update_op_screen(
    ctx: ServiceContext, attempt_id: str, ui_state: str | None, ui_text: str | None
) -> None:
    queue.update_screen(ctx, TerminalOp, attempt_id, ui_state, ui_text)


def _expire(
    ctx: ServiceContext,
    attempt_id: str,
    op: TerminalOp | None,
    terminal: Terminal | None,
    *,
    actor: str,
) -> bool:
    """A queued op nobody claimed in time: a refund whose terminal nobody owns goes
    through the REST API (sent once); anything else expires unsent. False when it was
    claimed meanwhile."""
    if rest_fallback_applies(ctx, op, terminal):
        return refund_via_rest(ctx, attempt_id, actor=actor) is not None
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
        expire=lambda: _expire(ctx, attempt_id, op, terminal, actor=actor),
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
