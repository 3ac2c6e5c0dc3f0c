"""Settling pre-authorization attempts: Clover's answer applied in one transaction
each (the attempt, the authorization, the payment, the invoice's derived status, audit
and outbox rows; RELIABILITY.md rule 5), idempotent against the request path and the
reconciler; and how the reconciler resolves these attempts (:func:`reconcile_handler`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloverpay.service.db import Authorization, CardOnFile, Merchant, Payment, PaymentAttempt
from cloverpay.service.domain import (
    FINAL_ATTEMPT_STATES,
    AttemptKind,
    AttemptState,
    AuthorizationStatus,
    apply_transition,
)
from cloverpay.service.errors import NotFound
from cloverpay.service.services.clover_calls import (
    RECONNECT_REQUIRED,
    CallOutcome,
    lookup_refund,
    send_refund,
)
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.invoices import amount_paid, load_invoice, set_paid_status
from cloverpay.service.services.payments import lock_attempt, transition_attempt
from cloverpay.service.services.preauth_calls import (
    lookup_authorize,
    lookup_capture,
    send_authorize,
    send_capture,
)
from cloverpay.service.services.receipts import queue_payment_receipt
from cloverpay.service.services.records import add_audit, add_outbox, alert_reconnect_required
from cloverpay.service.services.refunds import settle_refund

__all__ = [
    "ReconcileHandler",
    "lock_authorization",
    "reconcile_handler",
    "settle_authorize",
    "settle_capture",
    "settle_void_authorization",
]


def _fail(s: Session, attempt: PaymentAttempt, outcome: CallOutcome, *, actor: str) -> None:
    now_resolved = attempt.updated_at
    transition_attempt(s, attempt, AttemptState.FAILED, actor=actor, reason=outcome.message)
    attempt.failure_code = outcome.code
    attempt.failure_message = outcome.message
    attempt.resolved_at = now_resolved
    attempt.next_check_at = None
    if outcome.code == RECONNECT_REQUIRED:
        alert_reconnect_required(
            s, attempt.merchant_id, attempt_id=attempt.id, actor=actor, now=now_resolved
        )


def _unknown(s: Session, attempt: PaymentAttempt, outcome: CallOutcome, *, actor: str) -> None:
    transition_attempt(
        s, attempt, AttemptState.UNKNOWN, actor=actor, reason=outcome.code or "no answer"
    )
    attempt.failure_code = outcome.code
    attempt.failure_message = outcome.message


def _succeed(s: Session, attempt: PaymentAttempt, *, actor: str, now: datetime) -> None:
    transition_attempt(s, attempt, AttemptState.SUCCEEDED, actor=actor)
    attempt.resolved_at = now
    attempt.next_check_at = None


def _settle(
    ctx: ServiceContext,
    attempt_id: str,
    outcome: CallOutcome,
    *,
    actor: str,
    succeeded: Callable[[Session, PaymentAttempt, datetime], None],
    failed: Callable[[Session, PaymentAttempt], None] | None = None,
    lock_invoice: bool = False,
) -> PaymentAttempt:
    """The one transaction of a settlement (idempotent: a final attempt is left as it
    is); ``succeeded`` / ``failed`` add what is particular to the kind of attempt."""
    now = ctx.now()
    with ctx.sessions.begin() as s:
        attempt = lock_attempt(s, attempt_id)
        if AttemptState(attempt.state) in FINAL_ATTEMPT_STATES:
            return attempt
        attempt.updated_at = now
        if lock_invoice:
            assert attempt.invoice_id is not None
            load_invoice(s, attempt.merchant_id, attempt.invoice_id, lock=True)
        if outcome.status == "succeeded":
            succeeded(s, attempt, now)
        elif outcome.status in ("declined", "rejected", "failed"):
            _fail(s, attempt, outcome, actor=actor)
            if failed is not None:
                failed(s, attempt)
        else:
            _unknown(s, attempt, outcome, actor=actor)
    return attempt


def _succeed_on_authorization(
    s: Session, attempt: PaymentAttempt, *, actor: str, now: datetime
) -> Authorization:
    """A capture or void succeeded: its authorization, locked."""
    assert attempt.authorization_id is not None
    auth = lock_authorization(s, attempt.merchant_id, attempt.authorization_id)
    _succeed(s, attempt, actor=actor, now=now)
    return auth


def settle_authorize(
    ctx: ServiceContext, attempt_id: str, outcome: CallOutcome, *, actor: str
) -> PaymentAttempt:
    """Apply Clover's answer to an authorize attempt in one transaction (idempotent).

    The invoice row is locked too: a payment of the invoice computing its amount due
    waits for this, so it never misses the hold (nor the open attempt)."""

    def succeeded(s: Session, attempt: PaymentAttempt, now: datetime) -> None:
        assert outcome.clover_id is not None
        _succeed(s, attempt, actor=actor, now=now)
        attempt.clover_charge_id = outcome.clover_id
        auth = Authorization(
            merchant_id=attempt.merchant_id,
            invoice_id=attempt.invoice_id,
            attempt_id=attempt.id,
            clover_charge_id=outcome.clover_id,
            status=AuthorizationStatus.AUTHORIZED.value,
            amount=attempt.amount,
            tip_amount=attempt.tip_amount,
            amount_captured=0,
            currency=attempt.currency,
            card_brand=outcome.card_brand,
            card_last4=outcome.card_last4,
            created_at=now,
            updated_at=now,
        )
        s.add(auth)
        s.flush()
        if attempt.card_on_file_id is not None:
            # an approved authorization establishes the stored credential (FIRST)
            card = s.get(CardOnFile, attempt.card_on_file_id)
            if card is not None and not card.cof_initialized:
                card.cof_initialized = True
        add_audit(
            s,
            merchant_id=attempt.merchant_id,
            actor=actor,
            action="authorization.created",
            entity_type="authorization",
            entity_id=auth.id,
            to_state=AuthorizationStatus.AUTHORIZED.value,
            data={"invoice_id": attempt.invoice_id, "amount": auth.amount},
        )
        add_outbox(
            s,
            merchant_id=attempt.merchant_id,
            topic="authorization.succeeded",
            dedupe_key=f"authorization.succeeded:{auth.id}",
            payload={
                "authorization_id": auth.id,
                "invoice_id": attempt.invoice_id,
                "amount": auth.amount,
                "tip_amount": auth.tip_amount,
            },
        )

    def failed(s: Session, attempt: PaymentAttempt) -> None:
        if outcome.status == "declined" and outcome.clover_id:
            attempt.clover_charge_id = outcome.clover_id
        add_outbox(
            s,
            merchant_id=attempt.merchant_id,
            topic="authorization.failed",
            dedupe_key=f"authorization.failed:{attempt.id}",
            payload={
                "attempt_id": attempt.id,
                "invoice_id": attempt.invoice_id,
                "code": outcome.code,
            },
        )

    return _settle(
        ctx, attempt_id, outcome, actor=actor, succeeded=succeeded, failed=failed, lock_invoice=True
    )


def lock_authorization(s: Session, merchant_id: str, authorization_id: str) -> Authorization:
    auth = s.scalar(
        select(Authorization)
        .where(Authorization.id == authorization_id, Authorization.merchant_id == merchant_id)
        .with_for_update()
    )
    if auth is None:
        raise NotFound(f"no authorization {authorization_id}", field="authorization_id")
    return auth


def _set_status(
    s: Session, auth: Authorization, target: AuthorizationStatus, *, actor: str
) -> None:
    current = AuthorizationStatus(auth.status)
    if not apply_transition("authorization", current, target):
        return
    auth.status = target.value
    add_audit(
        s,
        merchant_id=auth.merchant_id,
        actor=actor,
        action=f"authorization.{target.value}",
        entity_type="authorization",
        entity_id=auth.id,
        from_state=current.value,
        to_state=target.value,
    )


def settle_capture(
    ctx: ServiceContext, attempt_id: str, outcome: CallOutcome, *, actor: str
) -> PaymentAttempt:
    """One transaction: the attempt, the authorization (captured), the payment, the
    invoice's derived status, audit and outbox rows."""

    def succeeded(s: Session, attempt: PaymentAttempt, now: datetime) -> None:
        auth = _succeed_on_authorization(s, attempt, actor=actor, now=now)
        auth.amount_captured = attempt.amount
        auth.updated_at = now
        _set_status(s, auth, AuthorizationStatus.CAPTURED, actor=actor)
        payment = Payment(
            merchant_id=attempt.merchant_id,
            invoice_id=auth.invoice_id,
            attempt_id=attempt.id,
            clover_charge_id=auth.clover_charge_id,
            amount=attempt.amount,
            tip_amount=auth.tip_amount,
            currency=auth.currency,
            tender="card",
            card_brand=auth.card_brand or outcome.card_brand,
            card_last4=auth.card_last4 or outcome.card_last4,
        )
        s.add(payment)
        s.flush()
        add_outbox(
            s,
            merchant_id=attempt.merchant_id,
            topic="payment.succeeded",
            dedupe_key=f"payment.succeeded:{payment.id}",
            payload={
                "payment_id": payment.id,
                "invoice_id": auth.invoice_id,
                "authorization_id": auth.id,
                "amount": payment.amount,
                "tip_amount": payment.tip_amount,
                "currency": payment.currency,
            },
        )
        _apply_to_invoice(s, attempt.merchant_id, auth.invoice_id, payment, actor=actor, now=now)

    return _settle(ctx, attempt_id, outcome, actor=actor, succeeded=succeeded)


