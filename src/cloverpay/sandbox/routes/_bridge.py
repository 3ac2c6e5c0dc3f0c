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
from typing import Any

from .._errors import SandboxError
from .._state import Merchant, SandboxState

__all__ = ["ChargeResult", "charge_card", "charge_customer", "customer_exists"]


@dataclass(frozen=True)
class ChargeResult:
    succeeded: bool
    charge_id: str | None
    message: str | None = None
    code: str | None = None


def _unavailable() -> SandboxError:
    return SandboxError(
        503, "api_error", "processing_error", "Ecommerce charges are not available in this build"
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
    external_reference_id: str | None,
    idempotency_key: str,
    client_ip: str,
) -> ChargeResult:
    raise _unavailable()


def charge_customer(
    state: SandboxState,
    merchant: Merchant,
    *,
    customer_id: str,
    amount: int,
    tip_amount: int,
    description: str,
    idempotency_key: str,
) -> ChargeResult:
    raise _unavailable()


def customer_exists(state: SandboxState, merchant_id: str, customer_id: str) -> bool:
    return state.ecommerce.customers.get(customer_id, merchant_id) is not None
