"""Recurring plans and subscriptions (spec §10). Bearer + ``X-Clover-Merchant-Id``.

=================================================  =======================================
``GET/POST /recurring/v1/plans``                      list (bare array [G]) / create
``GET/PUT/DELETE /recurring/v1/plans/{planId}``       get / edit / delete
``GET/POST /recurring/v1/plans/{planId}/subscriptions``  list / create under a plan
``GET /recurring/v1/subscriptions``                   all subscriptions, a bare array
``GET/PUT/DELETE /recurring/v1/subscriptions/{id}``   get / edit / cancel
``POST /_sandbox/recurring/run``                      bill what is due now
``GET  /_sandbox/recurring/invoices``                 every invoice and its attempts
``GET/POST /_sandbox/recurring/settings``             ``retry_interval_s`` (1 day [G]),
                                                      ``max_consecutive_failures`` (5)
=================================================  =======================================

Billing runs when the sandbox clock advances, when a subscription is created (a start
date in the past or today bills at once), and on ``/_sandbox/recurring/run``. Each run is
:func:`run_billing`, i.e. :func:`.._recurring.run_due_billing` charging the customer's
card on file through the Ecommerce charge logic.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .._auth import state_of
from .._errors import SandboxError
from .._http import json_body, json_response
from .._recurring import (
    INTERVALS,
    BillingAttempt,
    BillingOutcome,
    Invoice,
    Plan,
    RecurringError,
    RecurringStore,
    Subscription,
    parse_time,
    run_due_billing,
)
from .._state import SandboxState
from ._bridge import charge_customer, customer_exists
from ._web import api_error, require_merchant

__all__ = ["routes", "run_billing", "setup"]


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


def _on_clock_advance(state: SandboxState) -> None:
    run_billing(state)


def setup(state: SandboxState) -> None:
    """Bill due subscriptions whenever the sandbox clock is advanced."""
    state.on_clock_advance(_on_clock_advance)


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


# -- plans -------------------------------------------------------------------------------


async def plans_list(request: Request) -> Response:
    state = state_of(request)
    merchant = require_merchant(request)
    store = state.domain(RecurringStore)
    return json_response(
        [p.to_json() for p in store.plans.values() if p.merchant_id == merchant.merchant_id]
    )


async def plan_create(request: Request) -> Response:
    state = state_of(request)
    merchant = require_merchant(request)
    body = json_body(request)
    name = _opt_str(body, "name")
    if not name or not name.strip():
        raise api_error(400, "name is required")
    now = state.clock.now_ms()
    plan = Plan(
        id=state.ids.clover_id(),
        merchant_id=merchant.merchant_id,
        app_id=merchant.app_id,
        name=name,
        amount=_int(body, "amount"),
        interval=_interval(body),
        interval_count=_int(body, "intervalCount", default=1, minimum=1),
        note=_opt_str(body, "note"),
        active=_bool(body, "active", True),
        created_ms=now,
        modified_ms=now,
    )
    with state.lock:
        state.domain(RecurringStore).plans[plan.id] = plan
    return json_response(plan.to_json())


def _plan(request: Request) -> tuple[SandboxState, RecurringStore, Plan]:
    state = state_of(request)
    merchant = require_merchant(request)
    store = state.domain(RecurringStore)
    try:
        return state, store, store.plan(merchant.merchant_id, request.path_params["planId"])
    except RecurringError as exc:
        raise _err(exc) from None


async def plan_get(request: Request) -> Response:
    return json_response(_plan(request)[2].to_json())


async def plan_update(request: Request) -> Response:
    state, _, plan = _plan(request)
    body = json_body(request)
    allowed = {"name", "amount", "note", "active", "interval", "intervalCount"}
    unknown = sorted(set(body) - allowed - {"id", "object"})
    if unknown:
        raise api_error(400, f"{unknown[0]} cannot be edited on a plan")
    with state.lock:
        if "name" in body:
            name = _opt_str(body, "name")
            if not name:
                raise api_error(400, "name must not be empty")
            plan.name = name
        if "amount" in body:
            plan.amount = _int(body, "amount")
        if "note" in body:
            plan.note = _opt_str(body, "note")
        if "active" in body:
            plan.active = _bool(body, "active", plan.active)
        if "interval" in body:
            plan.interval = _interval(body)
        if "intervalCount" in body:
            plan.interval_count = _int(body, "intervalCount", minimum=1)
        plan.modified_ms = state.clock.now_ms()
    return json_response(plan.to_json())


async def plan_delete(request: Request) -> Response:
    state, store, plan = _plan(request)
    with state.lock:
        if any(s.plan_id == plan.id and s.active for s in store.subscriptions.values()):
            raise api_error(400, f"plan {plan.id} has active subscriptions; cancel them first")
        del store.plans[plan.id]
    return json_response({"id": plan.id, "deleted": True})


# -- subscriptions -----------------------------------------------------------------------


async def plan_subscriptions(request: Request) -> Response:
    _, store, plan = _plan(request)
    return json_response(
        [s.to_json(plan) for s in store.subscriptions.values() if s.plan_id == plan.id]
    )


async def subscription_create(request: Request) -> Response:
    state, store, plan = _plan(request)
    body = json_body(request)
    customer_id = _opt_str(body, "customerId")
    if not customer_id:
        raise api_error(400, "customerId is required")
    if body.get("collectionMethod") != "CHARGE_AUTOMATICALLY":
        raise api_error(400, "collectionMethod is required and must be CHARGE_AUTOMATICALLY")
    if not plan.active:
        raise api_error(400, f"plan {plan.id} is not active")
    if not customer_exists(state, plan.merchant_id, customer_id):
        raise api_error(400, f"customerId {customer_id} is not a customer of this merchant")
    now = state.clock.now_ms()
    try:
        start = parse_time(body["startDate"], "startDate") if body.get("startDate") else now
        end = parse_time(body["endDate"], "endDate") if body.get("endDate") else None
    except RecurringError as exc:
        raise _err(exc) from None
    if end is not None and end < start:
        raise api_error(400, "endDate must be after startDate")
    taxes = body.get("taxRateUuids", [])
    if not isinstance(taxes, list) or not all(isinstance(t, str) for t in taxes):
        raise api_error(400, "taxRateUuids must be a list of strings")
    descriptor = body.get("softDescriptor")
    if descriptor is not None and not isinstance(descriptor, dict):
        raise api_error(400, "softDescriptor must be an object")
    sub = Subscription(
        id=state.ids.clover_id(),
        merchant_id=plan.merchant_id,
        plan_id=plan.id,
        customer_id=customer_id,
        amount=_int(body, "amount", default=plan.amount),
        tip_amount=_int(body, "tipAmount", default=0),
        start_ms=start,
        end_ms=end,
        note=_opt_str(body, "note"),
        created_ms=now,
        modified_ms=now,
        active=_bool(body, "active", True),
        tax_rate_uuids=list(taxes),
        soft_descriptor=descriptor,
    )
    with state.lock:
        store.subscriptions[sub.id] = sub
    run_billing(state)
    return json_response(sub.to_json(plan))


async def subscriptions_list(request: Request) -> Response:
    state = state_of(request)
    merchant = require_merchant(request)
    store = state.domain(RecurringStore)
    return json_response(
        [
            s.to_json(store.plans.get(s.plan_id))
            for s in store.subscriptions.values()
            if s.merchant_id == merchant.merchant_id
        ]
    )


def _sub(request: Request) -> tuple[SandboxState, RecurringStore, Subscription]:
    state = state_of(request)
    merchant = require_merchant(request)
    store = state.domain(RecurringStore)
    try:
        sub = store.subscription(merchant.merchant_id, request.path_params["subscriptionId"])
    except RecurringError as exc:
        raise _err(exc) from None
    return state, store, sub


async def subscription_get(request: Request) -> Response:
    _, store, sub = _sub(request)
    return json_response(sub.to_json(store.plans.get(sub.plan_id)))


_EDITABLE = {"active", "amount", "note", "taxRateUuids", "startDate", "endDate", "tipAmount"}


async def subscription_update(request: Request) -> Response:
    state, store, sub = _sub(request)
    body = json_body(request)
    unknown = sorted(set(body) - _EDITABLE - {"id", "object"})
    if unknown:
        raise api_error(400, f"{unknown[0]} cannot be edited on a subscription")
    now = state.clock.now_ms()
    with state.lock:
        try:
            if "startDate" in body:
                start = parse_time(body["startDate"], "startDate")
                if start <= now or sub.next_period > 0:
                    raise api_error(
                        400, "startDate can only move to a future date before the first bill"
                    )
                sub.start_ms = start
            if "endDate" in body:
                sub.end_ms = parse_time(body["endDate"], "endDate") if body["endDate"] else None
        except RecurringError as exc:
            raise _err(exc) from None
        if "amount" in body:
            sub.amount = _int(body, "amount")
        if "tipAmount" in body:
            sub.tip_amount = _int(body, "tipAmount")
        if "note" in body:
            sub.note = _opt_str(body, "note")
        if "taxRateUuids" in body:
            taxes = body["taxRateUuids"]
            if not isinstance(taxes, list) or not all(isinstance(t, str) for t in taxes):
                raise api_error(400, "taxRateUuids must be a list of strings")
            sub.tax_rate_uuids = list(taxes)
        if "active" in body:
            active = _bool(body, "active", sub.active)
            if active and not sub.active:
                store.reactivate(sub)
            elif not active:
                sub.active = False
                sub.deactivated_reason = "deactivated by the merchant"
        sub.modified_ms = now
    return json_response(sub.to_json(store.plans.get(sub.plan_id)))


async def subscription_cancel(request: Request) -> Response:
    state, store, sub = _sub(request)
    with state.lock:
        sub.active = False
        sub.deactivated_reason = "canceled"
        sub.modified_ms = state.clock.now_ms()
    return json_response(sub.to_json(store.plans.get(sub.plan_id)))


# -- control -----------------------------------------------------------------------------


async def run_now(request: Request) -> Response:
    touched = run_billing(state_of(request))
    return json_response({"invoices": [i.to_json() for i in touched]})


async def invoices(request: Request) -> Response:
    store = state_of(request).domain(RecurringStore)
    return json_response({"invoices": [i.to_json() for i in store.invoices.values()]})


def _settings_json(store: RecurringStore) -> dict[str, int]:
    return {
        "retry_interval_s": store.retry_interval_ms // 1000,
        "max_consecutive_failures": store.max_consecutive_failures,
    }


async def settings_get(request: Request) -> Response:
    return json_response(_settings_json(state_of(request).domain(RecurringStore)))


async def settings_set(request: Request) -> Response:
    state = state_of(request)
    store = state.domain(RecurringStore)
    body = json_body(request)
    for name in body:
        if name not in ("retry_interval_s", "max_consecutive_failures"):
            raise api_error(400, f"{name} is not a recurring setting")
        _int(body, name, minimum=1)
    with state.lock:
        if "retry_interval_s" in body:
            store.retry_interval_ms = body["retry_interval_s"] * 1000
        if "max_consecutive_failures" in body:
            store.max_consecutive_failures = body["max_consecutive_failures"]
    return json_response(_settings_json(store))


routes: list[BaseRoute] = [
    Route("/recurring/v1/plans", plans_list, methods=["GET"]),
    Route("/recurring/v1/plans", plan_create, methods=["POST"]),
    Route("/recurring/v1/plans/{planId}", plan_get, methods=["GET"]),
    Route("/recurring/v1/plans/{planId}", plan_update, methods=["PUT"]),
    Route("/recurring/v1/plans/{planId}", plan_delete, methods=["DELETE"]),
    Route("/recurring/v1/plans/{planId}/subscriptions", plan_subscriptions, methods=["GET"]),
    Route("/recurring/v1/plans/{planId}/subscriptions", subscription_create, methods=["POST"]),
    Route("/recurring/v1/subscriptions", subscriptions_list, methods=["GET"]),
    Route("/recurring/v1/subscriptions/{subscriptionId}", subscription_get, methods=["GET"]),
    Route("/recurring/v1/subscriptions/{subscriptionId}", subscription_update, methods=["PUT"]),
    Route("/recurring/v1/subscriptions/{subscriptionId}", subscription_cancel, methods=["DELETE"]),
    Route("/_sandbox/recurring/run", run_now, methods=["POST"]),
    Route("/_sandbox/recurring/invoices", invoices, methods=["GET"]),
    Route("/_sandbox/recurring/settings", settings_get, methods=["GET"]),
    Route("/_sandbox/recurring/settings", settings_set, methods=["POST"]),
]
