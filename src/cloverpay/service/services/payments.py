"""Paying an invoice, the money path (RELIABILITY.md rules 1, 2, 5, 7, 8).

1. One transaction commits the intent: a ``pending`` attempt whose idempotency key is
   derived from its id, scheduled for the reconciler's first look. A second open
   attempt for the invoice loses at the partial unique index.
2. The call to Clover happens outside any transaction, with that key.
3. One transaction settles the answer: the payment row, the attempt's new state, the
   invoice's derived state, the audit rows and the outbox rows, together.
   ``unknown`` stays unknown (the reconciler resolves it); ``declined`` is ``failed``
   with Clover's code.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, lazyload

from cloverpay.api import TENDER_CASH, TENDER_CHECK
from cloverpay.service.db import CardOnFile, Invoice, Merchant, Payment, PaymentAttempt, new_id
from cloverpay.service.domain import (
    FINAL_ATTEMPT_STATES,
    AttemptKind,
    AttemptState,
    InvoiceStatus,
    apply_transition,
)
from cloverpay.service.errors import AttemptUnresolvedError, ConflictError, InvalidRequest, NotFound
from cloverpay.service.services.clover_calls import RECONNECT_REQUIRED, CallOutcome, send_charge
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.intents import (
    KEY_NAMESPACE,
    add_pending_attempt,
    attempt_key,
    first_check_at,
)
from cloverpay.service.services.invoices import (
    PAID_AND_REFUNDED,
    InvoiceTotals,
    _refuse_if_unresolved,
    load_invoice,
    payable_facts,
    set_paid_status,
)
from cloverpay.service.services.receipts import (
    Recipient,
    queue_payment_receipt,
    recipient_of,
    select_recipient,
)
from cloverpay.service.services.records import (
    add_audit,
    add_outbox,
    alert_reconnect_required,
    written_together,
)
from cloverpay.service.services.send import Settle, send_then_settle

__all__ = [
    "KEY_NAMESPACE",
    "PAYABLE_STATES",
    "InSettle",
    "apply_charge_outcome",
    "attempt_key",
    "card_on_file_request",
    "pay_invoice",
    "settle_charge",
    "settled_totals",
    "transition_attempt",
]

PAYABLE_STATES = frozenset(
    {
        InvoiceStatus.OPEN.value,
        InvoiceStatus.PARTIALLY_PAID.value,
        InvoiceStatus.UNCOLLECTIBLE.value,
    }
)
#: Called inside a settle transaction, after the outcome is applied.
InSettle = Callable[[Session, PaymentAttempt], None]
#: Alternate tenders recorded through Clover (label keys of Clover's standard tenders).
TENDERS = {"cash": TENDER_CASH, "check": TENDER_CHECK}


def transition_attempt(
    session: Session,
    attempt: PaymentAttempt,
    target: AttemptState,
    *,
    actor: str,
    reason: str | None = None,
) -> bool:
    current = AttemptState(attempt.state)
    if not apply_transition("payment_attempt", current, target):
        return False
    attempt.state = target.value
    add_audit(
        session,
        merchant_id=attempt.merchant_id,
        actor=actor,
        action=f"{attempt.kind}_attempt.{target.value}",
        entity_type="payment_attempt",
        entity_id=attempt.id,
        from_state=current.value,
        to_state=target.value,
        reason=reason,
    )
    return True


_LOCK_ATTEMPT = (
    select(PaymentAttempt).where(PaymentAttempt.id == bindparam("attempt_id")).with_for_update()
)


def _lock_with_invoice_stmt(line_items: bool) -> Any:
    """The attempt and its invoice locked in one statement, in the order every settle
    locks them (``FOR UPDATE OF`` locks in the order it names them: the attempt, then
    the invoice); no row for an attempt without an invoice."""
    return (
        select(PaymentAttempt, Invoice)
        .join(
            Invoice,
            and_(
                Invoice.id == PaymentAttempt.invoice_id,
                Invoice.merchant_id == PaymentAttempt.merchant_id,
            ),
        )
        .where(PaymentAttempt.id == bindparam("attempt_id"))
        .options(joinedload(Invoice.line_items) if line_items else lazyload(Invoice.line_items))
        .with_for_update(of=[PaymentAttempt, Invoice])
    )


#: By "with the invoice's line items" (for an answer built in the settle).
_LOCK_WITH_INVOICE = {items: _lock_with_invoice_stmt(items) for items in (False, True)}
#: What a payment's settle reads after the invoice's lock: its payments' sums (the latest
#: commits on PostgreSQL) and who gets the receipt, in one statement.
_SUMS_AND_RECIPIENT = select_recipient(*PAID_AND_REFUNDED)


# Built once (a statement built per call also computes its cache key per call).
_LOCK_INVOICE_WITH_MERCHANT = (
    select(Invoice, Merchant)
    .join(Merchant, Merchant.id == Invoice.merchant_id)
    .where(Invoice.id == bindparam("invoice_id"), Invoice.merchant_id == bindparam("merchant_id"))
    .options(lazyload(Invoice.line_items))
    .with_for_update(of=Invoice)
)


def card_on_file_request(
    s: Session, merchant_id: str, card_on_file_id: str, *, is_scheduled: bool
) -> dict[str, Any]:
    """What a charge on the merchant's card on file sends: the Clover customer and the
    stored-credential facts (404 for a card that is not theirs or was deleted)."""
    card = s.scalar(
        select(CardOnFile).where(
            CardOnFile.id == card_on_file_id,
            CardOnFile.merchant_id == merchant_id,
            CardOnFile.deleted_at.is_(None),
        )
    )
    if card is None:
        raise NotFound(f"no card on file {card_on_file_id}", field="card_on_file_id")
    return {
        "customer": card.clover_customer_id,
        "cof_initialized": card.cof_initialized,
        "is_scheduled": is_scheduled,
    }


def lock_attempt(session: Session, attempt_id: str) -> PaymentAttempt:
    attempt = session.scalar(_LOCK_ATTEMPT, {"attempt_id": attempt_id})
    if attempt is None:
        raise NotFound(f"no payment attempt {attempt_id}", field="attempt_id")
    return attempt


def pay_invoice(
    ctx: ServiceContext,
    merchant_id: str,
    invoice_id: str,
    *,
    token: str | None = None,
    card_on_file_id: str | None = None,
    tender: str | None = None,
    amount: int | None = None,
    tip_amount: int = 0,
    initiator: str = "CARDHOLDER",
    client_ip: str | None = None,
    is_scheduled: bool = False,
    attempt_id: str | None = None,
    actor: str,
    in_settle: InSettle | None = None,
) -> PaymentAttempt:
    """Charge a ``clv_`` token or a card on file, or record an alternate tender
    (``tender="cash"``/``"check"``, paid on Clover's order as well) for an invoice.

    ``is_scheduled`` marks a merchant-initiated card-on-file charge made on a schedule
    (subscriptions). ``attempt_id`` lets a caller derive the attempt's id (and so its
    idempotency key) from its own record: a second call with the same id loses at the
    primary key (:class:`AttemptUnresolvedError`) and nothing is sent twice.

    ``in_settle(session, attempt)`` runs inside the settle transaction, after Clover's
    answer is applied (the API builds and stores its answer there, so it commits with
    the settle instead of in transactions of its own)."""
    if sum(x is not None for x in (token, card_on_file_id, tender)) != 1:
        raise InvalidRequest("give exactly one of token, card_on_file_id or tender", field="token")
    if tender is not None and tender not in TENDERS:
        raise InvalidRequest("tender must be cash or check", field="tender")
    if token is not None and not token.startswith("clv_"):
        raise InvalidRequest("token must be a Clover card token (clv_...)", field="token")
    if initiator not in ("CARDHOLDER", "MERCHANT"):
        raise InvalidRequest("initiator must be CARDHOLDER or MERCHANT", field="initiator")
    if tip_amount < 0:
        raise InvalidRequest("tip_amount must be >= 0", field="tip_amount")
    now = ctx.now()
    try:
        with ctx.sessions.begin() as s:
            # The invoice row locked, with its merchant (for the call), without items.
            row = s.execute(
                _LOCK_INVOICE_WITH_MERCHANT, {"invoice_id": invoice_id, "merchant_id": merchant_id}
            ).first()
            if row is None:
                raise NotFound(f"no invoice {invoice_id}", field="invoice_id")
            invoice, merchant = row
            if invoice.status not in PAYABLE_STATES or invoice.clover_order_id is None:
                raise ConflictError(
                    f"invoice {invoice.number} is {invoice.status} and cannot be paid",
                    field="invoice_id",
                    code="invoice_not_payable",
                )
            facts = payable_facts(s, invoice.id)  # read after the lock: latest commits
            _refuse_if_unresolved(s, invoice, facts)
            due = max(invoice.total - facts.paid, 0)
            held = facts.held
            if held and due - held <= 0:
                raise ConflictError(
                    f"a pre-authorization holds the {due} cents due; capture or void it",
                    field="invoice_id",
                    code="invoice_authorized",
                )
            due -= held
            charge_amount = due if amount is None else amount
            if charge_amount <= 0 or charge_amount > due:
                raise InvalidRequest(
                    f"amount must be between 1 and the {due} cents due", field="amount"
                )
            request: dict[str, Any] = {"client_ip": client_ip}
            if card_on_file_id is not None:
                request.update(
                    card_on_file_request(s, merchant_id, card_on_file_id, is_scheduled=is_scheduled)
                )
            elif tender is not None:
                request["tender"] = tender
            else:
                request["source"] = token
            attempt = add_pending_attempt(
                s,
                attempt_id=attempt_id,
                merchant_id=merchant_id,
                kind=AttemptKind.CHARGE,
                amount=charge_amount,
                currency=invoice.currency,
                source_kind=(
                    "card_on_file"
                    if card_on_file_id
                    else ("alternate_tender" if tender else "token")
                ),
                request=request,
                next_check_at=first_check_at(ctx, now),
                actor=actor,
                now=now,
                audit={"invoice_id": invoice.id, "amount": charge_amount, "tip": tip_amount},
                invoice_id=invoice.id,
                tip_amount=tip_amount,
                card_on_file_id=card_on_file_id,
                initiator=initiator if card_on_file_id else None,
                clover_order_id=invoice.clover_order_id,
                detached=True,  # one Core INSERT, no unit of work
            )
    except IntegrityError:
        raise AttemptUnresolvedError(
            "another payment of this invoice is in progress", field="invoice_id"
        ) from None
    settle: Settle = settle_charge
    if in_settle is not None:
        settle = functools.partial(settle_charge, in_settle=in_settle)
    return send_then_settle(
        ctx, merchant, attempt, kind="charge", send=send_charge, settle=settle, actor=actor
    )


#: ``Session.info`` key: {invoice id: :class:`InvoiceTotals`} as the settle in that
#: session left them (:func:`settled_totals`).
SETTLED_TOTALS = "cloverpay_settled_totals"


@dataclass(frozen=True, slots=True)
class _Locked:
    """The attempt's invoice (None: it has none), locked; what its payments add up to
    and who gets the receipt, read after the lock."""

    invoice: Invoice | None
    paid: int
    recipient: Recipient | None = None


def _lock_for_payment(
    s: Session, attempt: PaymentAttempt, invoice: Invoice | None = None
) -> _Locked:
    """The attempt's invoice locked (without its line items, unless ``invoice``: locked
    by the caller already) and what its payments add up to, read after the lock (the
    latest commits on PostgreSQL); what they refunded is read in the same statement,
    for the answer (:func:`settled_totals`), and so is the receipt's recipient."""
    if attempt.invoice_id is None:
        return _Locked(None, 0)
    if invoice is None:
        invoice = load_invoice(
            s, attempt.merchant_id, attempt.invoice_id, lock=True, line_items=False
        )
    # The identity map holds clean rows weakly: keep this one for the transaction, so
    # what is built from it later in the transaction (the API's answer) does not read
    # it again.
    s.info.setdefault("locked_invoices", {})[invoice.id] = invoice
    row = s.execute(_SUMS_AND_RECIPIENT, {"invoice_id": invoice.id}).one()
    paid, refunded = int(row[0] or 0), int(row[1] or 0)
    s.info.setdefault(SETTLED_TOTALS, {})[invoice.id] = InvoiceTotals(invoice.total, paid, refunded)
    return _Locked(invoice, paid, recipient_of(row))


