"""The Clover calls of pre-authorizations, each reduced to one outcome
(:class:`CallOutcome`): authorize (``POST /v1/charges`` with ``capture: false``),
capture, and the look-ups the reconciler makes when Clover rejects a resend. A void
of an authorization is a refund of the uncaptured charge (``send_refund`` /
``lookup_refund`` of :mod:`.clover_calls`)."""

from __future__ import annotations

import json
from typing import Any

from cloverpay.api import Charge, ChargeSource, CloverError
from cloverpay.service.db import Merchant, PaymentAttempt
from cloverpay.service.services.clover_calls import CallOutcome, _from_error, _stored_credentials
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.refund_refs import REFERENCE_KEY

__all__ = [
    "METADATA_KEY",
    "lookup_authorize",
    "lookup_capture",
    "send_authorize",
    "send_capture",
]

#: The attempt id rides along on the authorization charge, to find it by (lookup); the
#: same key as on our refunds (:mod:`.refund_refs`).
METADATA_KEY = REFERENCE_KEY


def _charge_outcome(charge: Charge) -> CallOutcome:
    source = charge.source if isinstance(charge.source, ChargeSource) else None
    return CallOutcome(
        "succeeded",
        clover_id=charge.id,
        card_brand=source.brand if source else None,
        card_last4=source.last4 if source else None,
    )


def send_authorize(ctx: ServiceContext, merchant: Merchant, attempt: PaymentAttempt) -> CallOutcome:
    """``POST /v1/charges`` with ``capture: false`` and the attempt's key (a resend replays)."""
    req: dict[str, Any] = json.loads(attempt.request_json)
    params: dict[str, Any] = {
        "amount": attempt.amount,
        "currency": attempt.currency,
        "capture": False,
        "metadata": {METADATA_KEY: attempt.id},
    }
    if attempt.tip_amount:
        params["tip_amount"] = attempt.tip_amount
    if attempt.source_kind == "card_on_file":
        params["source"] = req["customer"]
        params["stored_credentials"] = _stored_credentials(attempt, req)
    else:
        params["source"] = req["source"]
    try:
        with ctx.gateway.client(merchant, client_ip=req.get("client_ip")) as clover:
            charge = clover.charges.create(idempotency_key=attempt.idempotency_key, **params)
    except CloverError as exc:
        return _from_error(exc)
    if charge.status != "succeeded":
        return CallOutcome("declined", clover_id=charge.id, code="authorization_failed")
    return _charge_outcome(charge)


def lookup_authorize(
    ctx: ServiceContext, merchant: Merchant, attempt: PaymentAttempt
) -> CallOutcome:
    """Find the authorization charge by the attempt id in its metadata, among the
    newest charges (of the card-on-file customer when there is one). Only a listing
    that reaches back before the attempt was created is evidence of no charge."""
    req: dict[str, Any] = json.loads(attempt.request_json)
    created_ms = int(attempt.created_at.timestamp() * 1000)
    try:
        with ctx.gateway.client(merchant) as clover:
            params: dict[str, Any] = {}
            if attempt.source_kind == "card_on_file":
                params["customer"] = req["customer"]
            reached_back = False
            for n, charge in enumerate(clover.charges.list(**params)):
                if (charge.metadata or {}).get(METADATA_KEY) == attempt.id:
                    if charge.status != "succeeded" or charge.amount != attempt.amount:
                        return CallOutcome(
                            "unknown",
                            code="amount_mismatch",
                            message=f"Clover charge {charge.id} does not match the attempt",
                        )
                    return _charge_outcome(charge)
                if charge.created is not None and charge.created < created_ms - 60_000:
                    reached_back = True
                    break
                if n >= 500:
                    break
    except CloverError:
        return CallOutcome("unknown", code="lookup_failed")
    if reached_back:
        return CallOutcome(
            "failed", code="lookup_no_charge", message="Clover lists no charge for the attempt"
        )
    return CallOutcome("unknown", code="lookup_inconclusive")


def send_capture(ctx: ServiceContext, merchant: Merchant, attempt: PaymentAttempt) -> CallOutcome:
    req: dict[str, Any] = json.loads(attempt.request_json)
    try:
        with ctx.gateway.client(merchant) as clover:
            charge = clover.charges.capture(
                req["charge"], idempotency_key=attempt.idempotency_key, amount=attempt.amount
            )
    except CloverError as exc:
        return _from_error(exc)
    return _capture_outcome(charge, attempt)


def _capture_outcome(charge: Charge, attempt: PaymentAttempt) -> CallOutcome:
    if not charge.captured:
        return CallOutcome("unknown", code="not_captured", message="the charge is not captured")
    if charge.amount_captured is not None and charge.amount_captured != attempt.amount:
        return CallOutcome(
            "unknown",
            code="amount_mismatch",
            message=f"Clover captured {charge.amount_captured}, the attempt {attempt.amount}",
        )
    return _charge_outcome(charge)


def lookup_capture(ctx: ServiceContext, merchant: Merchant, attempt: PaymentAttempt) -> CallOutcome:
    """The charge itself says whether it was captured, and how much (rule 7)."""
    req: dict[str, Any] = json.loads(attempt.request_json)
    try:
        with ctx.gateway.client(merchant) as clover:
            charge = clover.charges.retrieve(req["charge"])
    except CloverError:
        return CallOutcome("unknown", code="lookup_failed")
    if not charge.captured:
        return CallOutcome(
            "failed", code="lookup_not_captured", message="Clover's charge is not captured"
        )
    return _capture_outcome(charge, attempt)
