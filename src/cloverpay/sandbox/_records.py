"""Ecommerce objects as stored by the sandbox, and their Clover JSON shapes.

Nothing here holds a card number or a CVV: a token keeps brand, first6, last4, expiry
and the outcome decided at tokenization (:mod:`._cards`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ._index import Store

__all__ = [
    "Card",
    "CardToken",
    "Charge",
    "Customer",
    "EcommerceStores",
    "Order",
    "OrderReturn",
    "Refund",
]

TokenType = Literal["ONEOFF", "MULTIPAY", "RECURRING"]
Instrument = Literal["CARD", "ACH", "GIFT_CARD"]


@dataclass(slots=True)
class CardToken:
    id: str
    merchant_id: str
    created_ms: int
    brand: str
    first6: str
    last4: str
    exp_month: str
    exp_year: str
    #: ``None`` approves; otherwise the ``decline_code`` charges with this card get.
    decline_code: str | None = None
    decline_message: str | None = None
    type: TokenType = "ONEOFF"
    used: bool = False
    name: str | None = None
    address_zip: str | None = None
    cvc_check: str = "pass"
    last_accessed_ms: int = 0
    #: a FIRST stored-credential charge succeeded with this card
    cof_initialized: bool = False
    #: what the token stands for; ACH and gift-card tokens keep only their last digits
    instrument: Instrument = "CARD"
    #: ``{"account_last4", "routing_last4"}`` (ACH) or ``{"last4"}`` (gift card)
    details: dict[str, str] = field(default_factory=dict)

    def card_json(self) -> dict[str, Any]:
        return {
            "exp_month": self.exp_month,
            "exp_year": self.exp_year,
            "first6": self.first6,
            "last4": self.last4,
            "brand": self.brand,
        }

    @property
    def payment_method(self) -> str:
        """``payment_method_details`` of charges made with this token."""
        return {"CARD": "card", "ACH": "ach", "GIFT_CARD": "gift_card"}[self.instrument]

    def to_json(self) -> dict[str, Any]:
        if self.instrument == "ACH":
            return {"id": self.id, "object": "token", "ach": dict(self.details)}
        if self.instrument == "GIFT_CARD":
            # docs: ``giftCard`` (one third-party summary writes ``gift_card``) [!]
            return {"id": self.id, "object": "token", "giftCard": dict(self.details)}
        card = self.card_json()
        if self.name is not None:
            card["name"] = self.name
        if self.address_zip is not None:
            card["address_zip"] = self.address_zip
        card["cvc_check"] = self.cvc_check
        return {
            "id": self.id,
            "object": "token",
            "card": card,
            "created": self.created_ms // 1000,
            "livemode": False,
            "type": "card",
            "used": self.used,
        }

    def detail_json(self) -> dict[str, Any]:
        """``GET /v1/tokens/{id}`` (token-openapi shape [C1])."""
        instrument: dict[str, Any] = (
            {"card": {"id": self.id, **self.card_json()}}
            if self.instrument == "CARD"
            else {"ach" if self.instrument == "ACH" else "giftCard": dict(self.details)}
        )
        return {
            **instrument,
            "cloverToken": {
                "tokenValue": self.id,
                "merchantUuid": self.merchant_id,
                "createdTime": self.created_ms,
                "lastAccessedTime": self.last_accessed_ms or self.created_ms,
            },
            "tokenMeta": {
                "tokenStatus": "VERIFIED" if self.used else "NEW",
                "tokenType": self.type,
                "tokenProvider": "MOCK",
                "paymentInstrument": self.instrument,
            },
        }

    def source_json(self) -> dict[str, Any]:
        if self.instrument == "ACH":
            return {"id": self.id, "ach": dict(self.details)}
        if self.instrument == "GIFT_CARD":
            return {"id": self.id, "gift_card": dict(self.details)}
        return {"id": self.id, **self.card_json()}


@dataclass(slots=True)
class Card:
    """A customer's saved card (card on file), backed by a multi-pay token."""

    id: str
    merchant_id: str
    customer_id: str
    token_id: str
    created_ms: int


@dataclass(slots=True)
class Customer:
    id: str
    merchant_id: str
    created_ms: int
    email: str
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    shipping: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    ecomind: str | None = None
    card_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "object": "customer",
            "created": self.created_ms,
            "currency": "USD",
            "email": self.email,
            "sources": {
                "object": "list",
                "data": [self.card_id] if self.card_id else [],
            },
        }
        for key, value in (
            ("name", self.name),
            ("firstName", self.first_name),
            ("lastName", self.last_name),
            ("phone", self.phone),
            ("shipping", self.shipping),
            ("metadata", self.metadata),
            ("ecomind", self.ecomind),
        ):
            if value is not None:
                out[key] = value
        return out