def settled_totals(s: Session, invoice_id: str) -> InvoiceTotals | None:
    """The invoice's totals after the payment recorded in this transaction (its
    invoice locked, its sums read after the lock), or None if none was."""
    found = s.info.get(SETTLED_TOTALS, {}).get(invoice_id)
    return found if isinstance(found, InvoiceTotals) else None


def _record_payment(
    s: Session,
    attempt: PaymentAttempt,
    outcome: CallOutcome,
    *,
    actor: str,
    locked: _Locked | None = None,
    now: datetime | None = None,
) -> Payment:
    """``locked``: :func:`_lock_for_payment`, called by the caller before it changed
    anything (then every row of the settle is written in one flush). ``now``: the
    receipt's date and when it is due to be sent."""
    assert outcome.clover_id is not None
    if locked is None:
        locked = _lock_for_payment(s, attempt)
    invoice, paid_before = locked.invoice, locked.paid
    attempt.clover_charge_id = outcome.clover_id
    payment = Payment(
        id=new_id(),
        merchant_id=attempt.merchant_id,
        invoice_id=attempt.invoice_id,
        attempt_id=attempt.id,
        clover_charge_id=outcome.clover_id,
        clover_order_id=attempt.clover_order_id,
        amount=attempt.amount,
        tip_amount=attempt.tip_amount,
        currency=attempt.currency,
        tender=json.loads(attempt.request_json).get("tender") or "card",
        card_brand=outcome.card_brand,
        card_last4=outcome.card_last4,
    )
    s.add(payment)
    add_outbox(
        s,
        merchant_id=attempt.merchant_id,
        topic="payment.succeeded",
        dedupe_key=f"payment.succeeded:{payment.id}",
        payload={
            "payment_id": payment.id,
            "invoice_id": attempt.invoice_id,
            "amount": payment.amount,
            "tip_amount": payment.tip_amount,
            "currency": payment.currency,
        },
    )
    if attempt.card_on_file_id is not None:
        card = s.get(CardOnFile, attempt.card_on_file_id)
        if card is not None and not card.cof_initialized:
            card.cof_initialized = True
    if invoice is not None:
        paid = paid_before + payment.amount
        before = settled_totals(s, invoice.id)
        if before is not None:  # the payment counts from here on (as amount_paid counts it)
            s.info[SETTLED_TOTALS][invoice.id] = InvoiceTotals(invoice.total, paid, before.refunded)
        queue_payment_receipt(
            s, payment, invoice=invoice, paid=paid, now=now, recipient=locked.recipient
        )
        set_paid_status(s, invoice, payment, paid=paid, actor=actor)
    return payment


