"""Hosted Checkout sessions (spec §11): validation, totals, the session state table.

A session is created by ``POST /invoicingcheckoutservice/v1/checkouts`` and paid once on
the hosted page ``/checkout/{id}``. Sessions live 15 minutes (``ttl_ms``) on the sandbox's
controllable clock.

State table (one function, ``CheckoutSession.transition``, applies it):

    OPEN    -> PAYING   a payment attempt starts (only one at a time)
    PAYING  -> PAID     the charge succeeded (final)
    PAYING  -> OPEN     the charge was declined; the buyer may try another card
    OPEN    -> EXPIRED  15 minutes passed without payment (final)

Anything else is refused, so a session is never paid twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "CHECKOUT_TTL_MS",
    "CheckoutError",
    "CheckoutSession",
    "CheckoutState",
    "CheckoutStore",
    "LineItem",
    "parse_checkout_request",
]

CHECKOUT_TTL_MS = 15 * 60 * 1000
MAX_NAME_LENGTH = 127  # names of 127 characters or more are refused (spec §11.1, [C1])
_TAX_RATE_SCALE = 10_000_000  # 10 % is 1000000


class CheckoutError(Exception):
    """Invalid request; the message names the field."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class CheckoutState(StrEnum):
    OPEN = "OPEN"
    PAYING = "PAYING"
    PAID = "PAID"
    EXPIRED = "EXPIRED"


_TRANSITIONS: frozenset[tuple[CheckoutState, CheckoutState]] = frozenset(
    {
        (CheckoutState.OPEN, CheckoutState.PAYING),
        (CheckoutState.PAYING, CheckoutState.PAID),
        (CheckoutState.PAYING, CheckoutState.OPEN),
        (CheckoutState.OPEN, CheckoutState.EXPIRED),
    }
)


