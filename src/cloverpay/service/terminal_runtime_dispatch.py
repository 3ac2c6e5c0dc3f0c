"""What the terminal runtime sends to the terminals it owns (``terminal_runtime``).

The dashboard and the API only commit intents (``start_terminal_sale``,
``request_terminal_refund``, ``request_terminal_void``); whichever process owns the
terminal sends them, each after winning its ``queued -> sending`` UPDATE, so several
processes can share one database. The terminal's queued refunds and voids go first,
then its sales, one at a time; what the device answers is settled. A process that
takes over a terminal first looks up the sales and ops its previous owner had sent
without settling them (by externalPaymentId on the device, then REST; refunds and
voids on the v3 payment): they are never sent again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from cloverpay.remotepay import (
    OutcomeUnknownError,
    RefundPaymentRequest,
    SaleRequest,
    SaleResponse,
    VoidPaymentRequest,
)
from cloverpay.service.core.crash import crash_point
from cloverpay.service.db import Payment, PaymentAttempt, TerminalOp
from cloverpay.service.services.clover_calls import CallOutcome
from cloverpay.service.services.terminal_ops import (
    check_terminal_op,
    claim_op,
    orphaned_ops,
    queued_ops,
    request_terminal_refund,
    request_terminal_void,
    rest_op_lookup,
    settle_terminal_op,
    terminal_payment,
    wait_settled,
)
from cloverpay.service.services.terminal_sales import (
    TerminalOutcome,
    check_terminal_attempt,
    claim_sale,
    orphaned_sales,
    outcome_of_payment,
    queued_sales,
    settle_terminal_sale,
)

if TYPE_CHECKING:
    from cloverpay.service.terminal_runtime import TerminalRuntime, _Conn

log = logging.getLogger("cloverpay.service.terminals")


def _sale_outcome(attempt: PaymentAttempt, response: SaleResponse) -> TerminalOutcome:
    """The device's (or the recovery's) answer to a sale as an outcome."""
    source = "recovered" if response.recovery is not None else "device"
    if response.success:
        if response.payment is None:
            return TerminalOutcome("unknown", code="no_payment", message="SUCCESS without payment")
        return outcome_of_payment(attempt.amount, response.payment, source=source)
    reason = response.reason or response.result.value
    if "DUPLICATE" in reason.upper():
        # the device says a payment with this id exists: look it up, never assume
        return TerminalOutcome("unknown", code="duplicate", message=response.message or reason)
    # a decline, a cancel, a refusal before anything was charged, or a lookup that
    # proved nothing was paid: all answers, all "no money moved"
    return TerminalOutcome(
        "failed",
        payment_id=response.payment.id if response.payment else None,
        code=reason[:64],
        message=response.message or reason,
    )


# -- on the runtime's loop -----------------------------------------------------------


async def adopt(rt: TerminalRuntime, conn: _Conn) -> None:
    """Look up, once, what a previous owner of the terminal sent and never settled
    (it died, or lost the lease): never sent again, only looked up."""
    actor = f"terminal:{conn.name}"
    sales = await asyncio.to_thread(orphaned_sales, rt.ctx, conn.terminal_id, rt.owner)
    ops = await asyncio.to_thread(orphaned_ops, rt.ctx, conn.terminal_id, rt.owner)
    for attempt_id in sales:
        if attempt_id in rt._adopted:
            continue
        rt._adopted.add(attempt_id)
        log.warning("terminal %s: looking up sale %s of a lost owner", conn.name, attempt_id)
        try:
            await asyncio.to_thread(
                check_terminal_attempt, rt.ctx, attempt_id, rt.resolver(), actor=actor
            )
        except Exception:  # the reconciler looks again on its schedule
            log.exception("looking up sale %s failed", attempt_id)
    for attempt_id in ops:
        if attempt_id in rt._adopted:
            continue
        rt._adopted.add(attempt_id)
        log.warning("terminal %s: looking up op %s of a lost owner", conn.name, attempt_id)
        try:
            await asyncio.to_thread(
                check_terminal_op, rt.ctx, attempt_id, rest_op_lookup(rt.ctx), actor=actor
            )
        except Exception:  # the reconciler looks again on its schedule
            log.exception("looking up op %s failed", attempt_id)


async def dispatch(rt: TerminalRuntime, conn: _Conn) -> None:
    """Send the terminal's next queued op (refund or void), else its next queued sale,
    once this process wins its ``queued -> sending`` UPDATE."""
    for attempt, op in await asyncio.to_thread(queued_ops, rt.ctx, conn.terminal_id, 1):
        if await asyncio.to_thread(claim_op, rt.ctx, attempt.id, rt.owner):
            conn.busy, conn.busy_kind = attempt.id, op.kind
            task = asyncio.create_task(_run_op(rt, conn, attempt, op))
            rt._tasks.add(task)
            task.add_done_callback(rt._tasks.discard)
            return
    for attempt in await asyncio.to_thread(queued_sales, rt.ctx, conn.terminal_id, 1):
        if await asyncio.to_thread(claim_sale, rt.ctx, attempt.id, rt.owner):
            conn.busy, conn.busy_kind = attempt.id, "sale"
            task = asyncio.create_task(_sell(rt, conn, attempt))
            rt._tasks.add(task)
            task.add_done_callback(rt._tasks.discard)
        return


async def _sell(rt: TerminalRuntime, conn: _Conn, attempt: PaymentAttempt) -> None:
    assert attempt.external_payment_id is not None
    request = SaleRequest(
        amount=attempt.amount,
        external_id=attempt.external_payment_id,
        # the service has no clerk at the device to verify signatures or answer
        # the device's challenges: they are accepted (the device still asks the
        # customer); a POS with a clerk would answer them itself
        auto_accept_signature=True,
        auto_accept_payment_confirmations=True,
    )
    try:
        response = await conn.connector.sale(request)
        # the device answered (it may have charged); nothing is recorded yet
        crash_point("after_terminal_sale_answered")
        outcome = _sale_outcome(attempt, response)
    except OutcomeUnknownError as lost:
        why = lost.resolution.reason if lost.resolution is not None else str(lost)
        outcome = TerminalOutcome("unknown", code="outcome_unknown", message=why)
    except Exception as exc:  # we cannot tell whether it left: unknown, never failed
        log.exception("terminal sale %s", attempt.id)
        outcome = TerminalOutcome("unknown", code=type(exc).__name__, message=str(exc))
    try:
        await asyncio.to_thread(
            settle_terminal_sale, rt.ctx, attempt.id, outcome, actor=f"terminal:{conn.name}"
        )
    except Exception:  # the reconciler takes over once the sale is overdue
        log.exception("settling terminal sale %s failed", attempt.id)
    finally:
        conn.busy = None
        rt.poke()


async def _run_op(
    rt: TerminalRuntime, conn: _Conn, attempt: PaymentAttempt, op: TerminalOp
) -> None:
    try:
        outcome = await _send_op(rt, conn, attempt, op)
    except Exception as exc:  # it may have left: unknown, never failed
        log.exception("terminal %s %s", op.kind, attempt.id)
        outcome = CallOutcome("unknown", code=type(exc).__name__, message=str(exc))
    try:
        await asyncio.to_thread(
            settle_terminal_op, rt.ctx, attempt.id, outcome, actor=f"terminal:{conn.name}"
        )
    except Exception:  # the reconciler takes over once the op is overdue
        log.exception("settling terminal %s %s failed", op.kind, attempt.id)
    finally:
        conn.busy = None
        rt.poke()


async def _send_op(
    rt: TerminalRuntime, conn: _Conn, attempt: PaymentAttempt, op: TerminalOp
) -> CallOutcome:
    def load() -> tuple[Payment, str | None]:
        with rt.ctx.sessions() as s:
            found = terminal_payment(s, op.payment_id)
            return s.get_one(Payment, op.payment_id), found[1] if found else None

    payment, external_id = await asyncio.to_thread(load)
    try:
        if op.kind == "refund":
            refund = await conn.connector.refund_payment(
                RefundPaymentRequest(
                    payment_id=payment.clover_charge_id,
                    order_id=payment.clover_order_id,
                    amount=attempt.amount,
                    external_payment_id=external_id,  # a lost answer: device view
                )
            )
            crash_point("after_terminal_op_answered")
            if refund.success and refund.refund is not None and refund.refund.id:
                return CallOutcome("succeeded", clover_id=refund.refund.id)
            if refund.success:
                return CallOutcome("unknown", code="no_refund_in_answer")
            return CallOutcome(
                "rejected",
                code=(refund.reason or "refund_failed")[:64],
                message=refund.message or refund.reason,
            )
        void = await conn.connector.void_payment(
            VoidPaymentRequest(
                payment_id=payment.clover_charge_id,
                order_id=payment.clover_order_id,
                external_payment_id=external_id,
            )
        )
        crash_point("after_terminal_op_answered")
        if void.success:
            return CallOutcome("succeeded", clover_id=payment.clover_charge_id)
        return CallOutcome(
            "rejected",
            code=(void.reason or "void_failed")[:64],
            message=void.message or void.reason,
        )
    except OutcomeUnknownError as lost:
        why = lost.resolution.reason if lost.resolution is not None else str(lost)
        return CallOutcome("unknown", code="outcome_unknown", message=why)


# -- from other threads --------------------------------------------------------------


def refund(
    rt: TerminalRuntime,
    merchant_id: str,
    payment_id: str,
    *,
    amount: int | None,
    reason: str | None,
    actor: str,
    wait_s: float,
) -> PaymentAttempt:
    """Queue a terminal refund for the terminal's owner and wait for its outcome."""
    attempt = request_terminal_refund(
        rt.ctx, merchant_id, payment_id, amount=amount, reason=reason, actor=actor
    )
    rt.poke()
    return wait_settled(rt.ctx, attempt.id, wait_s)


def void(
    rt: TerminalRuntime,
    merchant_id: str,
    payment_id: str,
    *,
    reason: str | None,
    actor: str,
    wait_s: float,
) -> PaymentAttempt:
    """Queue a terminal void for the terminal's owner and wait for its outcome."""
    attempt = request_terminal_void(rt.ctx, merchant_id, payment_id, reason=reason, actor=actor)
    rt.poke()
    return wait_settled(rt.ctx, attempt.id, wait_s)
