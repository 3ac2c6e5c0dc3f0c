"""Terminal sales: the intent, the single send, the settlement, the recovery.

RELIABILITY.md rules 1-3 and scenario 8, on a card terminal:

1. **Intent** — :func:`start_terminal_sale` commits, in one transaction, a ``pending``
   charge attempt with ``source_kind='terminal'`` and an ``external_payment_id``
   derived from the attempt id (``cp`` + base32 of the id: 28 characters, unique in
   the database), the ``terminal_sales`` row in stage ``queued`` and the audit row.
   The partial unique index keeps one open charge attempt per invoice.
2. **One send** — only the terminal's lease owner sends, and only after winning
   :func:`claim_sale` (``queued -> sending``, a conditional UPDATE). Nothing ever moves
   a sale back to ``queued``: a sale is sent at most once, whatever crashes where.
   A sale nobody claimed in time is expired (``queued -> expired``, also conditional;
   never sent, so ``failed`` with ``terminal_unavailable``).
3. **Settle** — :func:`settle_terminal_sale` applies the device's answer like the online
   path: the payment row (the Clover payment id, the device's order), the attempt's
   state, the invoice's derived state, audit and outbox rows, in one transaction.
   The amount the device charged is compared with the attempt's (rule 7).
4. **Recover** — an answer that was lost is looked up by ``externalPaymentId``: on the
   device (``RETRIEVE_PAYMENT``) when this process owns it, then through the REST API
   (v3 payments filtered by ``externalPaymentId``). A lookup that proves nothing
   leaves the attempt ``unknown``, flagged for a person (audit + alert outbox row);
   the reconciler (:func:`check_terminal_attempt`) keeps looking on its schedule.
   Never a second sale.
"""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cloverpay.service.db import (
    Payment,
    PaymentAttempt,
    TerminalSale,
    new_id,
)
from cloverpay.service.domain import FINAL_ATTEMPT_STATES, AttemptKind, AttemptState
from cloverpay.service.errors import AttemptUnresolvedError, ConflictError, InvalidRequest
from cloverpay.service.services import terminal_queue as queue
from cloverpay.service.services.clover_calls import CallOutcome
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.intents import add_pending_attempt
from cloverpay.service.services.invoices import (
    _refuse_if_unresolved,
    invoice_totals,
    load_invoice,
)
from cloverpay.service.services.payments import (
    PAYABLE_STATES,
    _record_payment,
    lock_attempt,
    transition_attempt,
)
from cloverpay.service.services.records import add_outbox
from cloverpay.service.services.terminal_lookups import (
    TerminalOutcome,
    TerminalResolver,
    outcome_of_payment,
    outcome_of_resolution,
    rest_payments,
    rest_resolver,
)
from cloverpay.service.services.terminal_queue import MAX_SALE_S, QUEUE_TTL_S, SOURCE_KIND
from cloverpay.service.services.terminals import get_terminal

__all__ = [
    "MAX_SALE_S",
    "QUEUE_TTL_S",
    "TerminalOutcome",
    "TerminalResolver",
    "check_terminal_attempt",
    "claim_sale",
    "external_payment_id_for",
    "orphaned_sales",
    "outcome_of_payment",
    "outcome_of_resolution",
    "rest_payments",
    "rest_resolver",
    "settle_terminal_sale",
    "start_terminal_sale",
    "terminal_of_payment",
    "update_sale_screen",
]


def external_payment_id_for(attempt_id: str) -> str:
    """``cp`` + the attempt id's 16 bytes in base32 (28 characters, within Clover's 32)."""
    raw = uuid.UUID(hex=attempt_id).bytes
    return "cp" + base64.b32encode(raw).decode().rstrip("=").lower()


# -- 1. intent ------------------------------------------------------------------------


