"""Platform REST v3 objects (``/v3/merchants/{mId}/…``), the subset the client reads."""

from __future__ import annotations

from typing import Any, Literal

from cloverpay.api._models_base import CamelModel

__all__ = ["Device", "Merchant", "Payment", "PlatformOrder", "Reference"]


class Reference(CamelModel):
    """A link to another object: ``{"id": ..., "href": ...}``."""

    id: str | None = None
    href: str | None = None


class Merchant(CamelModel):
    id: str
    name: str | None = None
    owner: Reference | None = None
    address: dict[str, Any] | None = None
    default_currency: str | None = None
    phone_number: str | None = None
    website: str | None = None
    created_time: int | None = None


class Device(CamelModel):
    id: str
    name: str | None = None
    model: str | None = None
    serial: str | None = None
    device_type_name: str | None = None
    product_name: str | None = None
    build_number: int | None = None


class Payment(CamelModel):
    """A v3 payment (terminal or online); ``external_payment_id`` is the POS's own id."""

    id: str
    order: Reference | None = None
    device: Reference | None = None
    tender: dict[str, Any] | None = None
    amount: int | None = None
    tip_amount: int | None = None
    tax_amount: int | None = None
    cashback_amount: int | None = None
    external_payment_id: str | None = None
    employee: Reference | None = None
    created_time: int | None = None
    client_created_time: int | None = None
    modified_time: int | None = None
    offline: bool | None = None
    result: Literal["SUCCESS", "FAIL", "INITIATED", "VOIDED", "VOIDING", "AUTH"] | str | None = None
    card_transaction: dict[str, Any] | None = None
    refunds: dict[str, Any] | None = None


class PlatformOrder(CamelModel):
    """A v3 order (``/v3/merchants/{mId}/orders``), distinct from the Ecommerce order."""

    id: str
    currency: str | None = None
    total: int | None = None
    state: str | None = None
    payment_state: str | None = None
    title: str | None = None
    note: str | None = None
    external_reference_id: str | None = None
    created_time: int | None = None
    modified_time: int | None = None
    line_items: dict[str, Any] | None = None
    payments: dict[str, Any] | None = None
