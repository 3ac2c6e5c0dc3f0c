"""What a webhook may change, and only on Clover's word.

Processing is two steps. :func:`plan_checkout` / :func:`plan_app` read the event and
fetch the object it names from Clover (outside any transaction): the thin app payload
carries no state at all, and a Hosted Checkout webhook carries no amount, so Clover's
answer is always what is applied. An *unverified* webhook additionally needs Clover to
tie the charge to the checkout session before anything is planned (rule 6). Then
:func:`apply_effect` applies the plan inside the transaction that marks the inbox row
processed; every effect is idempotent (a state already held is a no-op).

Effects:

* :class:`RecordCheckoutCharge`: a Hosted Checkout charge of one of our pay links is
  recorded once as an attempt (``source_kind="hosted_checkout"``, created final:
  Clover took the money already) and a payment, with the invoice's derived status.
  Its amount and currency must equal what is due on the invoice, in its currency;
  otherwise one ``charge.needs_attention`` audit row and alert, and nothing recorded.
* :class:`SettleAttempt`: a charge on the Clover order of a pending/unknown attempt of
  ours settles that attempt (as the reconciler would), if amount and currency match.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloverpay.api import (
    ChargeSource,
    CheckoutStatus,
    NotFoundError,
    VerificationRequest,
    WebhookError,
    parse_app_webhook,
    parse_checkout_event,
)
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
from cloverpay.service.webhooks._refunds import SyncRefunds, apply_refunds, plan_refunds
from cloverpay.service.webhooks._retry import RetryLater
from cloverpay.service.webhooks._voids import (
    AlertVoid,
    RecordVoid,
    apply_alert_void,
    apply_void,
    fetch_v3_payment,
    plan_unrecorded_void,
    plan_void,
)

__all__ = [
    "ChargeFact",
    "Effect",
    "InboxItem",
    "NoEffect",
    "RecordCheckoutCharge",
    "RetryLater",
    "SettleAttempt",
    "apply_effect",
    "fetch_charge",
    "plan_app",
    "plan_checkout",
    "record_checkout_charge",
    "record_checkout_return",
]

CHECKOUT_KEY_NAMESPACE = "cloverpay-checkout"


@dataclass(frozen=True, slots=True)
class InboxItem:
    """What processing needs of an inbox row (read outside the apply transaction)."""

    id: int
    source: str
    merchant_id: str | None
    body: bytes
    verified: bool


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
class NoEffect:
    reason: str


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


Effect = NoEffect | RecordCheckoutCharge | SettleAttempt | SyncRefunds | RecordVoid | AlertVoid


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


def _session_binds(ctx: ServiceContext, merchant: Merchant, session_id: str, pay_id: str) -> bool:
    """Clover's own view of the session names this payment (the session's status shape
    is unpublished; ``paymentId``/``chargeId`` are what the sandbox and some clients show)."""
    with ctx.gateway.client(merchant) as clover:
        try:
            session = clover.checkout.sessions.retrieve(session_id)
        except NotFoundError:
            return False
    extra = session.model_extra or {}
    return session.status == "PAID" and pay_id in (extra.get("paymentId"), extra.get("chargeId"))


def plan_checkout(ctx: ServiceContext, item: InboxItem) -> Effect:
    try:
        event = parse_checkout_event(item.body)
    except WebhookError as exc:
        return NoEffect(f"unreadable Hosted Checkout body ({exc})")
    with ctx.sessions() as s:
        link = s.scalar(select(CheckoutLink).where(CheckoutLink.checkout_session_id == event.data))
        merchant = s.get(Merchant, item.merchant_id) if item.merchant_id else None
    if link is None or merchant is None or link.merchant_id != merchant.id:
        return NoEffect(f"checkout session {event.data[:64]} is not one of ours")
    if event.merchant_id != merchant.clover_merchant_id:
        return NoEffect("merchantId is not this receiver's merchant")
    if event.status is CheckoutStatus.DECLINED:
        return NoEffect("declined: no money moved")
    charge = fetch_charge(ctx, merchant, event.id)
    if charge is None:
        if item.verified:
            raise RetryLater(f"Clover does not show charge {event.id} yet")
        return NoEffect(f"not confirmed by Clover: no charge {event.id[:64]}")
    if charge.checkout_session_id not in (None, event.data):
        return NoEffect(f"charge {charge.id} belongs to another checkout session")
    if (
        not item.verified
        and charge.checkout_session_id != event.data
        and not _session_binds(ctx, merchant, event.data, event.id)
    ):
        return NoEffect(f"not confirmed by Clover: charge {charge.id} is not this session's")
    if charge.status != "succeeded":
        return NoEffect(f"charge {charge.id} is {charge.status or 'unknown'} at Clover")
    return RecordCheckoutCharge(merchant.id, link.invoice_id, event.data, charge)


def plan_app(ctx: ServiceContext, item: InboxItem) -> list[Effect]:
    """App webhooks name objects only; payments (``P:<id>``) are fetched and matched to
    a Hosted Checkout link or an open attempt; for a payment we recorded, its v3 payment
    (voided?) and its refunds are fetched. Other object types change nothing yet."""
    try:
        parsed = parse_app_webhook(item.body)
    except WebhookError as exc:
        return [NoEffect(f"unreadable app webhook body ({exc})")]
    if isinstance(parsed, VerificationRequest):
        return [NoEffect("verification handshake: shown to a person, changes nothing")]
    effects: list[Effect] = []
    seen: set[tuple[str, str]] = set()
    for event in parsed.events:
        key = (event.merchant_id, event.object_id)
        if event.object_type != "P" or key in seen:
            continue
        seen.add(key)
        with ctx.sessions() as s:
            merchant = s.scalar(
                select(Merchant).where(Merchant.clover_merchant_id == event.merchant_id)
            )
            if merchant is None:
                continue
            recorded = s.execute(
                select(Payment, PaymentAttempt.source_kind)
                .join(PaymentAttempt, PaymentAttempt.id == Payment.attempt_id)
                .where(Payment.clover_charge_id == event.object_id)
            ).first()
        if recorded is not None:
            payment, source_kind = recorded
            v3 = fetch_v3_payment(ctx, merchant, event.object_id)
            void = plan_void(payment, v3)
            if void is not None:  # a voided payment has no refunds at Clover
                effects.append(void)
                continue
            refunds = plan_refunds(
                ctx, merchant, payment, terminal=source_kind == "terminal", v3=v3
            )
            effects.append(
                refunds
                if refunds is not None
                else NoEffect(f"payment {event.object_id} recorded already; no new refund")
            )
            continue
        charge = fetch_charge(ctx, merchant, event.object_id)
        if charge is None:  # not an Ecommerce charge: a voided terminal sale of ours?
            alert = plan_unrecorded_void(
                ctx, merchant, fetch_v3_payment(ctx, merchant, event.object_id)
            )
            if alert is not None:
                effects.append(alert)
            continue
        if charge.status != "succeeded":
            continue
        effects.append(_match_charge(ctx, merchant, charge))
    return effects or [NoEffect("no payment of ours named")]


def _match_charge(ctx: ServiceContext, merchant: Merchant, charge: ChargeFact) -> Effect:
    with ctx.sessions() as s:
        if charge.checkout_session_id:
            link = s.scalar(
                select(CheckoutLink).where(
                    CheckoutLink.checkout_session_id == charge.checkout_session_id,
                    CheckoutLink.merchant_id == merchant.id,
                )
            )
            if link is not None:
                return RecordCheckoutCharge(
                    merchant.id, link.invoice_id, charge.checkout_session_id, charge
                )
        if charge.order:
            attempt_id = s.scalar(
                select(PaymentAttempt.id).where(
                    PaymentAttempt.merchant_id == merchant.id,
                    PaymentAttempt.kind == AttemptKind.CHARGE.value,
                    PaymentAttempt.clover_order_id == charge.order,
                    PaymentAttempt.state.in_([st.value for st in OPEN_ATTEMPT_STATES]),
                )
            )
            if attempt_id is not None:
                return SettleAttempt(attempt_id, charge)
    return NoEffect(f"charge {charge.id} is not for a payment of ours")


# --- applying (inside the transaction that marks the row processed) ---------------------


def apply_effect(s: Session, effect: Effect, *, actor: str, now: datetime) -> str:
    """Apply one effect; returns what happened, for the row's audit entry."""
    if isinstance(effect, RecordCheckoutCharge):
        return record_checkout_charge(s, effect, actor=actor, now=now)
    if isinstance(effect, SettleAttempt):
        return _settle_attempt(s, effect, actor=actor, now=now)
    if isinstance(effect, SyncRefunds):
        return apply_refunds(s, effect, actor=actor, now=now)
    if isinstance(effect, RecordVoid):
        return apply_void(s, effect, actor=actor, now=now)
    if isinstance(effect, AlertVoid):
        return apply_alert_void(s, effect, actor=actor)
    return effect.reason


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


def _settle_attempt(s: Session, effect: SettleAttempt, *, actor: str, now: datetime) -> str:
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
