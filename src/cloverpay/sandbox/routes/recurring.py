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

The handlers live in ``_recurring_plans`` and ``_recurring_subscriptions``; the billing
run, the body fields and the lookups they share in ``_recurring_common``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .._auth import state_of
from .._http import json_body, json_response
from .._recurring import RecurringStore
from .._state import SandboxState
from ._recurring_common import _int, run_billing
from ._recurring_plans import plan_create, plan_delete, plan_get, plan_update, plans_list
from ._recurring_subscriptions import (
    plan_subscriptions,
    subscription_cancel,
    subscription_create,
    subscription_get,
    subscription_update,
    subscriptions_list,
)
from ._web import api_error

__all__ = ["routes", "run_billing", "setup"]


def _on_clock_advance(state: SandboxState) -> None:
    run_billing(state)


def setup(state: SandboxState) -> None:
    """Bill due subscriptions whenever the sandbox clock is advanced."""
    state.on_clock_advance(_on_clock_advance)


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
