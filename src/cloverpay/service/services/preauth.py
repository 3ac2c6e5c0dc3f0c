"""Pre-authorize and capture; void an authorization or an online payment.

Every call that can move or hold money goes the money path (RELIABILITY.md rules 1-3,
5, 7): an intent row first, its idempotency key derived from its id, the call outside
any transaction (:func:`send_then_settle`), the answer settled in one transaction with
the audit and outbox rows; ``unknown`` is a state the reconciler resolves (it asks
:func:`reconcile_handler` which calls resend, look up and settle an attempt of these
kinds).

* **authorize** — a ``charge`` attempt with ``capture = false``: ``POST /v1/charges``
  with ``capture: false`` on a ``clv_`` token or a card on file (Clover's pay-an-order
  call has no ``capture`` switch, so the authorization is a charge of its own, tagged
  with the attempt id in ``metadata``). It holds the amount on the card: the invoice's
  amount due for other payments is reduced by what is held. Settled into an
  :class:`Authorization` (``authorized``).
* **capture** — ``POST /v1/charges/{id}/capture`` with the amount (all of it or less;
  Clover releases the rest). Settled into a :class:`Payment` (the amount applied to
  the invoice, the authorization's tip kept apart in ``tip_amount``) and the invoice's
  derived status; the authorization becomes ``captured``.
* **void an authorization** — a refund of the uncaptured charge (``POST /v1/refunds``,
  all of it): Clover documents no void call for an Ecommerce authorization, so this is
  a guess ([G]; the sandbox does it with ``refund_releases_authorization``). The
  authorization becomes ``voided``; no money was taken, nothing is recorded as paid.
* **void a payment** — a ``void`` attempt on the payment: the whole captured amount
  refunded (``POST /v1/refunds``; Clover turns it into a void at the gateway when the
  payment is not settled yet). Recorded as a refund (reason ``void``), so every total
  stays derived from refund rows; refused once anything of the payment was refunded.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloverpay.service.db import (
    Authorization,
    Merchant,
    Payment,
    PaymentAttempt,
    new_id,
)
from cloverpay.service.domain import (
    OPEN_ATTEMPT_STATES,
    AttemptKind,
    AttemptState,
    AuthorizationStatus,
)
from cloverpay.service.errors import (
    AttemptUnresolvedError,
    ConflictError,
    InvalidRequest,
    NotFound,
)
from cloverpay.service.services.clover_calls import send_refund
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.intents import (
    add_pending_attempt,
    first_check_at,
    refunds_and_voids_held,
)
from cloverpay.service.services.invoices import (
    _refuse_if_unresolved,
    amount_held,
    amount_paid,
    load_invoice,
)
from cloverpay.service.services.payments import PAYABLE_STATES, card_on_file_request
from cloverpay.service.services.preauth_calls import send_authorize, send_capture
from cloverpay.service.services.preauth_settle import (
    ReconcileHandler,
    lock_authorization,
    reconcile_handler,
    settle_authorize,
    settle_capture,
    settle_void_authorization,
)
from cloverpay.service.services.refund_refs import with_reference
from cloverpay.service.services.refunds import REST_SOURCE_KIND, settle_refund
from cloverpay.service.services.send import Send, Settle, send_then_settle

__all__ = [
    "ReconcileHandler",
    "authorization_for_attempt",
    "authorize_invoice",
    "capture_authorization",
    "get_authorization",
    "reconcile_handler",
    "settle_authorize",
    "settle_capture",
    "settle_void_authorization",
    "void_authorization",
    "void_payment",
]


def authorize_invoice(
    ctx: ServiceContext,
    merchant_id: str,
    invoice_id: str,
    *,
    token: str | None = None,
    card_on_file_id: str | None = None,
    amount: int | None = None,
    tip_amount: int = 0,
    initiator: str = "CARDHOLDER",
    client_ip: str | None = None,
    actor: str,
) -> PaymentAttempt:
    """Hold the invoice's amount due (or ``amount`` of it) on a token or a card on file."""
    if (token is None) == (card_on_file_id is None):
        raise InvalidRequest("give exactly one of token or card_on_file_id", field="token")
    if token is not None and not token.startswith("clv_"):
        raise InvalidRequest("token must be a Clover card token (clv_...)", field="token")
    if initiator not in ("CARDHOLDER", "MERCHANT"):
        raise InvalidRequest("initiator must be CARDHOLDER or MERCHANT", field="initiator")
    if tip_amount < 0:
        raise InvalidRequest("tip_amount must be >= 0", field="tip_amount")
    now = ctx.now()
    try:
        with ctx.sessions.begin() as s:
            invoice = load_invoice(s, merchant_id, invoice_id, lock=True)
            if invoice.status not in PAYABLE_STATES or invoice.clover_order_id is None:
                raise ConflictError(
                    f"invoice {invoice.number} is {invoice.status} and cannot be paid",
                    field="invoice_id",
                    code="invoice_not_payable",
                )
            _refuse_if_unresolved(s, invoice)
            due = invoice.total - amount_paid(s, invoice.id) - amount_held(s, invoice.id)
            hold = due if amount is None else amount
            if hold <= 0 or hold > due:
                raise InvalidRequest(
                    f"amount must be between 1 and the {max(due, 0)} cents due", field="amount"
                )
            request: dict[str, Any] = {"client_ip": client_ip}
            if card_on_file_id is not None:
                request.update(
                    card_on_file_request(s, merchant_id, card_on_file_id, is_scheduled=False)
                )
            else:
                request["source"] = token
            attempt = add_pending_attempt(
                s,
                merchant_id=merchant_id,
                kind=AttemptKind.CHARGE,
                action="authorize",
                amount=hold,
                currency=invoice.currency,
                source_kind="card_on_file" if card_on_file_id else "token",
                request=request,
                next_check_at=first_check_at(ctx, now),
                actor=actor,
                now=now,
                audit={"invoice_id": invoice.id, "amount": hold, "tip": tip_amount},
                capture=False,
                invoice_id=invoice.id,
                tip_amount=tip_amount,
                card_on_file_id=card_on_file_id,
                initiator=initiator if card_on_file_id else None,
            )
            merchant = s.get_one(Merchant, merchant_id)
    except IntegrityError:
        raise AttemptUnresolvedError(
            "another payment of this invoice is in progress", field="invoice_id"
        ) from None
    return send_then_settle(
        ctx,
        merchant,
        attempt,
        kind="authorize",
        send=send_authorize,
        settle=settle_authorize,
        actor=actor,
    )


