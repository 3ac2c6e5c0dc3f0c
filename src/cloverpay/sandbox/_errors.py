"""Errors in Clover's own shapes, and one helper per documented error code.

Routes raise :class:`SandboxError`; the app renders it according to the route family:

* **Ecommerce** (``/v1/...``, ``/pakms/...``, token host, ``/_sandbox``): Stripe-like
  nested body ``{"error": {"type", "code", "message", "param"?, "decline_code"?,
  "charge"?}}`` (spec §13.2, [C2]) plus the same text as a top-level ``"message"``.
  Clover's own Node SDK (``clover-ecomm-sdk`` 1.0.0, ``lib/net/Resources.js``) treats
  a response as an error only when it has a top-level ``message`` and then builds the
  error from ``response.error``, and the official WooCommerce plugin reads
  ``error.code`` with a fallback to ``message``: Clover's bodies carry both. Switch off
  with ``SandboxConfig.ecommerce_error_message = False`` for the bare nested shape.
* **Platform** (``/v3/...``, ``/oauth/...``, ``/invoicingcheckoutservice/...``,
  ``/recurring/...``): flat ``{"message": "..."}`` (spec §13.2, [C2]).

401 responses are flat ``{"message": "401 Unauthorized"}`` on every family by default:
the official WooCommerce plugin falls back to a top-level ``message`` for bare 401
bodies, which is what Clover's gateway sends before the Ecommerce service sees the
request. The Ecommerce nested variant (``authentication_error`` / ``invalid_key``) is
one switch away (``SandboxConfig.ecommerce_auth_error_shape = "nested"``) because the
exact 401 body is single-source ([G]).

Validation errors always name the field in ``param`` and in the message.

Exception tree::

    Exception
     └── SandboxError            an HTTP error response in Clover's shape
"""

from __future__ import annotations

import json
from typing import Any, Literal

__all__ = [
    "PLATFORM_PREFIXES",
    "ErrorFamily",
    "SandboxError",
    "amount_too_large",
    "card_declined",
    "card_on_file_missing",
    "charge_already_captured",
    "charge_already_refunded",
    "email_invalid",
    "error_family",
    "expired_card",
    "idempotency_error",
    "incorrect_cvc",
    "incorrect_number",
    "invalid_card_type",
    "invalid_charge_amount",
    "invalid_cvc",
    "invalid_expiry_month",
    "invalid_expiry_year",
    "invalid_number",
    "invalid_param",
    "invalid_request",
    "invalid_tax_amount",
    "invalid_tip_amount",
    "missing",
    "missing_param",
    "order_already_paid",
    "processing_error",
    "rate_limited",
    "resource_missing",
    "token_already_used",
    "unauthorized",
]

ErrorFamily = Literal["ecommerce", "platform"]

#: Path prefixes whose errors use Clover's flat Platform shape.
PLATFORM_PREFIXES: tuple[str, ...] = (
    "/v3/",
    "/oauth/",
    "/invoicingcheckoutservice/",
    "/recurring/",
)


def error_family(path: str) -> ErrorFamily:
    """Which error shape a path uses."""
    return "platform" if path.startswith(PLATFORM_PREFIXES) else "ecommerce"


