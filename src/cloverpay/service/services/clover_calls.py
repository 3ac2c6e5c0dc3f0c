"""The calls that move money, reduced to one outcome each.

Only an answer from Clover is evidence: ``succeeded`` (a charge or refund id),
``declined`` (the card was refused), ``rejected`` (Clover refused the request, e.g. a
used token; nothing moved by *this* request, but a resend can be rejected because an
earlier send succeeded, so the reconciler looks the object up before believing it).
Everything else (timeouts, drops, 5xx, 429, a key still in flight) is ``unknown``.

A call that never left because the merchant's OAuth grant is gone
(:class:`~cloverpay.service.gateway.ReconnectRequired`) is ``rejected`` with code
``merchant_reconnect_required``: nothing moved by it. A lookup that fails is never
evidence of anything: ``unknown``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select

from cloverpay.api import (
    TENDER_CASH,
    TENDER_CHECK,
    APIConnectionError,
    APIError,
    CardDeclinedError,
    ChargeSource,
    CloverError,
    ConfigurationError,
    IdempotencyError,
    RateLimitError,
    ServerError,
    StoredCredentialsParams,
)
from cloverpay.service.db import Merchant, Payment, PaymentAttempt, Refund
from cloverpay.service.gateway import ReconnectRequired
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.refund_refs import ListedRefund, pick_refund, reference_of

__all__ = [
    "RECONNECT_REQUIRED",
    "CallOutcome",
    "lookup_charge",
    "lookup_refund",
    "refund_found",
    "send_charge",
    "send_refund",
    "verify_charge",
]

#: The failure code of an attempt that was never sent: the merchant must reconnect.
RECONNECT_REQUIRED = "merchant_reconnect_required"
_RECONNECT_MESSAGE = "Nothing was charged: the merchant's connection to Clover must be renewed."

Status = Literal["succeeded", "declined", "rejected", "unknown", "failed"]


@dataclass(frozen=True, slots=True)
class CallOutcome:
    status: Status
    clover_id: str | None = None
    code: str | None = None
    message: str | None = None
    field: str | None = None
    card_brand: str | None = None
    card_last4: str | None = None


def _from_error(exc: CloverError) -> CallOutcome:
    if isinstance(exc, ReconnectRequired):
        # Raised before the request was handed to the transport: nothing can have moved.
        return CallOutcome("rejected", code=RECONNECT_REQUIRED, message=_RECONNECT_MESSAGE)
    if isinstance(exc, ConfigurationError):
        # Raised by the client before anything is sent: nothing can have moved.
        return CallOutcome(
            "rejected", code="configuration_error", message=exc.message, field=exc.param
        )
    if isinstance(exc, CardDeclinedError):
        return CallOutcome(
            "declined",
            clover_id=exc.charge,
            code=exc.decline_code or exc.code or "card_declined",
            message=exc.message,
        )
    if isinstance(exc, IdempotencyError | RateLimitError | ServerError):
        return CallOutcome("unknown", code=exc.code or type(exc).__name__, message=exc.message)
    if isinstance(exc, APIError):
        if exc.http_status is not None and 400 <= exc.http_status < 500:
            return CallOutcome("rejected", code=exc.code, message=exc.message, field=exc.param)
        return CallOutcome("unknown", code=exc.code, message=exc.message)
    if isinstance(exc, APIConnectionError):
        return CallOutcome("unknown", code=type(exc).__name__, message=exc.message)
    return CallOutcome("unknown", code=type(exc).__name__, message=exc.message)


def _stored_credentials(attempt: PaymentAttempt, req: dict[str, Any]) -> StoredCredentialsParams:
    return {
        "sequence": "SUBSEQUENT" if req.get("cof_initialized") else "FIRST",
        "initiator": "MERCHANT" if attempt.initiator == "MERCHANT" else "CARDHOLDER",
        "is_scheduled": bool(req.get("is_scheduled", False)),
    }


def send_charge(ctx: ServiceContext, merchant: Merchant, attempt: PaymentAttempt) -> CallOutcome:
    """Pay the invoice's Clover order with the attempt's key (a resend replays)."""
    req: dict[str, Any] = json.loads(attempt.request_json)
    assert attempt.clover_order_id is not None
    try:
        with ctx.gateway.client(merchant, client_ip=req.get("client_ip")) as clover:
            if attempt.source_kind == "card_on_file":
                order = clover.orders.pay(
                    attempt.clover_order_id,
                    idempotency_key=attempt.idempotency_key,
                    customer=req["customer"],
                    amount=attempt.amount,
                    tip_amount=attempt.tip_amount,
                    stored_credentials=_stored_credentials(attempt, req),
                )
            elif attempt.source_kind == "alternate_tender":
                label_key = TENDER_CASH if req["tender"] == "cash" else TENDER_CHECK
                order = clover.orders.pay(
                    attempt.clover_order_id,
                    idempotency_key=attempt.idempotency_key,
                    source="alternate_tender",
                    tender={"label_key": label_key},
                    amount=attempt.amount,
                    tip_amount=attempt.tip_amount,
                )
            else:
                order = clover.orders.pay(
                    attempt.clover_order_id,
                    idempotency_key=attempt.idempotency_key,
                    source=req["source"],
                    amount=attempt.amount,
                    tip_amount=attempt.tip_amount,
                )
    except CloverError as exc:
        return _from_error(exc)
    if not order.charge:
        return CallOutcome("unknown", code="no_charge_in_answer", message="order has no charge")
    source = order.source if isinstance(order.source, ChargeSource) else None
    return CallOutcome(
        "succeeded",
        clover_id=order.charge,
        card_brand=source.brand if source else None,
        card_last4=source.last4 if source else None,
    )


def send_refund(ctx: ServiceContext, merchant: Merchant, attempt: PaymentAttempt) -> CallOutcome:
    """``POST /v1/refunds`` with the attempt's key and, when its request carries one, our
    reference in ``metadata`` (:mod:`.refund_refs`): a resend sends the same body."""
    req: dict[str, Any] = json.loads(attempt.request_json)
    extra: dict[str, Any] = {}
    if req.get("reason"):
        extra["reason"] = req["reason"]
    if req.get("metadata"):
        extra["metadata"] = req["metadata"]
    try:
        with ctx.gateway.client(merchant) as clover:
            refund = clover.refunds.create(
                idempotency_key=attempt.idempotency_key,
                charge=req["charge"],
                amount=attempt.amount,
                **extra,
            )
    except CloverError as exc:
        return _from_error(exc)
    if refund.status == "failed":
        return CallOutcome("declined", clover_id=refund.id, code="refund_failed")
    return CallOutcome("succeeded", clover_id=refund.id)


def _charge_ids(order_charge: str | None, past: list[Any] | None) -> list[str]:
    ids = [order_charge] if order_charge else []
    for item in past or []:
        cid = item if isinstance(item, str) else (item or {}).get("id")
        if cid:
            ids.append(str(cid))
    return ids


def lookup_charge(ctx: ServiceContext, merchant: Merchant, attempt: PaymentAttempt) -> CallOutcome:
    """Find the attempt's charge on its Clover order: a charge there that no payment of
    ours records, for the attempt's amount. None there is evidence of no charge."""
    assert attempt.clover_order_id is not None
    try:
        with ctx.gateway.client(merchant) as clover:
            order = clover.orders.retrieve(attempt.clover_order_id)
            with ctx.sessions() as s:
                recorded = set(
                    s.scalars(
                        select(Payment.clover_charge_id).where(
                            Payment.clover_order_id == attempt.clover_order_id
                        )
                    ).all()
                )
            unrecorded = [
                c for c in _charge_ids(order.charge, order.past_charges) if c not in recorded
            ]
            for cid in unrecorded:
                charge = clover.charges.retrieve(cid)
                if charge.status == "succeeded" and charge.amount == attempt.amount:
                    return CallOutcome("succeeded", clover_id=charge.id)
            if unrecorded:
                return CallOutcome(
                    "unknown",
                    code="lookup_mismatch",
                    message=f"unrecorded charges {unrecorded} do not match the attempt",
                )
    except CloverError as exc:
        # not finding out is not evidence: a refused or unsent lookup leaves it unknown
        code = None if isinstance(exc, APIError) else _from_error(exc).code
        return CallOutcome("unknown", code=code)
    return CallOutcome(
        "failed", code="lookup_no_charge", message="Clover's order shows no charge for it"
    )