def _refuse_open_attempt(s: Session, auth: Authorization) -> None:
    open_attempt = s.scalar(
        select(PaymentAttempt.id).where(
            PaymentAttempt.authorization_id == auth.id,
            PaymentAttempt.state.in_([st.value for st in OPEN_ATTEMPT_STATES]),
        )
    )
    if open_attempt is not None:
        raise AttemptUnresolvedError(
            f"attempt {open_attempt} on this authorization is not resolved yet",
            field="authorization_id",
        )


def _on_authorization(
    ctx: ServiceContext,
    merchant_id: str,
    authorization_id: str,
    *,
    kind: AttemptKind,
    amount: int | None,
    actor: str,
    send: Send,
    settle: Settle,
) -> PaymentAttempt:
    """A capture or void of an authorization: the intent, then the one send."""
    now = ctx.now()
    attempt_id = new_id()
    try:
        with ctx.sessions.begin() as s:
            auth = lock_authorization(s, merchant_id, authorization_id)
            _refuse_open_attempt(s, auth)
            if auth.status != AuthorizationStatus.AUTHORIZED.value:
                raise ConflictError(
                    f"authorization {auth.id} is {auth.status}",
                    field="authorization_id",
                    code=f"authorization_{auth.status}",
                )
            if kind is AttemptKind.CAPTURE:
                value = auth.amount if amount is None else amount
                if value <= 0 or value > auth.amount:
                    raise InvalidRequest(
                        f"amount must be between 1 and the {auth.amount} cents authorized",
                        field="amount",
                        code="amount_too_large" if value > auth.amount else None,
                    )
                request: dict[str, Any] = {"charge": auth.clover_charge_id}
            else:  # a refund of the uncaptured charge, carrying our reference
                value = auth.amount
                request = with_reference(
                    {"charge": auth.clover_charge_id, "reason": None}, attempt_id
                )
            attempt = add_pending_attempt(
                s,
                attempt_id=attempt_id,
                merchant_id=merchant_id,
                kind=kind,
                amount=value,
                currency=auth.currency,
                source_kind="authorization",
                request=request,
                next_check_at=first_check_at(ctx, now),
                actor=actor,
                now=now,
                audit={"authorization_id": auth.id, "amount": value},
                invoice_id=auth.invoice_id,
                authorization_id=auth.id,
                tip_amount=auth.tip_amount if kind is AttemptKind.CAPTURE else 0,
            )
            merchant = s.get_one(Merchant, merchant_id)
    except IntegrityError:
        raise AttemptUnresolvedError(
            "another capture or void of this authorization is in progress",
            field="authorization_id",
        ) from None
    return send_then_settle(
        ctx, merchant, attempt, kind=kind.value, send=send, settle=settle, actor=actor
    )


