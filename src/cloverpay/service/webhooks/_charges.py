"""Charges Clover reports, recorded (the effects of :mod:`._effects` about charges).

* :class:`RecordCheckoutCharge`: a Hosted Checkout charge of one of our pay links is
  recorded once as an attempt (``source_kind="hosted_checkout"``, created final:
  Clover took the money already) and a payment, with the invoice's derived status.
  Its amount and currency must equal what is due on the invoice, in its currency;
  otherwise one ``charge.needs_attention`` audit row and alert, and nothing recorded.
* :class:`SettleAttempt`: a charge on the Clover order of a pending/unknown attempt of
  ours settles that attempt (as the reconciler would), if amount and currency match.

:func:`record_checkout_return` records a Hosted Checkout charge from the pay page's
return path, through the same idempotent effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloverpay.api import ChargeSource, NotFoundError
from cloverpay.service.db import Merchant, Payment, PaymentAttempt
from cloverpay.service.db.models_web import CheckoutLink
from cloverpay.service.domain import OPEN_ATTEMPT_STATES, AttemptKind, AttemptState
from cloverpay.service.services.clover_calls import CallOutcome
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.intents import add_recorded_attempt
from cloverpay.service.services.invoices import invoice_totals, load_invoice
from cloverpay.service.services.payments import (
    PAYABLE_STATES,
    _record_payment,
    apply_charge_outcome,
    lock_attempt,
)
from cloverpay.service.webhooks._attention import needs_attention

__all__ = [
    "ChargeFact",
    "RecordCheckoutCharge",
    "SettleAttempt",
    "fetch_charge",
    "record_checkout_charge",
    "record_checkout_return",
    "settle_attempt",
]

CHECKOUT_KEY_NAMESPACE = "cloverpay-checkout"


@dataclass(frozen=True, slots=True)
class ChargeFact:
    """A charge as Clover reports it."""

    id: str
    status: str
    amount: int
    tip_amount: int
    currency: str
    order: str | None
    checkout_session_id: str | None
    card_brand: str | None = None
    card_last4: str | None = None


@dataclass(frozen=True, slots=True)
class RecordCheckoutCharge:
    merchant_id: str
    invoice_id: str
    checkout_session_id: str
    charge: ChargeFact


@dataclass(frozen=True, slots=True)
class SettleAttempt:
    attempt_id: str
    charge: ChargeFact


def fetch_charge(ctx: ServiceContext, merchant: Merchant, charge_id: str) -> ChargeFact | None:
    """Clover's charge, or None when Clover says there is no such charge. Any other
    failure (network, 5xx) raises: the caller retries later."""
    with ctx.gateway.client(merchant) as clover:
        try:
            charge = clover.charges.retrieve(charge_id)
        except NotFoundError:
            return None
    meta: dict[str, Any] = charge.metadata or {}
    session = meta.get("checkoutSessionId")
    source = charge.source if isinstance(charge.source, ChargeSource) else None
    return ChargeFact(
        id=charge.id,
        status=str(charge.status or ""),
        amount=charge.amount or 0,
        tip_amount=charge.tip_amount or 0,
        currency=(charge.currency or "").lower(),
        order=charge.order,
        checkout_session_id=str(session) if session else None,
        card_brand=source.brand if source else None,
        card_last4=source.last4 if source else None,
    )


def _already(s: Session, charge_id: str) -> str | None:
    if s.scalar(select(Payment.id).where(Payment.clover_charge_id == charge_id)) is not None:
        return f"charge {charge_id} recorded already"
    attempt = s.scalar(
        select(PaymentAttempt.state).where(PaymentAttempt.clover_charge_id == charge_id)
    )
    return None if attempt is None else f"charge {charge_id} known already ({attempt})"


def record_checkout_charge(
    s: Session, effect: RecordCheckoutCharge, *, actor: str, now: datetime
) -> str:
    """Record a Hosted Checkout charge once. The invoice row is locked first, so the
    return page, the webhook worker and a second worker serialize here, and the loser
    finds the payment (the unique charge id is the last line of defence)."""
    charge = effect.charge
    invoice = load_invoice(s, effect.merchant_id, effect.invoice_id, lock=True)
    done = _already(s, charge.id)
    if done is not None:
        return done
    due = invoice_totals(s, invoice).amount_due
    problem = None
    if charge.currency != invoice.currency.lower():
        problem = f"charge currency {charge.currency} is not the invoice's {invoice.currency}"
    elif invoice.status not in PAYABLE_STATES:
        problem = f"invoice {invoice.number} is {invoice.status}"
    elif charge.amount != due:
        problem = f"charge amount {charge.amount} is not the {due} due"
    if problem is not None:
        return _needs_attention(s, effect, invoice.id, problem, actor=actor)
    attempt = add_recorded_attempt(
        s,
        key_namespace=CHECKOUT_KEY_NAMESPACE,
        merchant_id=effect.merchant_id,
        kind=AttemptKind.CHARGE,
        amount=charge.amount,
        currency=invoice.currency,
        source_kind="hosted_checkout",
        request={"checkout_session_id": effect.checkout_session_id},
        actor=actor,
        now=now,
        reason=f"Hosted Checkout session {effect.checkout_session_id} paid at Clover",
        audit={"invoice_id": invoice.id, "clover_charge_id": charge.id, "amount": charge.amount},
        invoice_id=invoice.id,
        tip_amount=charge.tip_amount,
        clover_order_id=charge.order,
    )
    outcome = CallOutcome(
        "succeeded",
        clover_id=charge.id,
        card_brand=charge.card_brand,
        card_last4=charge.card_last4,
    )
    payment = _record_payment(s, attempt, outcome, actor=actor, now=now)
    return f"recorded payment {payment.id} (charge {charge.id})"


def _needs_attention(
    s: Session, effect: RecordCheckoutCharge, invoice_id: str, problem: str, *, actor: str
) -> str:
    return needs_attention(
        s,
        topic="charge.needs_attention",
        key=effect.charge.id,
        merchant_id=effect.merchant_id,
        entity_type="invoice",
        entity_id=invoice_id,
        problem=problem,
        data={
            "invoice_id": invoice_id,
            "clover_charge_id": effect.charge.id,
            "amount": effect.charge.amount,
            "currency": effect.charge.currency,
            "checkout_session_id": effect.checkout_session_id,
        },
        actor=actor,
    )


def settle_attempt(s: Session, effect: SettleAttempt, *, actor: str, now: datetime) -> str:
    charge = effect.charge
    attempt = lock_attempt(s, effect.attempt_id)
    if AttemptState(attempt.state) not in OPEN_ATTEMPT_STATES:
        return f"attempt {attempt.id} is {attempt.state} already"
    done = _already(s, charge.id)
    if done is not None:
        return done
    if charge.amount != attempt.amount or charge.currency != attempt.currency.lower():
        return f"charge {charge.id} does not match attempt {attempt.id}; left to the reconciler"
    outcome = CallOutcome(
        "succeeded",
        clover_id=charge.id,
        card_brand=charge.card_brand,
        card_last4=charge.card_last4,
    )
    apply_charge_outcome(s, attempt, outcome, actor=actor, now=now)
    return f"settled attempt {attempt.id} with charge {charge.id}"


def record_checkout_return(
    ctx: ServiceContext, merchant: Merchant, link: CheckoutLink, session_extra: dict[str, Any]
) -> str | None:
    """The pay page's return path: the payer is back and Clover's session is PAID. Record
    the charge now from Clover's answer (the same idempotent effect as the webhook's), so
    a payer never waits for the webhook and a webhook that never comes loses nothing.
    Returns what happened, or None when Clover's session names no charge."""
    pay_id = session_extra.get("chargeId") or session_extra.get("paymentId")
    if not isinstance(pay_id, str) or not pay_id:
        return None
    charge = fetch_charge(ctx, merchant, pay_id)
    if charge is None or charge.status != "succeeded":
        return None
    if charge.checkout_session_id not in (None, link.checkout_session_id):
        return None
    effect = RecordCheckoutCharge(merchant.id, link.invoice_id, link.checkout_session_id, charge)
    with ctx.sessions.begin() as s:
        return record_checkout_charge(s, effect, actor="pay_page", now=ctx.now())
