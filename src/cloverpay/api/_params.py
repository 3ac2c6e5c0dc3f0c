"""Typed request parameters (PEP 692 ``**params: Unpack[...]``), in Clover's field names.

Ecommerce bodies are snake_case on the wire already. Recurring and Hosted Checkout
use camelCase on the wire; their parameters here are snake_case and converted when
the request is built.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, Required, TypedDict

__all__ = [
    "TENDER_CASH",
    "TENDER_CHECK",
    "AddressParams",
    "AlternateTenderParams",
    "CardParams",
    "ChargeCaptureParams",
    "ChargeCreateParams",
    "ChargeListParams",
    "CheckoutCustomerParams",
    "CheckoutLineItemParams",
    "CheckoutSessionCreateParams",
    "CustomerCreateParams",
    "CustomerListParams",
    "CustomerUpdateParams",
    "OrderCreateParams",
    "OrderItemParams",
    "OrderListParams",
    "OrderPayParams",
    "OrderReturnParams",
    "OrderUpdateParams",
    "PaymentListParams",
    "PlanCreateParams",
    "PlanUpdateParams",
    "PlatformListParams",
    "RefundCreateParams",
    "RefundListParams",
    "ShippingParams",
    "StoredCredentialsParams",
    "SubscriptionCreateParams",
    "SubscriptionUpdateParams",
    "TaxRateParams",
    "TenderParams",
    "alternate_tender",
]

#: ``tender.label_key`` of Clover's built-in alternate tenders.
TENDER_CASH = "com.clover.tender.cash"
TENDER_CHECK = "com.clover.tender.check"


class CardParams(TypedDict, total=False):
    """``card`` for ``tokens.create``: give ``number`` or ``encrypted_pan`` (see
    :func:`cloverpay.api.encrypt_pan`), never both; with ``encrypted_pan`` also give
    ``first6`` and ``last4``."""

    number: str
    encrypted_pan: str
    transarmor_key_id: str
    exp_month: Required[str]
    exp_year: Required[str]
    cvv: Required[str]
    first6: str
    last4: str
    brand: Literal["VISA", "MC", "AMEX", "DISCOVER", "DINERS_CLUB", "JCB"] | str
    country: str
    name: str
    address_line1: str
    address_line2: str
    address_city: str
    address_state: str
    address_zip: str
    address_country: str


class StoredCredentialsParams(TypedDict, total=False):
    sequence: Required[Literal["FIRST", "SUBSEQUENT"]]
    initiator: Required[Literal["MERCHANT", "CARDHOLDER"]]
    is_scheduled: Required[bool]
    bill_pay_indicator: Literal["INSTALLMENT", "RECURRING"]
    installment_info: dict[str, Any]
    invoice_number: str
    description: str


class TenderParams(TypedDict, total=False):
    """An alternate tender: ``label_key`` (e.g. :data:`TENDER_CASH`), ``id`` or ``label``."""

    label_key: str
    id: str
    label: str


class AlternateTenderParams(TypedDict):
    source: Literal["alternate_tender"]
    tender: TenderParams


def alternate_tender(
    kind: Literal["cash", "check"] | TenderParams,
) -> AlternateTenderParams:
    """``source`` and ``tender`` for a cash/check (or custom tender) charge or order pay.

    >>> client.charges.create(amount=1000, currency="usd", **alternate_tender("cash"))
    """
    if kind == "cash":
        tender: TenderParams = {"label_key": TENDER_CASH}
    elif kind == "check":
        tender = {"label_key": TENDER_CHECK}
    elif isinstance(kind, dict):
        tender = kind
    else:
        raise ValueError(f"unknown alternate tender {kind!r}; use 'cash', 'check' or a dict")
    return {"source": "alternate_tender", "tender": tender}


class ChargeCreateParams(TypedDict, total=False):
    amount: Required[int]
    currency: Required[str]
    source: Required[str]
    capture: bool
    tip_amount: int
    tax_amount: int
    tax_rate_uuid: str
    ecomind: Literal["ecom", "moto"]
    external_reference_id: str
    external_customer_reference: str
    stored_credentials: StoredCredentialsParams
    intent: Literal["save_credential_on_file"] | str
    metadata: dict[str, Any]
    description: str
    receipt_email: str
    tender: TenderParams
    partial_redemption: bool
    soft_descriptor: dict[str, str]
    threeds: dict[str, Any]
    level2: dict[str, Any]
    level3: dict[str, Any]
    site_url: str
    customer: dict[str, str]


class ChargeCaptureParams(TypedDict, total=False):
    amount: int
    receipt_email: str
    description: str
    metadata: dict[str, Any]
    level2: dict[str, Any]


class ChargeListParams(TypedDict, total=False):
    limit: int
    starting_after: str
    ending_before: str
    customer: str
    created_gt: int | str
    created_gte: int | str
    created_lt: int | str
    created_lte: int | str


class TaxRateParams(TypedDict, total=False):
    name: Required[str]
    tax_rate_uuid: str
    rate: int


class OrderItemParams(TypedDict, total=False):
    type: Required[Literal["sku", "tax", "shipping", "discount"]]
    amount: int
    currency: str
    description: str
    quantity: int
    parent: str
    tax_rates: list[TaxRateParams]
    tax_amount: int


class AddressParams(TypedDict, total=False):
    line1: str
    line2: str
    city: str
    state: str
    postal_code: str
    country: str


class ShippingParams(TypedDict, total=False):
    name: str
    phone: str
    address: AddressParams


class OrderCreateParams(TypedDict, total=False):
    currency: Required[str]
    customer: str
    email: str
    items: list[OrderItemParams]
    shipping: ShippingParams
    metadata: dict[str, Any]


class OrderUpdateParams(TypedDict, total=False):
    email: str
    customer: str
    shipping: ShippingParams
    status: str
    metadata: dict[str, Any]


class OrderPayParams(TypedDict, total=False):
    source: str
    customer: str
    amount: int
    tip_amount: int
    email: str
    ecomind: Literal["ecom", "moto"]
    stored_credentials: StoredCredentialsParams
    tender: TenderParams


class OrderReturnParams(TypedDict, total=False):
    items: list[dict[str, Any]]
    amount: int
    reason: str


class OrderListParams(TypedDict, total=False):
    limit: int
    starting_after: str
    ending_before: str
    customer: str
    status: str


class CustomerCreateParams(TypedDict, total=False):
    email: Required[str]
    source: str
    first_name: str
    last_name: str
    name: str
    phone: str
    ecomind: Literal["ecom", "moto"]
    shipping: ShippingParams


class CustomerUpdateParams(TypedDict, total=False):
    email: str
    source: str
    first_name: str
    last_name: str
    name: str
    phone: str
    shipping: ShippingParams


class CustomerListParams(TypedDict, total=False):
    limit: int
    starting_after: str
    ending_before: str


class RefundCreateParams(TypedDict, total=False):
    charge: Required[str]
    amount: int
    reason: Literal["requested_by_customer", "duplicate", "fraudulent"] | str
    external_reference_id: str
    metadata: dict[str, Any]


class RefundListParams(TypedDict, total=False):
    limit: int
    starting_after: str
    ending_before: str
    charge: str
    created_gt: int | str
    created_gte: int | str
    created_lt: int | str
    created_lte: int | str


class PlanCreateParams(TypedDict, total=False):
    name: Required[str]
    amount: Required[int]
    interval: Required[Literal["DAY", "WEEK", "MONTH", "YEAR"] | str]
    interval_count: int
    note: str
    active: bool


class PlanUpdateParams(TypedDict, total=False):
    name: str
    amount: int
    note: str
    active: bool


class SubscriptionCreateParams(TypedDict, total=False):
    customer_id: Required[str]
    collection_method: Literal["CHARGE_AUTOMATICALLY"]
    start_date: str
    end_date: str
    amount: int
    tip_amount: int
    note: str
    active: bool
    tax_rate_uuids: list[str]
    soft_descriptor: dict[str, str]


class SubscriptionUpdateParams(TypedDict, total=False):
    active: bool
    amount: int
    note: str
    tax_rate_uuids: list[str]
    start_date: str
    end_date: str


class CheckoutCustomerParams(TypedDict, total=False):
    email: str
    first_name: str
    last_name: str
    phone_number: str


class CheckoutLineItemParams(TypedDict, total=False):
    name: Required[str]
    price: Required[int]
    unit_qty: int
    note: str
    description: str
    reference_id: str
    tax_rates: list[dict[str, Any]]


class _ShoppingCart(TypedDict, total=False):
    line_items: Required[list[CheckoutLineItemParams]]
    default_tax_rates: list[dict[str, Any]]


class _RedirectUrls(TypedDict, total=False):
    success: str
    failure: str
    cancel: str


class CheckoutSessionCreateParams(TypedDict, total=False):
    shopping_cart: Required[_ShoppingCart]
    customer: CheckoutCustomerParams
    redirect_urls: _RedirectUrls
    tips: dict[str, Any]
    page_config_uuid: str
    external_reference_id: str
    note: str


class PlatformListParams(TypedDict, total=False):
    limit: int
    offset: int
    filter: str | list[str]
    expand: str | list[str]
    order_by: str


class PaymentListParams(PlatformListParams, total=False):
    external_payment_id: NotRequired[str]