def start_terminal_sale(
    ctx: ServiceContext,
    merchant_id: str,
    invoice_id: str,
    terminal_id: str,
    *,
    amount: int | None = None,
    actor: str,
) -> PaymentAttempt:
    """Commit the intent of a sale of (part of) an invoice on a terminal; the terminal's
    lease owner sends it. Returns the ``pending`` attempt."""
    terminal = get_terminal(ctx, merchant_id, terminal_id)
    if terminal.status == "disabled":
        raise ConflictError("the terminal is disabled", field="terminal_id")
    now = ctx.now()
    try:
        with ctx.sessions.begin() as s:
            invoice = load_invoice(s, merchant_id, invoice_id, lock=True)
            if invoice.status not in PAYABLE_STATES:
                raise ConflictError(
                    f"invoice {invoice.number} is {invoice.status} and cannot be paid",
                    field="invoice_id",
                    code="invoice_not_payable",
                )
            _refuse_if_unresolved(s, invoice)
            due = invoice_totals(s, invoice).amount_due
            sale_amount = due if amount is None else amount
            if sale_amount <= 0 or sale_amount > due:
                raise InvalidRequest(
                    f"amount must be between 1 and the {due} cents due", field="amount"
                )
            attempt_id = new_id()
            external_id = external_payment_id_for(attempt_id)
            attempt = add_pending_attempt(
                s,
                attempt_id=attempt_id,
                merchant_id=merchant_id,
                kind=AttemptKind.CHARGE,
                amount=sale_amount,
                currency=invoice.currency,
                source_kind=SOURCE_KIND,
                request={"terminal_id": terminal.id},
                next_check_at=now + timedelta(seconds=QUEUE_TTL_S),
                actor=actor,
                now=now,
                audit={
                    "invoice_id": invoice.id,
                    "amount": sale_amount,
                    "terminal_id": terminal.id,
                    "external_payment_id": external_id,
                },
                invoice_id=invoice.id,
                tip_amount=0,
                external_payment_id=external_id,
            )
            s.add(
                TerminalSale(
                    attempt_id=attempt.id,
                    merchant_id=merchant_id,
                    terminal_id=terminal.id,
                    stage="queued",
                    ui_text="Waiting for the terminal",
                    created_at=now,
                    updated_at=now,
                )
            )
    except IntegrityError:
        raise AttemptUnresolvedError(
            "another payment of this invoice is in progress", field="invoice_id"
        ) from None
    return attempt


# -- 2. the one send ---------------------------------------------------------------------


def claim_sale(ctx: ServiceContext, attempt_id: str, owner: str) -> bool:
    """``queued -> sending`` for ``owner``, committed before anything is sent. True
    for the one caller that may send the sale, ever."""
    return queue.claim(ctx, TerminalSale, attempt_id, owner, action="terminal_sale.sent")


def queued_sales(ctx: ServiceContext, terminal_id: str, limit: int = 5) -> list[PaymentAttempt]:
    """The terminal's queued sales, oldest first (attempts still pending)."""
    return [attempt for attempt, _ in queue.queued(ctx, TerminalSale, terminal_id, limit)]


def orphaned_sales(ctx: ServiceContext, terminal_id: str, owner: str) -> list[str]:
    """Sales of the terminal sent by another process and never settled (that process
    died or lost the terminal): for the new owner to look up, never to resend."""
    return queue.orphaned(ctx, TerminalSale, terminal_id, owner)


def update_sale_screen(
    ctx: ServiceContext, attempt_id: str, ui_state: str | None, ui_text: str | None
) -> None:
    """The device's screen during the sale (UI_STATE), for the dashboard."""
    queue.update_screen(ctx, TerminalSale, attempt_id, ui_state, ui_text)


def expire_sale(ctx: ServiceContext, attempt_id: str, *, actor: str) -> bool:
    """``queued -> expired`` (never sent), then the attempt fails. False if the sale was
    claimed meanwhile."""
    if not queue.mark_expired(ctx, TerminalSale, attempt_id, "The terminal never took the sale"):
        return False
    settle_terminal_sale(
        ctx,
        attempt_id,
        TerminalOutcome(
            "failed",
            code="terminal_unavailable",
            message="never sent: no service process had the terminal connected in time",
        ),
        actor=actor,
    )
    return True


# -- 3. settle ---------------------------------------------------------------------------


