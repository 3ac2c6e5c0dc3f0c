"""What a webhook may change, and only on Clover's word.

Processing is two steps. :func:`plan_checkout` / :func:`plan_app` read the event and
fetch the object it names from Clover (outside any transaction): the thin app payload
carries no state at all, and a Hosted Checkout webhook carries no amount, so Clover's
answer is always what is applied. An *unverified* webhook additionally needs Clover to
tie the charge to the checkout session before anything is planned (rule 6). Then
:func:`apply_effect` applies the plan inside the transaction that marks the inbox row
processed; every effect is idempotent (a state already held is a no-op).

Effects: a charge recorded or settling an attempt (:mod:`._charges`), refunds
(:mod:`._refunds`), voids (:mod:`._voids`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloverpay.api import (
    CheckoutStatus,
    NotFoundError,
    VerificationRequest,
    WebhookError,
    parse_app_webhook,
    parse_checkout_event,
)
from cloverpay.service.db import Merchant, Payment, PaymentAttempt
from cloverpay.service.db.models_web import CheckoutLink
from cloverpay.service.domain import OPEN_ATTEMPT_STATES, AttemptKind
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.webhooks._charges import (
    ChargeFact,
    RecordCheckoutCharge,
    SettleAttempt,
    fetch_charge,
    record_checkout_charge,
    record_checkout_return,
    settle_attempt,
)
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


@dataclass(frozen=True, slots=True)
class InboxItem:
    """What processing needs of an inbox row (read outside the apply transaction)."""

    id: int
    source: str
    merchant_id: str | None
    body: bytes
    verified: bool


@dataclass(frozen=True, slots=True)
class NoEffect:
    reason: str


Effect = NoEffect | RecordCheckoutCharge | SettleAttempt | SyncRefunds | RecordVoid | AlertVoid


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
        return settle_attempt(s, effect, actor=actor, now=now)
    if isinstance(effect, SyncRefunds):
        return apply_refunds(s, effect, actor=actor, now=now)
    if isinstance(effect, RecordVoid):
        return apply_void(s, effect, actor=actor, now=now)
    if isinstance(effect, AlertVoid):
        return apply_alert_void(s, effect, actor=actor)
    return effect.reason
