"""What the Recurring routes share: the billing run, the request-body fields and the
plan / subscription lookups (see :mod:`.recurring`)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from .._auth import state_of
from .._errors import SandboxError
from .._recurring import (
    INTERVALS,
    BillingAttempt,
    BillingOutcome,
    Invoice,
    Plan,
    RecurringError,
    RecurringStore,
    Subscription,
    run_due_billing,
)
from .._state import SandboxState
from ._bridge import charge_customer
from ._web import api_error, require_merchant

__all__ = ["run_billing"]


def run_billing(state: SandboxState) -> list[Invoice]:
    """Bill every due subscription period at the sandbox clock's now."""

    def charge(attempt: BillingAttempt) -> BillingOutcome:
        merchant = state.merchants.get(attempt.merchant_id)
        if merchant is None:
            return BillingOutcome(False, None, "merchant is gone")
        result = charge_customer(
            state,
            merchant,
            customer_id=attempt.customer_id,
            amount=attempt.amount,
            tip_amount=attempt.tip_amount,
            description=attempt.description,
            metadata={"recurringAttempt": attempt.idempotency_key},
        )
        return BillingOutcome(result.succeeded, result.charge_id, result.message)

    with state.lock:
        return run_due_billing(state.domain(RecurringStore), state.clock.now_ms(), charge)


def _err(exc: RecurringError) -> SandboxError:
    return api_error(exc.status, exc.message, "not_found" if exc.status == 404 else "invalid")


def _int(body: dict[str, Any], name: str, *, default: int | None = None, minimum: int = 0) -> int:
    value = body.get(name, default)
    if value is None:
        raise api_error(400, f"{name} is required")
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise api_error(400, f"{name} must be an integer >= {minimum}")
    return value


def _opt_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise api_error(400, f"{name} must be a string")
    return value


def _bool(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise api_error(400, f"{name} must be true or false")
    return value


def _interval(body: dict[str, Any]) -> str:
    value = body.get("interval")
    if not isinstance(value, str) or value.upper() not in INTERVALS:
        raise api_error(400, f"interval must be one of {', '.join(INTERVALS)}")
    return value.upper()


def _plan(request: Request) -> tuple[SandboxState, RecurringStore, Plan]:
    state = state_of(request)
    merchant = require_merchant(request)
    store = state.domain(RecurringStore)
    try:
        return state, store, store.plan(merchant.merchant_id, request.path_params["planId"])
    except RecurringError as exc:
        raise _err(exc) from None


def _sub(request: Request) -> tuple[SandboxState, RecurringStore, Subscription]:
    state = state_of(request)
    merchant = require_merchant(request)
    store = state.domain(RecurringStore)
    try:
        sub = store.subscription(merchant.merchant_id, request.path_params["subscriptionId"])
    except RecurringError as exc:
        raise _err(exc) from None
    return state, store, sub
