"""Recurring plans: ``/recurring/v1/plans`` and ``/recurring/v1/plans/{planId}``
(mounted by :mod:`.recurring`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from .._auth import state_of
from .._http import json_body, json_response
from .._recurring import Plan, RecurringStore
from ._recurring_common import _bool, _int, _interval, _opt_str, _plan
from ._web import api_error, require_merchant

__all__ = ["plan_create", "plan_delete", "plan_get", "plan_update", "plans_list"]


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