def capture_authorization(
    ctx: ServiceContext,
    merchant_id: str,
    authorization_id: str,
    *,
    amount: int | None = None,
    actor: str,
) -> PaymentAttempt:
    """Capture all of an authorization, or ``amount`` of it (the rest is released)."""
    if amount is not None and amount <= 0:
        raise InvalidRequest("amount must be positive", field="amount")
    return _on_authorization(
        ctx,
        merchant_id,
        authorization_id,
        kind=AttemptKind.CAPTURE,
        amount=amount,
        actor=actor,
        send=send_capture,
        settle=settle_capture,
    )


def void_authorization(
    ctx: ServiceContext, merchant_id: str, authorization_id: str, *, actor: str
) -> PaymentAttempt:
    """Release an authorization not captured (all of it)."""
    return _on_authorization(
        ctx,
        merchant_id,
        authorization_id,
        kind=AttemptKind.VOID,
        amount=None,
        actor=actor,
        send=send_refund,
        settle=settle_void_authorization,
    )


def void_payment(
    ctx: ServiceContext, merchant_id: str, payment_id: str, *, actor: str
) -> PaymentAttempt:
    """Void an online payment: all of it back, recorded as a refund with reason
    ``void``; refused once any part of it was refunded (or is being refunded)."""
    now = ctx.now()
    with ctx.sessions.begin() as s:
        payment = s.scalar(
            select(Payment)
            .where(Payment.id == payment_id, Payment.merchant_id == merchant_id)
            .with_for_update()
        )
        if payment is None:
            raise NotFound(f"no payment {payment_id}", field="payment_id")
        held = refunds_and_voids_held(s, payment.id)
        if any(state != AttemptState.SUCCEEDED.value for _, state in held):
            raise AttemptUnresolvedError(
                "a refund of this payment is not resolved yet", field="payment_id"
            )
        if held:
            raise ConflictError(
                "a payment refunded in part or in full cannot be voided; refund the rest",
                field="payment_id",
                code="payment_refunded",
            )
        attempt_id = new_id()
        attempt = add_pending_attempt(
            s,
            attempt_id=attempt_id,
            merchant_id=merchant_id,
            kind=AttemptKind.VOID,
            amount=payment.amount,
            currency=payment.currency,
            source_kind=REST_SOURCE_KIND,
            request=with_reference(
                {"charge": payment.clover_charge_id, "reason": "void"}, attempt_id
            ),
            next_check_at=first_check_at(ctx, now),
            actor=actor,
            now=now,
            audit={"payment_id": payment.id, "amount": payment.amount},
            invoice_id=payment.invoice_id,
            payment_id=payment.id,
        )
        merchant = s.get_one(Merchant, merchant_id)
    return send_then_settle(
        ctx, merchant, attempt, kind="void", send=send_refund, settle=settle_refund, actor=actor
    )


def get_authorization(
    ctx: ServiceContext, merchant_id: str, authorization_id: str
) -> Authorization:
    with ctx.sessions() as s:
        auth = s.get(Authorization, authorization_id)
        if auth is None or auth.merchant_id != merchant_id:
            raise NotFound(f"no authorization {authorization_id}", field="authorization_id")
        return auth


def authorization_for_attempt(ctx: ServiceContext, attempt: PaymentAttempt) -> Authorization | None:
    with ctx.sessions() as s:
        if attempt.authorization_id is not None:
            return s.get(Authorization, attempt.authorization_id)
        return s.scalar(select(Authorization).where(Authorization.attempt_id == attempt.id))
