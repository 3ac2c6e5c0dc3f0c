"""The one place where Hosted Checkout and Recurring reach the Ecommerce charge logic.

Both must charge exactly the way ``POST /v1/tokens`` + ``POST /v1/charges`` do, so they
call the Ecommerce domain functions instead of re-implementing charging:

* :func:`charge_card` tokenizes a card typed on the hosted page and charges the token;
* :func:`charge_customer` charges a customer's card on file (subscriptions);
* :func:`customer_exists` checks a subscription's ``customerId``.

A decline is a :class:`ChargeResult` with ``succeeded=False``; a card refused by the
tokenizer (bad number, expired, ...) raises :class:`~.._errors.SandboxError` naming the
field. Callers hold ``state.lock``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .._cards import outcome_for
from .._errors import SandboxError
from .._payments import execute_charge, parse_charge, resolve_source
from .._records import CardToken
from .._state import Merchant, SandboxState
from .._validate import opt_str
from .tokens import _brand, _cvv, _expiry, _pan

__all__ = ["ChargeResult", "charge_card", "charge_customer", "customer_exists", "tokenize_card"]

#: Subscription charges are merchant-initiated, scheduled, recurring (spec §6.1).
_RECURRING_CREDENTIALS = {
    "sequence": "SUBSEQUENT",
    "initiator": "MERCHANT",
    "is_scheduled": True,
    "bill_pay_indicator": "RECURRING",
}


@dataclass(frozen=True)
class ChargeResult:
    succeeded: bool
    charge_id: str | None
    message: str | None = None
    code: str | None = None


def tokenize_card(state: SandboxState, merchant: Merchant, card: dict[str, Any]) -> CardToken:
    """What ``POST /v1/tokens`` does with ``{"card": card}``: the same checks in the same
    order (the tokenizer's own validators), then a one-off token. The PAN is dropped."""
    pan = _pan(card)
    brand = _brand(card, pan)
    now = datetime.fromtimestamp(state.clock.now(), UTC)
    exp_month, exp_year = _expiry(card, now.year, now.month)
    _cvv(card)
    name = opt_str(card, "name", max_len=255, param="card.name")
    zip_code = opt_str(card, "address_zip", max_len=20, param="card.address_zip")
    outcome = outcome_for(pan)
    with state.lock:
        token = CardToken(
            id=state.ids.token(),
            merchant_id=merchant.merchant_id,
            created_ms=state.clock.now_ms(),
            brand=brand,
            first6=pan[:6],
            last4=pan[-4:],
            exp_month=exp_month,
            exp_year=exp_year,
            decline_code=outcome.decline_code,
            decline_message=None if outcome.approved else outcome.message,
            name=name,
            address_zip=zip_code,
            cvc_check=outcome.cvc_check,
        )
        state.ecommerce.tokens.add(token.id, token, token.created_ms)
    del pan
    return token


def _charge(state: SandboxState, merchant: Merchant, body: dict[str, Any]) -> ChargeResult:
    req = parse_charge(body)
    with state.lock:
        resolved = resolve_source(state, merchant, req)
        charge = execute_charge(state, merchant, req, resolved)
    if charge.status == "succeeded":
        return ChargeResult(True, charge.id)
    return ChargeResult(
        False,
        charge.id,
        charge.failure_message or "The card was declined.",
        charge.failure_code or "card_declined",
    )


def charge_card(
    state: SandboxState,
    merchant: Merchant,
    *,
    card: dict[str, Any],
    amount: int,
    tip_amount: int,
    tax_amount: int,
    description: str,
    metadata: dict[str, Any] | None = None,
) -> ChargeResult:
    """Tokenize ``card`` and charge it once (Hosted Checkout). Raises SandboxError when
    the tokenizer refuses the card; returns a failed result on a decline."""
    token = tokenize_card(state, merchant, card)
    body: dict[str, Any] = {
        "amount": amount,
        "currency": "usd",
        "source": token.id,
        "tip_amount": tip_amount,
        "tax_amount": tax_amount,
        "description": description,
        "ecomind": "ecom",
    }
    if metadata:
        body["metadata"] = metadata
    return _charge(state, merchant, body)


def charge_customer(
    state: SandboxState,
    merchant: Merchant,
    *,
    customer_id: str,
    amount: int,
    tip_amount: int,
    description: str,
    metadata: dict[str, Any] | None = None,
) -> ChargeResult:
    """Charge a customer's card on file (Recurring). A missing card on file or a decline
    is a failed result (it counts as a failed invoice attempt), never an exception."""
    body: dict[str, Any] = {
        "amount": amount,
        "currency": "usd",
        "source": customer_id,
        "tip_amount": tip_amount,
        "description": description,
        "stored_credentials": dict(_RECURRING_CREDENTIALS),
    }
    if metadata:
        body["metadata"] = metadata
    try:
        return _charge(state, merchant, body)
    except SandboxError as exc:
        return ChargeResult(False, None, exc.message, exc.code)


def customer_exists(state: SandboxState, merchant_id: str, customer_id: str) -> bool:
    return state.ecommerce.customers.get(customer_id, merchant_id) is not None