def settle_charge(
    ctx: ServiceContext,
    attempt_id: str,
    outcome: CallOutcome,
    *,
    actor: str,
    in_settle: InSettle | None = None,
) -> PaymentAttempt:
    """Apply Clover's answer to a charge attempt in one transaction (idempotent);
    ``in_settle`` runs in that transaction, last (see :func:`pay_invoice`).

    A success locks the attempt and its invoice in one statement (with the invoice's
    line items when ``in_settle`` builds an answer); the audit and outbox rows are
    written together at the end (:func:`~.records.written_together`)."""
    with ctx.sessions.begin() as s, written_together(s):
        attempt, invoice = _lock_for_settle(
            s, attempt_id, outcome, line_items=in_settle is not None
        )
        apply_charge_outcome(s, attempt, outcome, actor=actor, now=ctx.now(), invoice=invoice)
        if in_settle is not None:
            in_settle(s, attempt)
    return attempt


def _lock_for_settle(
    s: Session, attempt_id: str, outcome: CallOutcome, *, line_items: bool
) -> tuple[PaymentAttempt, Invoice | None]:
    """The attempt locked, and for a success its invoice too (None: it has none, or
    the outcome records no payment and the invoice is not locked)."""
    if outcome.status == "succeeded":
        row = s.execute(_LOCK_WITH_INVOICE[line_items], {"attempt_id": attempt_id}).unique().first()
        if row is not None:
            return row[0], row[1]
    return lock_attempt(s, attempt_id), None


