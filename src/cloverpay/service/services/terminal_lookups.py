"""Looking up a terminal sale, refund or void whose answer was lost (never re-sending it).

* a **sale** by its ``externalPaymentId``: on the device when this process owns it
  (``terminal_runtime``), else through the REST API (:func:`rest_resolver`); the
  payment found becomes a :class:`TerminalOutcome` (:func:`outcome_of_payment`), its
  amount compared with the attempt's (rule 7);
* a **refund** on the v3 payment: the one carrying our reference (sent through the
  REST API), else a refund there for the attempt's amount that no refund row of ours
  records (:func:`lookup_terminal_refund`);
* a **void** on the v3 payment: ``VOIDED`` is done, ``SUCCESS`` / ``AUTH`` is not
  (:func:`lookup_terminal_void`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select

from cloverpay.api import CloverError
from cloverpay.remotepay import PaymentOutcome, PaymentResolution
from cloverpay.remotepay._recovery import outcome_of_result, resolve_from_rest
from cloverpay.service.db import Merchant, PaymentAttempt, Refund, Terminal
from cloverpay.service.domain import AttemptKind
from cloverpay.service.services.clover_calls import CallOutcome, refund_found
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.refund_refs import (
    ListedRefund,
    listed_references,
    pick_refund,
)

__all__ = [
    "TerminalOpLookup",
    "TerminalOutcome",
    "TerminalResolver",
    "lookup_terminal_refund",
    "lookup_terminal_void",
    "outcome_of_payment",
    "outcome_of_resolution",
    "rest_op_lookup",
    "rest_payments",
    "rest_resolver",
]

Status = Literal["succeeded", "failed", "unknown"]


@dataclass(frozen=True, slots=True)
class TerminalOutcome:
    """What a terminal sale came to: ``succeeded`` (a Clover payment), ``failed``
    (the device or a lookup said nothing was charged) or ``unknown``."""

    status: Status
    payment_id: str | None = None
    order_id: str | None = None
    amount: int | None = None
    tip_amount: int = 0
    card_brand: str | None = None
    card_last4: str | None = None
    code: str | None = None
    message: str | None = None


def outcome_of_payment(attempt_amount: int, payment: Any, *, source: str) -> TerminalOutcome:
    """A device / REST payment as an outcome; an amount other than the attempt's is an
    error for a person (``unknown``, ``amount_mismatch``), never recorded as is."""
    verdict = outcome_of_result(getattr(payment, "result", None))
    pid = getattr(payment, "id", None)
    if verdict is PaymentOutcome.NOT_PAID:
        return TerminalOutcome(
            "failed", payment_id=pid, code="declined", message=f"{source}: {payment.result}"
        )
    if verdict is not PaymentOutcome.PAID or not pid:
        return TerminalOutcome("unknown", code="payment_state", message=f"{source}: {payment}")
    if payment.amount != attempt_amount:
        return TerminalOutcome(
            "unknown",
            payment_id=pid,
            code="amount_mismatch",
            message=f"Clover payment {pid} is {payment.amount}, the attempt {attempt_amount}",
        )
    order = getattr(payment, "order", None)
    card = getattr(payment, "card_transaction", None)
    if isinstance(card, dict):
        brand, last4 = card.get("cardType"), card.get("last4")
    else:
        brand = getattr(card, "card_type", None)
        last4 = getattr(card, "last4", None)
    return TerminalOutcome(
        "succeeded",
        payment_id=pid,
        order_id=getattr(order, "id", None),
        amount=payment.amount,
        tip_amount=int(getattr(payment, "tip_amount", None) or 0),
        card_brand=str(brand) if brand else None,
        card_last4=str(last4) if last4 else None,
        message=f"paid ({source})",
    )


def outcome_of_resolution(attempt_amount: int, resolution: PaymentResolution) -> TerminalOutcome:
    if resolution.outcome is PaymentOutcome.PAID and resolution.payment is not None:
        return outcome_of_payment(
            attempt_amount, resolution.payment, source=f"lookup ({resolution.source})"
        )
    if resolution.outcome is PaymentOutcome.NOT_PAID:
        return TerminalOutcome("failed", code="lookup_not_paid", message=resolution.reason)
    return TerminalOutcome("unknown", code="lookup_unknown", message=resolution.reason)


# -- sales ------------------------------------------------------------------------------------

#: ``resolver(terminal, external_payment_id) -> PaymentResolution`` (device, then REST).
TerminalResolver = Callable[[Terminal, str], PaymentResolution]


def rest_payments(ctx: ServiceContext, merchant: Merchant, external_id: str) -> Sequence[Any]:
    """The merchant's v3 payments carrying ``external_id`` (Platform v3 REST)."""
    with ctx.gateway.client(merchant) as clover:
        return clover.platform.payments.list(external_payment_id=external_id).to_list()


