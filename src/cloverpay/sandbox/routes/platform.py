"""Platform REST v3 subset: merchant, devices, payments, orders (flat ``{"message"}`` errors).

=====================================================  =================================
``GET /v3/merchants/{mId}``                             the merchant
``GET /v3/merchants/{mId}/devices``                     its devices
``GET /v3/merchants/{mId}/payments``                    ``filter=externalPaymentId=…``,
                                                        ``filter=result=…``,
                                                        ``filter=createdTime>=…``,
                                                        ``limit`` (≤1000), ``offset``
``GET /v3/merchants/{mId}/payments/{paymentId}``        one payment
``GET /v3/merchants/{mId}/orders[/{orderId}]``          orders (``limit``, ``offset``)
``POST /_sandbox/platform/payments``                    record a card-present payment
                                                        (as an emulated terminal would):
                                                        ``{amount, externalPaymentId,
                                                        result?, tipAmount?, taxAmount?,
                                                        merchantId?, orderId?, deviceId?,
                                                        card?: {cardType, first6, last4}}``
``POST /_sandbox/platform/payments/{paymentId}/void``   void a card-present payment as
                                                        Clover's dashboard does (outside
                                                        any POS): ``{reason?, merchantId?}``;
                                                        ``result`` becomes ``VOIDED``, a
                                                        ``P:<id>`` UPDATE app webhook goes
                                                        out; 409 unless ``SUCCESS``/``AUTH``
                                                        without refunds
=====================================================  =================================

A token for another merchant, or no token, gets 401 (Clover answers 401 for missing
permissions too, never 403; spec §3.4).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .._auth import state_of
from .._http import json_body, json_response
from .._platform import PlatformStore, charge_payment_json, order_json, terminal_payment_json
from .._state import Merchant, SandboxState
from ._web import api_error, platform_merchant

__all__ = ["routes"]

_FILTER = re.compile(r"^\s*([A-Za-z.]+)\s*(>=|<=|!=|=|>|<)\s*(.*?)\s*$")


def _paging(request: Request) -> tuple[int, int]:
    def number(name: str, default: int) -> int:
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            return default
        if not raw.isdigit():
            raise api_error(400, f"{name} must be a non-negative integer")
        return int(raw)

    limit = number("limit", 100)
    if not 1 <= limit <= 1000:
        raise api_error(400, "limit must be between 1 and 1000")
    return limit, number("offset", 0)


def _filters(request: Request) -> list[tuple[str, str, str]]:
    out = []
    for raw in request.query_params.getlist("filter"):
        m = _FILTER.match(raw)
        if m is None:
            raise api_error(400, f"filter {raw!r} is not 'field<op>value'")
        out.append((m.group(1), m.group(2), m.group(3)))
    return out


def _compare(op: str, left: Any, right: Any) -> bool:
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        ">": lambda a, b: a > b,
        "<": lambda a, b: a < b,
        ">=": lambda a, b: a >= b,
        "<=": lambda a, b: a <= b,
    }
    return ops[op](left, right)


def _check(name: str, op: str, value: object) -> Callable[[dict[str, Any]], bool]:
    if isinstance(value, int):
        return lambda p: _compare(op, p.get(name) or 0, value)
    return lambda p: _compare(op, p.get(name), value)


def _predicate(filters: list[tuple[str, str, str]]) -> Callable[[dict[str, Any]], bool]:
    checks: list[Callable[[dict[str, Any]], bool]] = []
    for name, op, value in filters:
        if name in ("externalPaymentId", "result", "id"):
            if op not in ("=", "!="):
                raise api_error(400, f"filter on {name} supports = and != only")
            checks.append(_check(name, op, value))
        elif name in ("createdTime", "modifiedTime", "amount"):
            if not value.lstrip("-").isdigit():
                raise api_error(400, f"filter on {name} needs an integer value")
            checks.append(_check(name, op, int(value)))
        else:
            raise api_error(400, f"filter on {name} is not supported by the sandbox")
    return lambda p: all(check(p) for check in checks)


def _elements(request: Request, items: list[dict[str, Any]]) -> Response:
    return json_response({"elements": items, "href": str(request.url).split("?")[0]})


async def merchant_get(request: Request) -> Response:
    m = platform_merchant(request)
    return json_response(
        {
            "id": m.merchant_id,
            "name": m.name,
            "defaultCurrency": "USD",
            "createdTime": m.created_ms,
            "isBillable": False,
            "address": {
                "address1": "1 Sandbox Way",
                "city": "Sunnyvale",
                "state": "CA",
                "zip": "94085",
                "country": "US",
            },
            "owner": {"name": "Sandbox Owner"},
            "href": str(request.url).split("?")[0],
        }
    )


def _devices(state: SandboxState, m: Merchant) -> list[dict[str, Any]]:
    store = state.domain(PlatformStore)
    with state.lock:
        mine = [d for d in store.devices.values() if d["merchant"]["id"] == m.merchant_id]
        if not mine:
            mine = [
                store.add_device(
                    m.merchant_id,
                    {
                        "id": state.ids.clover_id(),
                        "name": "Sandbox virtual terminal",
                        "model": "Clover_C503",
                        "serial": "C0SANDBOX" + m.merchant_id[:6],
                        "deviceTypeName": "FLEX_2",
                        "productName": "Clover Flex",
                        "secureId": m.merchant_id,
                    },
                )
            ]
    return mine


async def devices(request: Request) -> Response:
    m = platform_merchant(request)
    return _elements(request, _devices(state_of(request), m))


def _recent_charges(state: SandboxState, merchant_id: str, count: int) -> list[dict[str, Any]]:
    store = state.ecommerce.charges
    idx = store.indexes.get(merchant_id)
    if idx is None or count <= 0:
        return []
    out = []
    for cid in idx.page(count).ids:
        charge = store.get(cid, merchant_id)
        if charge is not None:
            out.append(charge_payment_json(charge))
    return out


async def payments(request: Request) -> Response:
    m = platform_merchant(request)
    state = state_of(request)
    limit, offset = _paging(request)
    filters = _filters(request)
    match = _predicate(filters)
    platform = state.domain(PlatformStore)
    with state.lock:
        ext = [v for n, o, v in filters if n == "externalPaymentId" and o == "="]
        if ext:  # O(1): only payments carrying that externalPaymentId
            found = [p for p in platform.by_external(m.merchant_id, ext[0]) if match(p)]
            found.sort(key=lambda p: p.get("createdTime", 0), reverse=True)
            return _elements(request, found[offset : offset + limit])
        others = [
            p
            for pid, p in platform.payments.items()
            if platform.payment_merchant.get(pid) == m.merchant_id
        ]
        if filters:
            total = len(state.ecommerce.charges.indexes.get(m.merchant_id, ()))
            candidates = _recent_charges(state, m.merchant_id, total) + others
        else:
            candidates = _recent_charges(state, m.merchant_id, offset + limit) + others
    candidates = [p for p in candidates if match(p)]
    candidates.sort(key=lambda p: p.get("createdTime", 0), reverse=True)
    return _elements(request, candidates[offset : offset + limit])


async def payment_get(request: Request) -> Response:
    m = platform_merchant(request)
    state = state_of(request)
    pid = request.path_params["paymentId"]
    with state.lock:
        charge = state.ecommerce.charges.get(pid, m.merchant_id)
        if charge is not None:
            return json_response(charge_payment_json(charge))
        other = state.domain(PlatformStore).payment(m.merchant_id, pid)
    if other is None:
        raise api_error(404, f"Payment {pid} not found", "not_found")
    return json_response(other)


async def orders(request: Request) -> Response:
    m = platform_merchant(request)
    state = state_of(request)
    limit, offset = _paging(request)
    store = state.ecommerce.orders
    with state.lock:
        idx = store.indexes.get(m.merchant_id)
        ids = idx.page(offset + limit).ids[offset:] if idx is not None else []
        items = [order_json(o) for oid in ids if (o := store.get(oid, m.merchant_id)) is not None]
    return _elements(request, items)


async def order_get(request: Request) -> Response:
    m = platform_merchant(request)
    state = state_of(request)
    oid = request.path_params["orderId"]
    with state.lock:
        order = state.ecommerce.orders.get(oid, m.merchant_id)
        if order is None:
            raise api_error(404, f"Order {oid} not found", "not_found")
        return json_response(order_json(order))


def _opt(body: dict[str, Any], name: str, kind: type, default: Any = None) -> Any:
    value = body.get(name, default)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise api_error(400, f"{name} must be {'an integer' if kind is int else 'a string'}")
    return value


async def record_payment(request: Request) -> Response:
    state = state_of(request)
    body = json_body(request)
    merchant_id = _opt(body, "merchantId", str) or state.merchant.merchant_id
    if merchant_id not in state.merchants:
        raise api_error(400, f"merchantId {merchant_id} is not a sandbox merchant")
    amount = _opt(body, "amount", int)
    if amount is None or amount < 0:
        raise api_error(400, "amount is required, an integer >= 0")
    card = body.get("card")
    if card is not None and not isinstance(card, dict):
        raise api_error(400, "card must be an object")
    if card and any(k in card for k in ("number", "cardNumber", "cvv")):
        raise api_error(400, "card must not hold a card number or CVV (first6/last4 only)")
    try:
        payment = terminal_payment_json(
            payment_id=_opt(body, "id", str) or state.ids.clover_id(),
            amount=amount,
            external_payment_id=_opt(body, "externalPaymentId", str),
            created_ms=state.clock.now_ms(),
            result=_opt(body, "result", str, "SUCCESS"),
            tip_amount=_opt(body, "tipAmount", int, 0),
            tax_amount=_opt(body, "taxAmount", int, 0),
            order_id=_opt(body, "orderId", str),
            device_id=_opt(body, "deviceId", str),
            card=card,
        )
    except ValueError as exc:
        raise api_error(400, str(exc)) from None
    with state.lock:
        state.domain(PlatformStore).record_payment(merchant_id, payment)
        state.notify("P", payment["id"], "CREATE", merchant_id=merchant_id)
    return json_response(payment)


async def void_payment(request: Request) -> Response:
    """Void a card-present v3 payment as a merchant does in Clover's dashboard."""
    state = state_of(request)
    body = json_body(request)
    merchant_id = _opt(body, "merchantId", str) or state.merchant.merchant_id
    reason = _opt(body, "reason", str, "USER_CANCEL")
    pid = request.path_params["paymentId"]
    platform = state.domain(PlatformStore)
    with state.lock:
        payment = platform.payment(merchant_id, pid)
        if payment is None:
            if state.ecommerce.charges.get(pid, merchant_id) is not None:
                raise api_error(400, "only card-present payments can be voided here")
            raise api_error(404, f"Payment {pid} not found", "not_found")
        if payment.get("result") not in ("SUCCESS", "AUTH"):
            raise api_error(409, f"Payment {pid} is {payment.get('result')}")
        if (payment.get("refunds") or {}).get("elements"):
            raise api_error(409, f"Payment {pid} has refunds")
        updated = {
            **payment,
            "result": "VOIDED",
            "voidReason": reason,
            "modifiedTime": state.clock.now_ms(),
        }
        platform.record_payment(merchant_id, updated)
        state.notify("P", pid, "UPDATE", merchant_id=merchant_id)
    return json_response(updated)


routes: list[BaseRoute] = [
    Route("/v3/merchants/{mId}", merchant_get, methods=["GET"]),
    Route("/v3/merchants/{mId}/devices", devices, methods=["GET"]),
    Route("/v3/merchants/{mId}/payments", payments, methods=["GET"]),
    Route("/v3/merchants/{mId}/payments/{paymentId}", payment_get, methods=["GET"]),
    Route("/v3/merchants/{mId}/orders", orders, methods=["GET"]),
    Route("/v3/merchants/{mId}/orders/{orderId}", order_get, methods=["GET"]),
    Route("/_sandbox/platform/payments", record_payment, methods=["POST"]),
    Route("/_sandbox/platform/payments/{paymentId}/void", void_payment, methods=["POST"]),
]