def apply_charge_outcome(
    s: Session,
    attempt: PaymentAttempt,
    outcome: CallOutcome,
    *,
    actor: str,
    now: datetime,
    invoice: Invoice | None = None,
) -> bool:
    """Settle a *locked* charge attempt inside the caller's transaction (a webhook's
    processing applies it together with marking the event processed). False when the
    attempt was final already (settled by the reconciler or another request): no-op.
    ``invoice``: the attempt's invoice, locked by the caller after the attempt (else a
    success locks it here)."""
    if AttemptState(attempt.state) in FINAL_ATTEMPT_STATES:
        return False
    if not attempt.capture:
        raise InvalidRequest(
            "a pre-authorization is settled by services.preauth.settle_authorize",
            field="attempt_id",
        )
    if outcome.status == "succeeded":
        locked = _lock_for_payment(s, attempt, invoice)  # before any change: one flush
        transition_attempt(s, attempt, AttemptState.SUCCEEDED, actor=actor)
        _record_payment(s, attempt, outcome, actor=actor, locked=locked, now=now)
        attempt.resolved_at = now
        attempt.next_check_at = None
    elif outcome.status in ("declined", "rejected", "failed"):
        transition_attempt(s, attempt, AttemptState.FAILED, actor=actor, reason=outcome.message)
        attempt.failure_code = outcome.code
        attempt.failure_message = outcome.message
        if outcome.status == "declined" and outcome.clover_id:
            attempt.clover_charge_id = outcome.clover_id
        attempt.resolved_at = now
        attempt.next_check_at = None
        if outcome.code == RECONNECT_REQUIRED:
            alert_reconnect_required(
                s, attempt.merchant_id, attempt_id=attempt.id, actor=actor, now=now
            )
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
    else:
        transition_attempt(
            s, attempt, AttemptState.UNKNOWN, actor=actor, reason=outcome.code or "no answer"
        )
        attempt.failure_code = outcome.code
        attempt.failure_message = outcome.message
    attempt.updated_at = now
    return True


def get_attempt(ctx: ServiceContext, merchant_id: str, attempt_id: str) -> PaymentAttempt:
    with ctx.sessions() as s:
        attempt = s.get(PaymentAttempt, attempt_id)
        if attempt is None or attempt.merchant_id != merchant_id:
            raise NotFound(f"no payment attempt {attempt_id}", field="attempt_id")
        return attempt


def payment_for_attempt(ctx: ServiceContext, attempt_id: str) -> Payment | None:
    with ctx.sessions() as s:
        return s.scalar(select(Payment).where(Payment.attempt_id == attempt_id))