def rest_resolver(ctx: ServiceContext) -> TerminalResolver:
    """The REST-only lookup, for a process that does not own the terminal: a payment
    found (paid or declined) is evidence; nothing found is not (the device may still
    hold it), so that stays UNKNOWN."""

    def resolve(terminal: Terminal, external_id: str) -> PaymentResolution:
        with ctx.sessions() as s:
            merchant = s.get_one(Merchant, terminal.merchant_id)
        try:
            found = rest_payments(ctx, merchant, external_id)
        except CloverError as exc:
            return PaymentResolution(
                external_id, PaymentOutcome.UNKNOWN, None, f"REST lookup failed: {exc}"
            )
        verdict = resolve_from_rest(external_id, found)
        if verdict.outcome is PaymentOutcome.NOT_PAID and verdict.payment is None:
            return PaymentResolution(
                external_id,
                PaymentOutcome.UNKNOWN,
                "rest",
                "the REST API does not know it and the device could not be asked",
            )
        return verdict

    return resolve


# -- refunds and voids ------------------------------------------------------------------------

#: ``lookup(attempt) -> CallOutcome`` for an op whose answer was lost
TerminalOpLookup = Callable[[PaymentAttempt], CallOutcome]


def lookup_terminal_refund(
    ctx: ServiceContext, merchant: Merchant, attempt: PaymentAttempt
) -> CallOutcome:
    """A terminal refund whose answer was lost, looked up on the v3 payment: the refund
    carrying our reference (one sent through the REST API; the references come from
    ``/v1/refunds``, :func:`~.refund_refs.listed_references`), else by the older rule
    a refund there that no refund row of ours records, for the attempt's amount
    (:func:`~.refund_refs.pick_refund`)."""
    req: dict[str, Any] = json.loads(attempt.request_json)
    try:
        with ctx.gateway.client(merchant) as clover:
            payment = clover.platform.payments.retrieve(req["charge"])
            refs = listed_references(clover, req["charge"])
    except CloverError:
        return CallOutcome("unknown", code="lookup_failed")
    with ctx.sessions() as s:
        recorded = set(
            s.scalars(
                select(Refund.clover_refund_id).where(Refund.payment_id == attempt.payment_id)
            )
        )
    listed = [
        ListedRefund(str(r["id"]), r.get("amount"), refs.get(str(r["id"])))
        for r in (payment.refunds or {}).get("elements", [])
        if r.get("id")
    ]
    found = pick_refund(attempt, listed, recorded)
    if found is None:
        return CallOutcome("failed", code="lookup_no_refund", message="Clover lists no such refund")
    return refund_found(attempt, found)


def lookup_terminal_void(
    ctx: ServiceContext, merchant: Merchant, attempt: PaymentAttempt
) -> CallOutcome:
    """A void whose answer was lost, looked up on the v3 payment: ``VOIDED`` is done;
    ``SUCCESS`` / ``AUTH`` is not (only asked once the op is out of its owner's hands,
    so the device is not still working on it); anything else proves nothing."""
    charge = json.loads(attempt.request_json)["charge"]
    try:
        with ctx.gateway.client(merchant) as clover:
            payment = clover.platform.payments.retrieve(charge)
    except CloverError as exc:
        return CallOutcome("unknown", code="lookup_failed", message=str(exc)[:300])
    result = str(payment.result or "")
    if result == "VOIDED":
        return CallOutcome("succeeded", clover_id=charge, message="the payment is VOIDED")
    if result in ("SUCCESS", "AUTH"):
        return CallOutcome(
            "failed", code="lookup_not_voided", message=f"the payment is still {result}"
        )
    return CallOutcome("unknown", code="lookup_unknown", message=f"the payment is {result}")


def rest_op_lookup(ctx: ServiceContext) -> TerminalOpLookup:
    """The REST lookups of lost refunds and voids (any process)."""

    def lookup(attempt: PaymentAttempt) -> CallOutcome:
        with ctx.sessions() as s:
            merchant = s.get_one(Merchant, attempt.merchant_id)
        if attempt.kind == AttemptKind.VOID.value:
            return lookup_terminal_void(ctx, merchant, attempt)
        return lookup_terminal_refund(ctx, merchant, attempt)

    return lookup