class SandboxError(Exception):
    """An HTTP error in Clover's shape. ``str()`` never contains secrets (callers'
    messages name fields, not values)."""

    def __init__(
        self,
        status: int,
        type: str,
        code: str,
        message: str,
        param: str | None = None,
        decline_code: str | None = None,
        charge: str | None = None,
        headers: dict[str, str] | None = None,
        flat: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.code = code
        self.message = message
        self.param = param
        self.decline_code = decline_code
        self.charge = charge
        self.headers = dict(headers or {})
        #: Render as ``{"message": ...}`` whatever the family (401 bodies).
        self.flat = flat

    def body(self, family: ErrorFamily, top_level_message: bool = True) -> dict[str, Any]:
        """The JSON body for ``family`` (see the module docstring for the shapes)."""
        if self.flat or family == "platform":
            return {"message": self.message}
        err: dict[str, Any] = {"type": self.type, "code": self.code, "message": self.message}
        if self.param is not None:
            err["param"] = self.param
        if self.decline_code is not None:
            err["decline_code"] = self.decline_code
        if self.charge is not None:
            err["charge"] = self.charge
        if top_level_message:
            return {"message": self.message, "error": err}
        return {"error": err}

    def render(
        self, family: ErrorFamily, top_level_message: bool = True
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Status, raw ASGI headers and body bytes."""
        payload = json.dumps(self.body(family, top_level_message), separators=(",", ":")).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ]
        headers.extend((k.lower().encode(), v.encode()) for k, v in self.headers.items())
        return self.status, headers, payload

    def __repr__(self) -> str:
        return f"SandboxError({self.status}, {self.type!r}, {self.code!r}, {self.message!r})"


# -- generic -------------------------------------------------------------------------


def missing_param(param: str, what: str = "parameter") -> SandboxError:
    return SandboxError(
        400,
        "invalid_request_error",
        "parameter_missing",
        f"Missing required {what}: {param}",
        param,
    )


def invalid_param(param: str, message: str, code: str = "parameter_invalid") -> SandboxError:
    return SandboxError(400, "invalid_request_error", code, f"Invalid {param}: {message}", param)


def invalid_request(message: str, param: str | None = None) -> SandboxError:
    return SandboxError(400, "invalid_request_error", "invalid_request", message, param)


def resource_missing(kind: str, object_id: str, param: str = "id") -> SandboxError:
    return SandboxError(
        404, "invalid_request_error", "resource_missing", f"No such {kind}: '{object_id}'", param
    )


def unauthorized(nested: bool = False, message: str = "401 Unauthorized") -> SandboxError:
    return SandboxError(401, "authentication_error", "invalid_key", message, flat=not nested)


def idempotency_error(message: str, status: int = 400) -> SandboxError:
    return SandboxError(status, "idempotency_error", "idempotency_key_in_use", message)


def rate_limited(retry_after: int, headers: dict[str, str] | None = None) -> SandboxError:
    h = {"Retry-After": str(retry_after)}
    h.update(headers or {})
    return SandboxError(
        429, "rate_limit_error", "rate_limit", "Too many requests; retry later.", headers=h
    )


def processing_error(
    message: str = "An error occurred while processing the request.", status: int = 500
) -> SandboxError:
    return SandboxError(status, "api_error", "processing_error", message)


# -- amounts / money -----------------------------------------------------------------


def amount_too_large(param: str = "amount", message: str | None = None) -> SandboxError:
    return SandboxError(
        400,
        "invalid_request_error",
        "amount_too_large",
        message or f"{param} is too large (maximum is 99999999 cents)",
        param,
    )


def invalid_tip_amount(message: str = "tip_amount must be a non-negative integer") -> SandboxError:
    return SandboxError(400, "invalid_request_error", "invalid_tip_amount", message, "tip_amount")


def invalid_tax_amount(message: str = "tax_amount must be a non-negative integer") -> SandboxError:
    return SandboxError(400, "invalid_request_error", "invalid_tax_amount", message, "tax_amount")


def email_invalid(param: str = "receipt_email") -> SandboxError:
    return SandboxError(
        400,
        "invalid_request_error",
        "email_invalid",
        f"{param} is not a valid email address",
        param,
    )


# -- cards / tokens ------------------------------------------------------------------


def invalid_number(param: str = "card.number") -> SandboxError:
    return SandboxError(
        400, "card_error", "invalid_number", f"{param} is not a valid card number", param
    )


def invalid_expiry_month(param: str = "card.exp_month") -> SandboxError:
    return SandboxError(
        400,
        "card_error",
        "invalid_expiry_month",
        f"{param} must be a month 1-12 (1 or 2 digits)",
        param,
    )


def invalid_expiry_year(param: str = "card.exp_year") -> SandboxError:
    return SandboxError(
        400, "card_error", "invalid_expiry_year", f"{param} must be 2 or 4 digits", param
    )


def expired_card(param: str = "card.exp_year") -> SandboxError:
    return SandboxError(400, "card_error", "expired_card", "The card has expired", param)


def invalid_cvc(param: str = "card.cvv") -> SandboxError:
    return SandboxError(400, "card_error", "invalid_cvc", f"{param} must be 3 or 4 digits", param)


def incorrect_number(param: str = "card.number") -> SandboxError:
    """Older spelling of :func:`invalid_number` listed in Clover's error table."""
    return SandboxError(400, "card_error", "incorrect_number", f"{param} is incorrect", param)


def incorrect_cvc(param: str = "card.cvv") -> SandboxError:
    """Older spelling of :func:`invalid_cvc` listed in Clover's error table."""
    return SandboxError(400, "card_error", "incorrect_cvc", f"{param} is incorrect", param)


def invalid_charge_amount(
    message: str = "amount is not allowed", param: str = "amount"
) -> SandboxError:
    return SandboxError(400, "invalid_request_error", "invalid_charge_amount", message, param)


def missing(
    message: str = "The upstream token service failed", param: str | None = None
) -> SandboxError:
    """Clover's ``missing`` code: an upstream (token) failure."""
    return SandboxError(502, "api_error", "missing", message, param)


def invalid_card_type(param: str = "card.brand") -> SandboxError:
    return SandboxError(
        400, "card_error", "invalid_card_type", f"{param}: card brand is not supported", param
    )


def token_already_used(token_id: str) -> SandboxError:
    return SandboxError(
        400,
        "invalid_request_error",
        "token_already_used",
        f"Token {token_id} has already been used; card tokens are single-use",
        "source",
    )


def card_declined(
    decline_code: str, charge_id: str | None, message: str, status: int = 402
) -> SandboxError:
    return SandboxError(
        status, "card_error", "card_declined", message, decline_code=decline_code, charge=charge_id
    )


def card_on_file_missing(customer_id: str) -> SandboxError:
    return SandboxError(
        400,
        "invalid_request_error",
        "card_on_file_missing",
        f"Customer {customer_id} has no card on file",
        "source",
    )


# -- state transitions ---------------------------------------------------------------


def charge_already_captured(charge_id: str) -> SandboxError:
    return SandboxError(
        400,
        "invalid_request_error",
        "charge_already_captured",
        f"Charge {charge_id} has already been captured",
        "charge",
    )


def charge_already_refunded(charge_id: str) -> SandboxError:
    return SandboxError(
        400,
        "invalid_request_error",
        "charge_already_refunded",
        f"Charge {charge_id} has already been fully refunded",
        "charge",
    )


def order_already_paid(order_id: str) -> SandboxError:
    return SandboxError(
        400,
        "invalid_request_error",
        "order_already_paid",
        f"Order {order_id} is already paid",
        "order",
    )
