"""Ecommerce objects: tokens, PAKMS key, charges, orders, customers, refunds (spec §4-9).

Money is integer cents; ``created`` is epoch milliseconds.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from cloverpay.api._models_base import CamelModel, CloverModel, ElementsList, NumStr

__all__ = [
    "Address",
    "Card",
    "Charge",
    "ChargeOutcome",
    "ChargeSource",
    "Customer",
    "CustomerSources",
    "Order",
    "OrderItem",
    "OrderReturn",
    "PakmsKey",
    "Refund",
    "Shipping",
    "TaxRate",
    "Token",
]

CardBrand = Literal["VISA", "MC", "AMEX", "DISCOVER", "DINERS_CLUB", "JCB"] | str
ChargeStatus = Literal["succeeded", "pending", "failed"] | str
OrderStatus = Literal["created", "paid", "fulfilled", "refunded", "returned", "canceled"] | str
Ecomind = Literal["ecom", "moto", "retail"] | str


class PakmsKey(CamelModel):
    """The merchant's Ecommerce public key (``apiAccessKey``), from ``GET /pakms/apikey``."""

    api_access_key: str
    merchant_uuid: str | None = None
    developer_app_uuid: str | None = None
    active: bool | None = None
    created_time: int | None = None
    modified_time: int | None = None

    def __repr__(self) -> str:
        return f"PakmsKey(merchant_uuid={self.merchant_uuid!r}, active={self.active!r})"


class Card(CloverModel):
    """Card details Clover returns (never the full number)."""

    id: str | None = None
    object: str | None = None
    brand: CardBrand | None = None
    first6: str | None = None
    last4: str | None = None
    exp_month: NumStr | None = None
    exp_year: NumStr | None = None
    name: str | None = None
    country: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    address_city: str | None = None
    address_state: str | None = None
    address_zip: str | None = None
    address_country: str | None = None
    cvc_check: Literal["pass", "fail", "unavailable", "unchecked"] | str | None = None


class Token(CloverModel):
    """A ``clv_…`` token from ``POST /v1/tokens`` (card tokens are single-use)."""

    id: str
    object: str | None = "token"
    card: Card | None = None
    ach: dict[str, Any] | None = None
    gift_card: dict[str, Any] | None = Field(default=None, alias="giftCard")
    created: int | None = None
    livemode: bool | None = None
    type: str | None = None
    used: bool | None = None


class ChargeOutcome(CloverModel):
    network_status: str | None = None
    type: str | None = None
    risk_level: str | None = None
    risk_score: int | None = None


class ChargeSource(Card):
    """The card a charge was made with."""


class Charge(CloverModel):
    """A charge (``/v1/charges``); ``id`` is a 13-character Clover id."""

    id: str
    object: str | None = "charge"
    amount: int | None = None
    amount_refunded: int | None = None
    amount_captured: int | None = None
    tax_amount: int | None = None
    tip_amount: int | None = None
    currency: str | None = None
    created: int | None = None
    captured: bool | None = None
    paid: bool | None = None
    refunded: bool | None = None
    status: ChargeStatus | None = None
    description: str | None = None
    customer: str | None = None
    order: str | None = None
    ref_num: NumStr | None = None
    auth_code: NumStr | None = None
    outcome: ChargeOutcome | None = None
    source: ChargeSource | str | None = None
    payment_method_details: str | dict[str, Any] | None = None
    ecomind: Ecomind | None = None
    external_reference_id: str | None = None
    metadata: dict[str, Any] | None = None
    receipt_email: str | None = None
    warning_message: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None


class TaxRate(CloverModel):
    name: str | None = None
    tax_rate_uuid: str | None = None
    rate: int | None = None


class Address(CloverModel):
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None


class Shipping(CloverModel):
    name: str | None = None
    phone: str | None = None
    address: Address | None = None


class OrderItem(CloverModel):
    type: Literal["sku", "tax", "shipping", "discount"] | str | None = None
    parent: str | None = None
    amount: int | None = None
    currency: str | None = None
    description: str | None = None
    quantity: int | None = None
    tax_rates: list[TaxRate] | None = None
    tax_amount: int | None = None


class Order(CloverModel):
    """An Ecommerce order (``/v1/orders``)."""

    id: str
    object: str | None = "order"
    amount: int | None = None
    amount_paid: int | None = None
    amount_returned: int | None = None
    currency: str | None = None
    created: int | None = None
    customer: str | None = None
    email: str | None = None
    items: ElementsList[OrderItem] | None = None
    shipping: Shipping | None = None
    status: OrderStatus | None = None
    status_transitions: dict[str, Any] | None = None
    charge: str | None = None
    past_charges: list[Any] | None = None
    ref_num: NumStr | None = None
    auth_code: NumStr | None = None
    source: ChargeSource | str | None = None
    ecomind: Ecomind | None = None
    warning_message: str | None = None


class OrderReturn(CloverModel):
    """Answer to ``POST /v1/orders/{id}/returns``; its shape is undocumented [G]."""

    id: str | None = None
    object: str | None = None
    amount: int | None = None
    order: str | None = None
    status: str | None = None
    items: ElementsList[OrderItem] | None = None


class CustomerSources(CloverModel):
    object: str | None = "list"
    data: ElementsList[str | dict[str, Any]] = Field(default_factory=list)
    has_more: bool | None = None


class Customer(CloverModel):
    """A customer with a card on file (``/v1/customers``)."""

    id: str
    object: str | None = "customer"
    created: int | None = None
    currency: str | None = None
    email: str | None = None
    phone: str | None = None
    name: str | None = None
    first_name: str | None = Field(default=None, alias="firstName")
    last_name: str | None = Field(default=None, alias="lastName")
    sources: CustomerSources | None = None
    shipping: Shipping | None = None
    ecomind: Ecomind | None = None


class Refund(CloverModel):
    """A refund (``/v1/refunds``)."""

    id: str
    object: str | None = "refund"
    amount: int | None = None
    charge: str | None = None
    created: int | None = None
    status: Literal["succeeded", "pending", "failed"] | str | None = None
    reason: str | None = None
    currency: str | None = None
    external_reference_id: str | None = None
    metadata: dict[str, Any] | None = None