def lookup_refund(ctx: ServiceContext, merchant: Merchant, attempt: PaymentAttempt) -> CallOutcome:
    req: dict[str, Any] = json.loads(attempt.request_json)
    try:
        with ctx.gateway.client(merchant) as clover:
            refunds = list(clover.refunds.list(charge=req["charge"]))
    except CloverError:
        return CallOutcome("unknown", code="lookup_failed")
    with ctx.sessions() as s:
        recorded = set(
            s.scalars(
                select(Refund.clover_refund_id).where(Refund.payment_id == attempt.payment_id)
            )
        )
    found = pick_refund(
        attempt,
        (ListedRefund(r.id, r.amount, reference_of(r.metadata)) for r in refunds),
        recorded,
    )
    if found is None:
        return CallOutcome("failed", code="lookup_no_refund", message="Clover lists no such refund")
    return refund_found(attempt, found)


def refund_found(attempt: PaymentAttempt, found: ListedRefund) -> CallOutcome:
    """A refund a lookup found for the attempt; one carrying its reference but another
    amount is an error for a person (rule 7), never recorded as is."""
    if found.amount != attempt.amount:
        return CallOutcome(
            "unknown",
            code="amount_mismatch",
            message=f"Clover refund {found.id} is {found.amount}, the attempt {attempt.amount}",
        )
    return CallOutcome("succeeded", clover_id=found.id)


def verify_charge(
    ctx: ServiceContext, merchant: Merchant, attempt: PaymentAttempt, outcome: CallOutcome
) -> CallOutcome:
    """Compare Clover's charge with the attempt (rule 7): a different amount or currency
    is an error for a person (``unknown`` with code ``amount_mismatch``), never an update."""
    if outcome.status != "succeeded" or outcome.clover_id is None:
        return outcome
    try:
        with ctx.gateway.client(merchant) as clover:
            charge = clover.charges.retrieve(outcome.clover_id)
    except CloverError:
        return CallOutcome("unknown", code="verify_failed", message="charge lookup failed")
    if charge.amount != attempt.amount or (charge.currency or "").lower() != attempt.currency:
        return CallOutcome(
            "unknown",
            code="amount_mismatch",
            message=(
                f"Clover charge {charge.id} is {charge.amount} {charge.currency}, "
                f"the attempt {attempt.amount} {attempt.currency}"
            ),
        )
    return outcome