def _apply_to_invoice(
    s: Session,
    merchant_id: str,
    invoice_id: str,
    payment: Payment,
    *,
    actor: str,
    now: datetime | None = None,
) -> None:
    invoice = load_invoice(s, merchant_id, invoice_id, lock=True)
    paid = amount_paid(s, invoice.id)
    queue_payment_receipt(s, payment, invoice=invoice, paid=paid, now=now)
    set_paid_status(s, invoice, payment, paid=paid, actor=actor)


def settle_void_authorization(
    ctx: ServiceContext, attempt_id: str, outcome: CallOutcome, *, actor: str
) -> PaymentAttempt:
    def succeeded(s: Session, attempt: PaymentAttempt, now: datetime) -> None:
        auth = _succeed_on_authorization(s, attempt, actor=actor, now=now)
        attempt.clover_refund_id = outcome.clover_id
        auth.updated_at = now
        _set_status(s, auth, AuthorizationStatus.VOIDED, actor=actor)
        add_outbox(
            s,
            merchant_id=attempt.merchant_id,
            topic="authorization.voided",
            dedupe_key=f"authorization.voided:{auth.id}",
            payload={"authorization_id": auth.id, "invoice_id": auth.invoice_id},
        )

    return _settle(ctx, attempt_id, outcome, actor=actor, succeeded=succeeded)