def settle_terminal_sale(
    ctx: ServiceContext,
    attempt_id: str,
    outcome: TerminalOutcome,
    *,
    actor: str,
    flag_unknown: bool = True,
) -> PaymentAttempt:
    """Apply a terminal sale's outcome in one transaction (idempotent: a final attempt
    is left as it is, so the owner and the reconciler can race)."""
    now = ctx.now()
    with ctx.sessions.begin() as s:
        attempt = lock_attempt(s, attempt_id)
        sale = s.get(TerminalSale, attempt_id)
        if AttemptState(attempt.state) in FINAL_ATTEMPT_STATES:
            return attempt
        if outcome.status == "succeeded":
            assert outcome.payment_id is not None
            attempt.clover_order_id = outcome.order_id
            attempt.tip_amount = outcome.tip_amount
            transition_attempt(s, attempt, AttemptState.SUCCEEDED, actor=actor)
            _record_payment(
                s,
                attempt,
                CallOutcome(
                    "succeeded",
                    clover_id=outcome.payment_id,
                    card_brand=outcome.card_brand,
                    card_last4=outcome.card_last4,
                ),
                actor=actor,
                now=now,
            )
            attempt.resolved_at = now
            attempt.next_check_at = None
            stage, text = "done", "Approved"
        elif outcome.status == "failed":
            transition_attempt(s, attempt, AttemptState.FAILED, actor=actor, reason=outcome.message)
            attempt.failure_code = outcome.code
            attempt.failure_message = outcome.message
            attempt.resolved_at = now
            attempt.next_check_at = None
            add_outbox(
                s,
                merchant_id=attempt.merchant_id,
                topic="payment.failed",
                dedupe_key=f"payment.failed:{attempt.id}",
                payload={
                    "attempt_id": attempt.id,
                    "invoice_id": attempt.invoice_id,
                    "code": outcome.code,
                },
            )
            stage = "expired" if sale is not None and sale.stage == "expired" else "done"
            text = "Not paid" if stage == "done" else "The terminal never took the sale"
        else:
            transition_attempt(
                s,
                attempt,
                AttemptState.UNKNOWN,
                actor=actor,
                reason=outcome.code or "no answer",
            )
            queue.mark_unknown(
                ctx,
                s,
                attempt,
                outcome.code,
                outcome.message,
                flag=flag_unknown or outcome.code == "amount_mismatch",
                actor=actor,
                now=now,
            )
            stage, text = "unknown", "Outcome unknown: do not charge again"
        attempt.updated_at = now
        if sale is not None:
            queue.show_outcome(sale, stage, text, outcome.message or outcome.code, now)
    return attempt


# -- 4. recover (the reconciler's part) ------------------------------------------------------


def check_terminal_attempt(
    ctx: ServiceContext,
    attempt_id: str,
    resolver: TerminalResolver,
    *,
    actor: str = "reconciler",
) -> tuple[PaymentAttempt, TerminalOutcome | None]:
    """The reconciler's look at a terminal sale. Returns the attempt and the outcome of
    the lookup (None when it did not look: the sale is still queued or running)."""
    now = ctx.now()
    attempt, sale, terminal = queue.load(ctx, TerminalSale, attempt_id)
    if attempt.state not in (AttemptState.PENDING.value, AttemptState.UNKNOWN.value):
        return attempt, None
    if sale is None or terminal is None or attempt.external_payment_id is None:
        return attempt, None
    waiting = queue.wait_or_give_up(
        ctx,
        attempt,
        sale,
        terminal,
        now=now,
        expire=lambda: expire_sale(ctx, attempt_id, actor=actor),
        give_up=lambda: settle_terminal_sale(
            ctx,
            attempt_id,
            TerminalOutcome(
                "unknown", code="owner_lost", message="the process running the sale stopped"
            ),
            actor=actor,
            flag_unknown=False,
        ),
    )
    if waiting is not None:
        return waiting, None
    resolution = resolver(terminal, attempt.external_payment_id)
    outcome = outcome_of_resolution(attempt.amount, resolution)
    if outcome.status == "unknown" and outcome.code == "lookup_unknown":
        return queue.reread(ctx, attempt_id), outcome
    settled = settle_terminal_sale(ctx, attempt_id, outcome, actor=actor)
    return settled, outcome


# -- refunds of terminal payments ------------------------------------------------------------


def terminal_of_payment(ctx: ServiceContext, payment_id: str) -> str | None:
    """The terminal that took a payment (None for a payment not taken on a terminal)."""
    with ctx.sessions() as s:
        return s.scalar(
            select(TerminalSale.terminal_id)
            .join(Payment, Payment.attempt_id == TerminalSale.attempt_id)
            .where(Payment.id == payment_id)
        )