@dataclass(slots=True)
class Charge:
    id: str
    merchant_id: str
    created_ms: int
    amount: int
    currency: str
    status: Literal["succeeded", "pending", "failed"]
    captured: bool
    amount_captured: int
    source: dict[str, Any]
    payment_method_details: str
    order: str | None
    customer: str | None = None
    tax_amount: int = 0
    tip_amount: int = 0
    description: str | None = None
    ecomind: str = "ecom"
    metadata: dict[str, Any] | None = None
    external_reference_id: str | None = None
    receipt_email: str | None = None
    stored_credentials: dict[str, Any] | None = None
    ref_num: str | None = None
    auth_code: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    warning_message: str | None = None
    saved_credentials_on_file: dict[str, Any] | None = None
    #: (refund id, amount) in creation order; ``amount_refunded`` is derived from it.
    refunds: list[tuple[str, int]] = field(default_factory=list)

    @property
    def amount_refunded(self) -> int:
        return sum(a for _, a in self.refunds)

    def to_json(self) -> dict[str, Any]:
        refunded = self.amount_refunded
        ok = self.status == "succeeded"
        out: dict[str, Any] = {
            "id": self.id,
            "object": "charge",
            "amount": self.amount,
            "amount_captured": self.amount_captured,
            "amount_refunded": refunded,
            "tax_amount": self.tax_amount,
            "tip_amount": self.tip_amount,
            "currency": self.currency,
            "created": self.created_ms,
            "captured": self.captured,
            "paid": ok,
            "refunded": ok and self.amount_captured > 0 and refunded >= self.amount_captured,
            "status": self.status,
            "order": self.order,
            "source": self.source,
            "payment_method_details": self.payment_method_details,
            "ecomind": self.ecomind,
            "livemode": False,
            "outcome": (
                {"network_status": "approved_by_network", "type": "authorized"}
                if ok
                else {"network_status": "declined_by_network", "type": "issuer_declined"}
            ),
        }
        for key, value in (
            ("customer", self.customer),
            ("description", self.description),
            ("metadata", self.metadata),
            ("external_reference_id", self.external_reference_id),
            ("receipt_email", self.receipt_email),
            ("stored_credentials", self.stored_credentials),
            ("ref_num", self.ref_num),
            ("auth_code", self.auth_code),
            ("failure_code", self.failure_code),
            ("failure_message", self.failure_message),
            ("warning_message", self.warning_message),
            ("saved_credentials_on_file", self.saved_credentials_on_file),
        ):
            if value is not None:
                out[key] = value
        return out


@dataclass(slots=True)
class Order:
    id: str
    merchant_id: str
    created_ms: int
    amount: int
    currency: str
    items: list[dict[str, Any]]
    status: str = "created"
    customer: str | None = None
    email: str | None = None
    shipping: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    amount_paid: int = 0
    amount_returned: int = 0
    tax_amount: int = 0
    #: successful charge ids paying this order, oldest first
    charges: list[str] = field(default_factory=list)
    status_transitions: dict[str, int] = field(default_factory=dict)
    #: the latest successful charge (its ref_num, auth_code, source, ecomind are shown)
    last_charge: Charge | None = None

    @property
    def amount_due(self) -> int:
        return self.amount - self.amount_paid

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "object": "order",
            "amount": self.amount,
            "amount_paid": self.amount_paid,
            "amount_returned": self.amount_returned,
            "currency": self.currency,
            "created": self.created_ms,
            "items": self.items,
            "status": self.status,
            "status_transitions": dict(self.status_transitions),
        }
        if self.tax_amount:
            out["tax_amount"] = self.tax_amount
        for key, value in (
            ("customer", self.customer),
            ("email", self.email),
            ("shipping", self.shipping),
            ("metadata", self.metadata),
        ):
            if value is not None:
                out[key] = value
        if self.charges:
            out["charge"] = self.charges[-1]
            last = self.last_charge
            if last is not None:
                out["ref_num"] = last.ref_num
                out["auth_code"] = last.auth_code
                out["source"] = last.source
                out["ecomind"] = last.ecomind
        if len(self.charges) > 1:
            out["past_charges"] = list(self.charges[:-1])
        return out


@dataclass(slots=True)
class Refund:
    id: str
    merchant_id: str
    created_ms: int
    amount: int
    charge: str
    currency: str
    status: str = "succeeded"
    reason: str | None = None
    metadata: dict[str, Any] | None = None
    external_reference_id: str | None = None
    order_return: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "object": "refund",
            "amount": self.amount,
            "charge": self.charge,
            "currency": self.currency,
            "created": self.created_ms,
            "status": self.status,
        }
        for key, value in (
            ("reason", self.reason),
            ("metadata", self.metadata),
            ("external_reference_id", self.external_reference_id),
            ("order_return", self.order_return),
        ):
            if value is not None:
                out[key] = value
        return out


@dataclass(slots=True)
class OrderReturn:
    """Result of ``POST /v1/orders/{id}/returns``; shape guessed (spec §7 [G])."""

    id: str
    merchant_id: str
    created_ms: int
    order: str
    amount: int
    currency: str
    refunds: list[str]
    items: list[dict[str, Any]]
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "object": "order_return",
            "order": self.order,
            "amount": self.amount,
            "currency": self.currency,
            "created": self.created_ms,
            "items": self.items,
            "refunds": list(self.refunds),
            "status": "returned",
        }
        if self.reason is not None:
            out["reason"] = self.reason
        return out


@dataclass
class EcommerceStores:
    """Every Ecommerce object of every merchant. Index names: the merchant id for
    "all", ``f"{mid}|customer|{cid}"`` and ``f"{mid}|charge|{chid}"`` for filters."""

    tokens: Store[CardToken] = field(default_factory=lambda: Store("token"))
    charges: Store[Charge] = field(default_factory=lambda: Store("charge"))
    orders: Store[Order] = field(default_factory=lambda: Store("order"))
    customers: Store[Customer] = field(default_factory=lambda: Store("customer"))
    cards: Store[Card] = field(default_factory=lambda: Store("card"))
    refunds: Store[Refund] = field(default_factory=lambda: Store("refund"))
    returns: Store[OrderReturn] = field(default_factory=lambda: Store("order_return"))
