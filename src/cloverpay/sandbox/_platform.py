"""Platform REST v3 views of the sandbox (a subset: merchant, devices, payments, orders).

Ecommerce charges and orders *are* v3 payments and orders at Clover (a charge id is the
payment id), so they are shown here in the v3 shape, never copied. Payments made
elsewhere (an emulated terminal) are recorded with :meth:`PlatformStore.record_payment`
and indexed by ``(merchant, externalPaymentId)`` for O(1) lookups.

v3 shapes (spec §13.2 flat errors; payment fields as in Clover's REST reference):
``{id, order: {id}, amount, tipAmount, taxAmount, externalPaymentId, result: SUCCESS|FAIL,
createdTime, modifiedTime, cardTransaction: {cardType, first6, last4, type, authCode,
referenceId, state, entryType}, tender: {labelKey}, refunds: {elements}}``.
Lists are ``{"elements": [...], "href": ...}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._records import Charge, Order

__all__ = ["PlatformStore", "charge_payment_json", "order_json", "terminal_payment_json"]

_CARD_TYPES = {
    "VISA": "VISA",
    "MC": "MC",
    "MASTERCARD": "MC",
    "AMEX": "AMEX",
    "DISCOVER": "DISCOVER",
    "DINERS_CLUB": "DINERS_CLUB",
    "JCB": "JCB",
}


def charge_payment_json(charge: Charge, modified_ms: int | None = None) -> dict[str, Any]:
    """A charge as a v3 payment."""
    ok = charge.status == "succeeded"
    source = charge.source or {}
    brand = str(source.get("brand") or "").upper()
    card: dict[str, Any] = {
        "cardType": _CARD_TYPES.get(brand, brand or "UNKNOWN"),
        "entryType": "KEYED",
        "first6": source.get("first6"),
        "last4": source.get("last4"),
        "type": "AUTH" if charge.captured else "PREAUTH",
        "authCode": charge.auth_code,
        "referenceId": charge.ref_num,
        "state": "CLOSED" if charge.captured else "PENDING",
    }
    return {
        "id": charge.id,
        "order": {"id": charge.order} if charge.order else None,
        "amount": charge.amount,
        "tipAmount": charge.tip_amount,
        "taxAmount": charge.tax_amount,
        "externalPaymentId": None,
        "externalReferenceId": charge.external_reference_id,
        "result": "SUCCESS" if ok else "FAIL",
        "createdTime": charge.created_ms,
        "clientCreatedTime": charge.created_ms,
        "modifiedTime": modified_ms or charge.created_ms,
        "offline": False,
        "tender": {"labelKey": "com.clover.tender.credit_card", "label": "Credit Card"},
        "cardTransaction": card,
        "refunds": {"elements": [{"id": rid, "amount": amt} for rid, amt in charge.refunds]},
    }


def terminal_payment_json(
    *,
    payment_id: str,
    amount: int,
    external_payment_id: str | None,
    created_ms: int,
    result: str = "SUCCESS",
    tip_amount: int = 0,
    tax_amount: int = 0,
    order_id: str | None = None,
    device_id: str | None = None,
    card: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A card-present payment (emulated terminal) in the same v3 shape, ready for
    :meth:`PlatformStore.record_payment`. ``card`` holds ``cardType``, ``first6``,
    ``last4``, ``authCode``, ``referenceId`` ... (never a full number)."""
    if result not in ("SUCCESS", "FAIL"):
        raise ValueError("result must be SUCCESS or FAIL")
    transaction = {"entryType": "EMV_CONTACT", "type": "AUTH", "state": "CLOSED", **(card or {})}
    return {
        "id": payment_id,
        "order": {"id": order_id} if order_id else None,
        "device": {"id": device_id} if device_id else None,
        "amount": amount,
        "tipAmount": tip_amount,
        "taxAmount": tax_amount,
        "externalPaymentId": external_payment_id,
        "result": result,
        "createdTime": created_ms,
        "clientCreatedTime": created_ms,
        "modifiedTime": created_ms,
        "offline": False,
        "tender": {"labelKey": "com.clover.tender.credit_card", "label": "Credit Card"},
        "cardTransaction": transaction,
        "refunds": {"elements": []},
    }


def order_json(order: Order) -> dict[str, Any]:
    """An Ecommerce order as a v3 order."""
    if order.amount_paid <= 0:
        payment_state = "OPEN"
    elif order.amount_returned > 0:
        payment_state = "REFUNDED" if order.amount_returned >= order.amount_paid else "PAID"
    elif order.amount_paid < order.amount:
        payment_state = "PARTIALLY_PAID"
    else:
        payment_state = "PAID"
    return {
        "id": order.id,
        "currency": order.currency.upper(),
        "total": order.amount,
        "paymentState": payment_state,
        "state": "locked" if payment_state != "OPEN" else "open",
        "createdTime": order.created_ms,
        "clientCreatedTime": order.created_ms,
        "modifiedTime": max([order.created_ms, *order.status_transitions.values()]),
        "customers": {"elements": [{"id": order.customer}]} if order.customer else None,
        "payments": {"elements": [{"id": cid} for cid in order.charges]},
        "lineItems": {
            "elements": [
                {
                    "name": item.get("description") or item.get("type", "item"),
                    "price": item.get("amount", 0),
                    "unitQty": item.get("quantity", 1),
                }
                for item in order.items
            ]
        },
        "manualTransaction": False,
        "testMode": True,
    }


@dataclass
class PlatformStore:
    """Devices and payments not made through the Ecommerce API."""

    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_external_id: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    payment_merchant: dict[str, str] = field(default_factory=dict)

    def add_device(self, merchant_id: str, device: dict[str, Any]) -> dict[str, Any]:
        device = {**device, "merchant": {"id": merchant_id}}
        self.devices[device["id"]] = device
        return device

    def record_payment(self, merchant_id: str, payment: dict[str, Any]) -> None:
        """Add (or replace) a v3 payment; indexes its ``externalPaymentId``. Call under
        ``state.lock`` and follow with ``state.notify("P", id, "CREATE", merchant_id=…)``
        so app webhooks report it."""
        pid = payment["id"]
        self.payments[pid] = payment
        self.payment_merchant[pid] = merchant_id
        ext = payment.get("externalPaymentId")
        if ext:
            ids = self.by_external_id.setdefault((merchant_id, ext), [])
            if pid not in ids:
                ids.append(pid)

    def payment(self, merchant_id: str, payment_id: str) -> dict[str, Any] | None:
        if self.payment_merchant.get(payment_id) != merchant_id:
            return None
        return self.payments.get(payment_id)

    def by_external(self, merchant_id: str, external_id: str) -> list[dict[str, Any]]:
        return [self.payments[p] for p in self.by_external_id.get((merchant_id, external_id), [])]