# --------------------------------------------------------------------------- reconciler


Ask = Callable[[ServiceContext, Merchant, PaymentAttempt], CallOutcome]
Settle = Callable[..., PaymentAttempt]


@dataclass(frozen=True, slots=True)
class ReconcileHandler:
    """How the reconciler resolves an attempt: resend with the same key; if Clover
    *rejects* the resend, look the object up before believing anything (rule 3)."""

    send: Ask
    lookup: Ask
    settle: Settle

    def ask(self, ctx: ServiceContext, merchant: Merchant, attempt: PaymentAttempt) -> CallOutcome:
        outcome = self.send(ctx, merchant, attempt)
        if outcome.status == "rejected":
            outcome = self.lookup(ctx, merchant, attempt)
        return outcome


_AUTHORIZE = ReconcileHandler(send_authorize, lookup_authorize, settle_authorize)
_CAPTURE = ReconcileHandler(send_capture, lookup_capture, settle_capture)
_VOID_AUTHORIZATION = ReconcileHandler(send_refund, lookup_refund, settle_void_authorization)
_VOID_PAYMENT = ReconcileHandler(send_refund, lookup_refund, settle_refund)


def reconcile_handler(attempt: PaymentAttempt) -> ReconcileHandler | None:
    """The handler for the attempts of this module; None for the others."""
    if attempt.kind == AttemptKind.CHARGE.value and not attempt.capture:
        return _AUTHORIZE
    if attempt.kind == AttemptKind.CAPTURE.value:
        return _CAPTURE
    if attempt.kind == AttemptKind.VOID.value:
        return _VOID_AUTHORIZATION if attempt.authorization_id else _VOID_PAYMENT
    return None