@dataclass(frozen=True)
class LineItem:
    name: str
    price: int
    unit_qty: int
    note: str | None
    tax_rate: int  # summed rates, scale 10_000_000 = 100 %

    @property
    def subtotal(self) -> int:
        return self.price * self.unit_qty

    @property
    def tax(self) -> int:
        return (self.subtotal * self.tax_rate + _TAX_RATE_SCALE // 2) // _TAX_RATE_SCALE


def _int(value: object, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CheckoutError(f"{where} must be an integer")
    if value < minimum:
        raise CheckoutError(f"{where} must be >= {minimum}")
    return value


def _rates(value: object, where: str) -> int:
    if value is None:
        return 0
    if not isinstance(value, list):
        raise CheckoutError(f"{where} must be a list")
    total = 0
    for i, rate in enumerate(value):
        if not isinstance(rate, dict):
            raise CheckoutError(f"{where}[{i}] must be an object")
        total += _int(rate.get("rate", 0), f"{where}[{i}].rate", 0)
    return total


def parse_checkout_request(body: object) -> tuple[list[LineItem], dict[str, Any]]:
    """Validate a create-session body; return line items and the cleaned extras."""
    if not isinstance(body, dict):
        raise CheckoutError("request body must be a JSON object")
    cart = body.get("shoppingCart")
    if not isinstance(cart, dict):
        raise CheckoutError("shoppingCart is required")
    items = cart.get("lineItems")
    if not isinstance(items, list) or not items:
        raise CheckoutError("shoppingCart.lineItems must contain at least one line item")
    default_rate = _rates(cart.get("defaultTaxRates"), "shoppingCart.defaultTaxRates")
    parsed: list[LineItem] = []
    for i, raw in enumerate(items):
        where = f"shoppingCart.lineItems[{i}]"
        if not isinstance(raw, dict):
            raise CheckoutError(f"{where} must be an object")
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            raise CheckoutError(f"{where}.name is required")
        if len(name) >= MAX_NAME_LENGTH:
            raise CheckoutError(f"{where}.name must be shorter than {MAX_NAME_LENGTH} characters")
        price = _int(raw.get("price"), f"{where}.price", 0)
        qty = _int(raw.get("unitQty", 1), f"{where}.unitQty", 1)
        note = raw.get("note")
        if note is not None and not isinstance(note, str):
            raise CheckoutError(f"{where}.note must be a string")
        rate = _rates(raw.get("taxRates"), f"{where}.taxRates") if "taxRates" in raw else None
        parsed.append(LineItem(name, price, qty, note, default_rate if rate is None else rate))
    customer = body.get("customer", {})
    if not isinstance(customer, dict):
        raise CheckoutError("customer must be an object")
    redirects = body.get("redirectUrls", {})
    if not isinstance(redirects, dict):
        raise CheckoutError("redirectUrls must be an object")
    for key in ("success", "failure", "cancel"):
        url = redirects.get(key)
        if url is not None and (not isinstance(url, str) or "://" not in url):
            raise CheckoutError(f"redirectUrls.{key} must be an absolute URL")
    tips = body.get("tips", {})
    tips_enabled = isinstance(tips, dict) and bool(tips.get("enabled"))
    extras = {
        "customer": customer,
        "redirectUrls": redirects,
        "tipsEnabled": tips_enabled,
        "externalReferenceId": body.get("externalReferenceId"),
        "note": body.get("note"),
    }
    return parsed, extras


@dataclass
class CheckoutSession:
    id: str
    merchant_id: str
    created_ms: int
    expires_ms: int
    line_items: list[LineItem]
    customer: dict[str, Any]
    redirect_urls: dict[str, str]
    tips_enabled: bool = False
    external_reference_id: str | None = None
    note: str | None = None
    state: CheckoutState = CheckoutState.OPEN
    charge_id: str | None = None
    payment_id: str | None = None
    paid_ms: int | None = None
    tip_amount: int = 0
    last_decline: str | None = None
    attempts: int = 0

    @property
    def subtotal(self) -> int:
        return sum(item.subtotal for item in self.line_items)

    @property
    def tax(self) -> int:
        return sum(item.tax for item in self.line_items)

    @property
    def total(self) -> int:
        return self.subtotal + self.tax

    def refresh(self, now_ms: int) -> CheckoutState:
        """Expire an unpaid session whose 15 minutes are up; return the current state."""
        if self.state is CheckoutState.OPEN and now_ms >= self.expires_ms:
            self.transition(CheckoutState.EXPIRED)
        return self.state

    def transition(self, to: CheckoutState) -> None:
        if (self.state, to) not in _TRANSITIONS:
            raise CheckoutError(f"checkout session cannot go from {self.state} to {to}", 409)
        self.state = to

    def redirect_for(self, key: str) -> str | None:
        url = self.redirect_urls.get(key)
        if url is None:
            return None
        return url.replace("{CHECKOUT_SESSION_ID}", self.id)

    def created_json(self, href: str) -> dict[str, Any]:
        return {
            "href": href,
            "checkoutSessionId": self.id,
            "createdTime": self.created_ms,
            "expirationTime": self.expires_ms,
        }

    def status_json(self, href: str) -> dict[str, Any]:
        """Shape of ``GET …/checkouts/{id}``; Clover's is unpublished ([G])."""
        return {
            **self.created_json(href),
            "status": self.state.value,
            "merchantId": self.merchant_id,
            "amount": self.total,
            "tipAmount": self.tip_amount,
            "paymentId": self.payment_id,
            "chargeId": self.charge_id,
            "paidTime": self.paid_ms,
            "externalReferenceId": self.external_reference_id,
        }


@dataclass
class CheckoutStore:
    sessions: dict[str, CheckoutSession] = field(default_factory=dict)
    ttl_ms: int = CHECKOUT_TTL_MS

    def create(self, merchant_id: str, body: object, now_ms: int) -> CheckoutSession:
        items, extras = parse_checkout_request(body)
        session = CheckoutSession(
            id=str(uuid.uuid4()),
            merchant_id=merchant_id,
            created_ms=now_ms,
            expires_ms=now_ms + self.ttl_ms,
            line_items=items,
            customer=extras["customer"],
            redirect_urls=extras["redirectUrls"],
            tips_enabled=extras["tipsEnabled"],
            external_reference_id=extras["externalReferenceId"],
            note=extras["note"],
        )
        if session.total < 1:
            raise CheckoutError("shoppingCart total must be at least 1 cent")
        self.sessions[session.id] = session
        return session

    def get(self, session_id: str) -> CheckoutSession:
        session = self.sessions.get(session_id)
        if session is None:
            raise CheckoutError(f"checkout session {session_id} not found", 404)
        return session
