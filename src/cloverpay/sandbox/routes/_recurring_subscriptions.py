"""Recurring subscriptions: ``/recurring/v1/plans/{planId}/subscriptions`` and
``/recurring/v1/subscriptions[/{id}]`` (mounted by :mod:`.recurring`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from .._auth import state_of
from .._http import json_body, json_response
from .._recurring import RecurringError, RecurringStore, Subscription, parse_time
from ._bridge import customer_exists
from ._recurring_common import _bool, _err, _int, _opt_str, _plan, _sub, run_billing
from ._web import api_error, require_merchant

__all__ = [
    "plan_subscriptions",
    "subscription_cancel",
    "subscription_create",
    "subscription_get",
    "subscription_update",
    "subscriptions_list",
]


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
