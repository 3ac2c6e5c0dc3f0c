"""Captures and refunds of Ecommerce charges.

Validation (:func:`check_refund`, the checks at the top of :func:`capture_charge`) runs
before any change; the caller holds ``state.lock``. A charge's ``amount_refunded`` is
derived from its refunds; its order's ``amount_returned`` and status follow (order
statuses move through :mod:`._order_states`).
"""

from __future__ import annotations

from typing import Any

from . import _errors as E
from ._order_states import can_transition, transition
from ._payments import mark_paid
from ._platform import PlatformStore
from ._records import Charge, Refund
from ._state import SandboxState

__all__ = [
    "capture_charge",
    "check_refund",
    "refund_charge",
    "refund_terminal_payment",
    "refundable",
]


def capture_charge(state: SandboxState, charge: Charge, amount: int | None) -> None:
    """Capture an authorized charge (full or partial). Caller holds the lock."""
    if charge.status != "succeeded":
        raise E.invalid_request(f"Charge {charge.id} failed and cannot be captured", "charge")
    if charge.captured:
        raise E.charge_already_captured(charge.id)
    if charge.amount_refunded:
        raise E.invalid_request(f"Charge {charge.id} was released and cannot be captured", "charge")
    if amount is not None and amount > charge.amount:
        raise E.amount_too_large("amount", f"amount must not exceed the authorized {charge.amount}")
    captured = charge.amount if amount is None else amount
    now = state.clock.now_ms()
    if now - charge.created_ms > state.config.preauth_ttl_s * 1000:
        raise E.SandboxError(
            400,
            "invalid_request_error",
            "charge_expired_for_capture",
            f"Charge {charge.id} was authorized too long ago to be captured",
            "charge",
        )
    charge.captured = True
    charge.amount_captured = captured
    order = state.ecommerce.orders.get(charge.order or "", charge.merchant_id)
    if order is not None and charge.id not in order.charges:
        mark_paid(order, captured, charge, now)
        state.notify("O", order.id, "UPDATE", merchant_id=charge.merchant_id)
    state.notify("P", charge.id, "UPDATE", merchant_id=charge.merchant_id)


def refundable(charge: Charge) -> int:
    return charge.amount_captured - charge.amount_refunded if charge.status == "succeeded" else 0


def check_refund(charge: Charge, amount: int | None, *, release_auth: bool = False) -> int:
    """Validate a refund of ``amount`` (None = all that remains); returns the amount.

    ``release_auth`` (``SandboxConfig.refund_releases_authorization``): a refund of a
    charge not captured releases the whole authorization."""
    if charge.status != "succeeded":
        raise E.invalid_request(f"Charge {charge.id} failed; there is nothing to refund", "charge")
    if not charge.captured and release_auth:
        if charge.amount_refunded:
            raise E.charge_already_refunded(charge.id)
        if amount is not None and amount != charge.amount:
            raise E.invalid_request(
                f"Charge {charge.id} is not captured; only all of it can be released", "amount"
            )
        return charge.amount
    if not charge.captured:
        raise E.invalid_request(
            f"Charge {charge.id} is not captured; capture it before refunding", "charge"
        )
    remaining = refundable(charge)
    if remaining <= 0:
        raise E.charge_already_refunded(charge.id)
    if amount is None:
        return remaining
    if amount > remaining:
        raise E.amount_too_large(
            "amount", f"amount {amount} exceeds the {remaining} cents left to refund on {charge.id}"
        )
    return amount


def refund_charge(
    state: SandboxState,
    charge: Charge,
    amount: int,
    *,
    reason: str | None = None,
    metadata: dict[str, Any] | None = None,
    external_reference_id: str | None = None,
    order_return: str | None = None,
) -> Refund:
    """Create a refund already validated by :func:`check_refund`. Caller holds the lock."""
    now = state.clock.now_ms()
    mid = charge.merchant_id
    refund = Refund(
        id=state.ids.clover_id(),
        merchant_id=mid,
        created_ms=now,
        amount=amount,
        charge=charge.id,
        currency=charge.currency,
        reason=reason,
        metadata=metadata,
        external_reference_id=external_reference_id,
        order_return=order_return,
    )
    state.ecommerce.refunds.add(refund.id, refund, now, mid, f"{mid}|charge|{charge.id}")
    charge.refunds.append((refund.id, amount))
    order = state.ecommerce.orders.get(charge.order or "", mid)
    if order is not None:
        order.amount_returned += amount
        final = "returned" if order_return else "refunded"
        if (
            order.amount_paid
            and order.amount_returned >= order.amount_paid
            and can_transition(order.status, final)
        ):
            transition(order, final, now)
        state.notify("O", order.id, "UPDATE", merchant_id=mid)
    state.notify("P", charge.id, "UPDATE", merchant_id=mid)
    return refund


def refund_terminal_payment(
    state: SandboxState,
    merchant_id: str,
    payment: dict[str, Any],
    amount: int | None,
    *,
    reason: str | None = None,
    metadata: dict[str, Any] | None = None,
    external_reference_id: str | None = None,
) -> Refund:
    """Refund a card-present (v3) payment through ``/v1/refunds`` [G] (see
    ``SandboxConfig.refunds_of_terminal_payments``): the same rules as a charge (never
    above what is left, amount + tip), the refund listed on the v3 payment as the
    terminal lists its own. Caller holds the lock."""
    pid = str(payment["id"])
    if payment.get("result") != "SUCCESS":
        raise E.invalid_request(
            f"Payment {pid} is {payment.get('result')}; there is nothing to refund", "charge"
        )
    elements = list((payment.get("refunds") or {}).get("elements", []))
    total = int(payment.get("amount") or 0) + int(payment.get("tipAmount") or 0)
    remaining = total - sum(int(r.get("amount") or 0) for r in elements)
    if remaining <= 0:
        raise E.charge_already_refunded(pid)
    if amount is not None and amount > remaining:
        raise E.amount_too_large(
            "amount", f"amount {amount} exceeds the {remaining} cents left to refund on {pid}"
        )
    refund_amount = remaining if amount is None else amount
    now = state.clock.now_ms()
    refund = Refund(
        id=state.ids.clover_id(),
        merchant_id=merchant_id,
        created_ms=now,
        amount=refund_amount,
        charge=pid,
        currency=str((payment.get("cardTransaction") or {}).get("currency") or "usd"),
        reason=reason,
        metadata=metadata,
        external_reference_id=external_reference_id,
    )
    state.ecommerce.refunds.add(refund.id, refund, now, merchant_id, f"{merchant_id}|charge|{pid}")
    order = payment.get("order") or {}
    elements.append(
        {
            "id": refund.id,
            "orderRef": {"id": order.get("id")} if order.get("id") else None,
            "payment": {"id": pid},
            "amount": refund_amount,
            "taxAmount": 0,
            "tipAmount": 0,
            "createdTime": now,
            "clientCreatedTime": now,
            "cardTransaction": {**(payment.get("cardTransaction") or {}), "type": "REFUND"},
        }
    )
    updated = {**payment, "refunds": {"elements": elements}, "modifiedTime": now}
    state.domain(PlatformStore).record_payment(merchant_id, updated)
    state.events.add("rest_refund_of_v3_payment", payment_id=pid, refund_id=refund.id)
    state.notify("P", pid, "UPDATE", merchant_id=merchant_id)
    return refund
