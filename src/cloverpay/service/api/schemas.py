"""Request and response bodies of the API (unknown fields are refused, by name)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema

__all__ = [
    "ATTEMPT_CONFLICT",
    "AttemptOut",
    "AuditEntryOut",
    "CardIn",
    "CardOut",
    "CustomerIn",
    "CustomerOut",
    "ErrorOut",
    "InvoiceIn",
    "InvoiceOut",
    "LineItemIn",
    "PayIn",
    "PaymentOut",
    "RefundIn",
    "UtcDateTime",
    "error_responses",
]


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: A time in an answer: stored as naive UTC on both databases, answered with its
#: offset (``2026-11-22T04:18:14.821530Z``), the same on SQLite and PostgreSQL.
UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]

Cents = Annotated[int, Field(ge=0, le=99_999_999)]
PositiveCents = Annotated[int, Field(ge=1, le=99_999_999)]
Token = Annotated[str, StringConstraints(pattern=r"^clv_[A-Za-z0-9_]+$", max_length=64)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CustomerIn(_In):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    email: Email | None = None
    phone: Annotated[str, StringConstraints(max_length=40)] | None = None
    external_id: Annotated[str, StringConstraints(max_length=100)] | None = None


class CustomerOut(BaseModel):
    id: str
    name: str | None
    email: str | None
    phone: str | None
    external_id: str | None
    clover_customer_id: str | None
    created_at: UtcDateTime


class CardIn(_In):
    """A one-time ``clv_`` token from Clover's iframe, with what it showed (no PAN)."""

    token: Token
    brand: Annotated[str, StringConstraints(max_length=20)] | None = None
    first6: Annotated[str, StringConstraints(pattern=r"^\d{6}$")] | None = None
    last4: Annotated[str, StringConstraints(pattern=r"^\d{4}$")] | None = None
    exp_month: Annotated[str, StringConstraints(pattern=r"^(0[1-9]|1[0-2])$")] | None = None
    exp_year: Annotated[str, StringConstraints(pattern=r"^\d{4}$")] | None = None


class CardOut(BaseModel):
    id: str
    customer_id: str
    brand: str | None
    first6: str | None
    last4: str | None
    exp_month: str | None
    exp_year: str | None
    created_at: UtcDateTime


class LineItemIn(_In):
    description: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    quantity: Annotated[int, Field(ge=1, le=100_000)] = 1
    unit_amount: Cents


class InvoiceIn(_In):
    customer_id: str | None = None
    currency: Currency | None = None
    line_items: Annotated[list[LineItemIn], Field(min_length=1, max_length=200)]
    tax_amount: Cents = 0
    memo: Annotated[str, StringConstraints(max_length=2000)] | None = None


class LineItemOut(BaseModel):
    description: str
    quantity: int
    unit_amount: int
    amount: int


class InvoiceOut(BaseModel):
    id: str
    number: str
    status: str
    currency: str
    customer_id: str | None
    subtotal: int
    tax_amount: int
    total: int
    amount_paid: int
    amount_refunded: int
    amount_due: int
    clover_order_id: str | None
    memo: str | None
    line_items: list[LineItemOut]
    created_at: UtcDateTime


class PayIn(_In):
    """Pay with a one-time ``clv_`` token, a card on file, or record cash / a check."""

    token: (
        Annotated[str, StringConstraints(pattern=r"^clv_[A-Za-z0-9_]+$", max_length=64)] | None
    ) = None
    card_on_file_id: str | None = None
    tender: Literal["cash", "check"] | None = None
    amount: PositiveCents | None = None
    tip_amount: Cents = 0
    initiator: Literal["CARDHOLDER", "MERCHANT"] = "CARDHOLDER"


#: How a refund or void of a payment taken on a terminal reaches Clover: on the
#: ``terminal`` (the default) or through Clover's ``rest`` API at once, without it.
Via = Annotated[
    Literal["terminal", "rest"] | None,
    Field(
        description="A payment taken on a terminal: `terminal` (default) refunds it on the "
        "device; `rest` refunds it at once through Clover's REST API, without the terminal "
        "(voids are device-only). A payment taken online is always refunded through REST."
    ),
]


class RefundIn(_In):
    amount: PositiveCents | None = None
    reason: Literal["requested_by_customer", "duplicate", "fraudulent"] | None = None
    via: Via = None


class PaymentOut(BaseModel):
    id: str
    invoice_id: str | None
    attempt_id: str
    clover_charge_id: str
    amount: int
    tip_amount: int
    amount_refunded: int
    currency: str
    tender: str
    card_brand: str | None
    card_last4: str | None
    created_at: UtcDateTime
    #: set when the payment was voided (it no longer counts towards its invoice)
    voided_at: UtcDateTime | None = None


class AttemptOut(BaseModel):
    id: str
    kind: str
    state: str
    amount: int
    tip_amount: int
    currency: str
    invoice_id: str | None
    payment_id: str | None
    clover_charge_id: str | None
    clover_refund_id: str | None
    failure_code: str | None
    failure_message: str | None
    next_check_at: UtcDateTime | None
    created_at: UtcDateTime
    payment: PaymentOut | None = None
    invoice: InvoiceOut | None = None


class AuditEntryOut(BaseModel):
    id: int
    actor: str
    action: str
    entity_type: str
    entity_id: str
    from_state: str | None
    to_state: str | None
    reason: str | None
    data: dict[str, Any] | None
    created_at: UtcDateTime


class FieldErrorOut(BaseModel):
    field: str | None
    message: str


class ErrorDetailOut(BaseModel):
    type: str
    code: str
    message: str
    #: The offending field (dotted path into the body, or a parameter's name), or null.
    field: str | None
    #: Validation errors (422) only: every field that was refused.
    details: list[FieldErrorOut] | SkipJsonSchema[None] = None


class ErrorOut(BaseModel):
    """The one error shape of the API (``api/errors.py``)."""

    error: ErrorDetailOut


_ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "refused (error shape, `invalid_request_error`): a body that cannot be read, an "
    "`Idempotency-Key` that is empty or too long, or a request refused by name in `field`",
    401: "missing or unknown API key (error shape, `authentication_error`)",
    402: "Clover declined or refused it (error shape, with the attempt)",
    404: "not found (error shape, `not_found_error`)",
    409: "conflict (error shape, `conflict_error`): the object's state does not allow it, "
    "or the `Idempotency-Key` was used for another request or its request is still running",
    422: "invalid request: the field is named in `field`, all of them in `details` "
    "(error shape, `invalid_request_error`)",
    502: "Clover refused or failed the call (error shape, `api_error`)",
}


#: The 409 of a route that moves money (an attempt): what it can mean there.
ATTEMPT_CONFLICT = (
    "another attempt is unresolved, or `merchant_reconnect_required`: nothing was sent, the "
    "merchant must connect to Clover again; or the `Idempotency-Key` was used for another "
    "request or its request is still running (error shape, `conflict_error`)"
)


def error_responses(*statuses: int | tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route, a router or an ``include_router``: these statuses answer
    in the one error shape; ``(status, description)`` says what it means on that route. A
    422 here replaces FastAPI's own validation-error schema, which the API never sends."""
    out: dict[int | str, dict[str, Any]] = {}
    for entry in statuses:
        status, description = entry if isinstance(entry, tuple) else (entry, None)
        out[status] = {
            "model": ErrorOut,
            "description": description or _ERROR_DESCRIPTIONS[status],
        }
    return out
