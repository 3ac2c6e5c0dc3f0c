"""``/v1/orders`` (spec §7): create, retrieve, list, update, pay, returns.

* ``POST /v1/orders``: ``currency``; ``items`` (see :mod:`.._orders`) or a bare
  ``amount``; ``customer`` (id), ``email``, ``shipping``, ``metadata``.
* ``PUT /v1/orders/{id}``: ``email``, ``customer``, ``shipping``, ``metadata``;
  ``items`` only while nothing is paid; ``status`` ``fulfilled`` (paid orders) or
  ``canceled`` (unpaid orders).
* ``POST /v1/orders/{id}/pay`` (``x-forwarded-for``): ``source`` or ``customer``,
  optional ``amount`` for split tender (``amount_paid`` accumulates; ``past_charges``
  after the second payment; ``paid`` when fully paid; ``order_already_paid`` after).
* ``POST /v1/orders/{id}/returns``: shape guessed [G]. Body ``{amount?, items?, reason?}``;
  refunds the order's charges newest first for ``amount`` (default: all that is left)
  and answers ``{"object": "order_return", "id", "order", "amount", "refunds": [...],
  "items", "status": "returned"}``. The order becomes ``returned`` when fully returned.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import _errors as E
from .._auth import require_bearer, state_of
from .._http import json_body, json_response, list_envelope, mark_committed, page_from_query
from .._order_states import can_transition, transition
from .._orders import compute_items
from .._payments import execute_charge, parse_charge, resolve_source
from .._records import Order, OrderReturn
from .._settlement import check_refund, refund_charge, refundable
from .._validate import (
    MAX_AMOUNT,
    opt_dict,
    opt_email,
    opt_int,
    opt_metadata,
    opt_str,
    req_currency,
)
from .charges import declined, require_forwarded_for

__all__ = ["routes"]


async def create_order(request: Request) -> Response:
    merchant = require_bearer(request)
    state = state_of(request)
    body = json_body(request)
    currency = req_currency(body)
    amount: int | None
    if body.get("items") is not None:
        items, amount, tax = compute_items(body["items"], currency.upper(), merchant)
    else:
        amount = opt_int(
            body, "amount", minimum=1, maximum=MAX_AMOUNT, too_large=E.amount_too_large
        )
        if amount is None:
            raise E.missing_param("items", "field (or amount)")
        items, tax = [], 0
    email = opt_email(body, "email")
    customer = opt_str(body, "customer", max_len=64)
    shipping = opt_dict(body, "shipping")
    metadata = opt_metadata(body)
    with state.lock:
        if customer is not None:
            state.ecommerce.customers.require(customer, merchant.merchant_id, "customer")
        now = state.clock.now_ms()
        order = Order(
            id=state.ids.clover_id(),
            merchant_id=merchant.merchant_id,
            created_ms=now,
            amount=amount,
            currency=currency.upper(),
            items=items,
            customer=customer,
            email=email,
            shipping=shipping,
            metadata=metadata,
            tax_amount=tax,
        )
        state.ecommerce.orders.add(order.id, order, now, merchant.merchant_id)
        state.notify("O", order.id, "CREATE", merchant_id=merchant.merchant_id)
    mark_committed(request)
    return json_response(order.to_json())


async def get_order(request: Request) -> Response:
    merchant = require_bearer(request)
    order = state_of(request).ecommerce.orders.require(
        request.path_params["order_id"], merchant.merchant_id
    )
    return json_response(order.to_json())


async def list_orders(request: Request) -> Response:
    merchant = require_bearer(request)
    store = state_of(request).ecommerce.orders
    ids, has_more = page_from_query(request, store.indexes.get(merchant.merchant_id), "order")
    return json_response(
        list_envelope("/v1/orders", [store.objects[i].to_json() for i in ids], has_more)
    )


async def update_order(request: Request) -> Response:
    merchant = require_bearer(request)
    state = state_of(request)
    body = json_body(request)
    email = opt_email(body, "email")
    customer = opt_str(body, "customer", max_len=64)
    shipping = opt_dict(body, "shipping")
    metadata = opt_metadata(body)
    status = opt_str(body, "status", choices=("fulfilled", "canceled"))
    with state.lock:
        order = state.ecommerce.orders.require(
            request.path_params["order_id"], merchant.merchant_id
        )
        new_items: tuple[list[dict[str, Any]], int, int] | None = None
        if body.get("items") is not None:
            if order.amount_paid:
                raise E.invalid_request(
                    f"Order {order.id} has payments; its items can no longer change", "items"
                )
            new_items = compute_items(body["items"], order.currency, merchant)
        if customer is not None:
            state.ecommerce.customers.require(customer, merchant.merchant_id, "customer")
        if status is not None and not can_transition(order.status, status):
            raise E.SandboxError(
                400,
                "invalid_request_error",
                "order_status_invalid",
                f"Order {order.id} cannot go from {order.status} to {status}",
                "status",
            )
        if status == "canceled" and order.amount_paid:
            raise E.invalid_param("status", "an order with payments cannot be canceled; return it")
        if new_items is not None:
            order.items, order.amount, order.tax_amount = new_items
        for attr, value in (
            ("email", email),
            ("customer", customer),
            ("shipping", shipping),
            ("metadata", metadata),
        ):
            if value is not None:
                setattr(order, attr, value)
        if status is not None:
            transition(order, status, state.clock.now_ms())
        state.notify("O", order.id, "UPDATE", merchant_id=merchant.merchant_id)
    mark_committed(request)
    return json_response(order.to_json())


async def pay_order(request: Request) -> Response:
    merchant = require_bearer(request)
    state = state_of(request)
    require_forwarded_for(request, state)
    body = json_body(request)
    source = opt_str(body, "source", max_len=255)
    customer = opt_str(body, "customer", max_len=64)
    if not source and not customer:
        raise E.missing_param("source", "field (or customer)")
    amount = opt_int(body, "amount", minimum=1, maximum=MAX_AMOUNT, too_large=E.amount_too_large)
    email = opt_email(body, "email")
    with state.lock:
        order = state.ecommerce.orders.require(
            request.path_params["order_id"], merchant.merchant_id
        )
        if order.status in ("paid", "fulfilled") or (order.amount_due <= 0 and order.amount_paid):
            raise E.order_already_paid(order.id)
        if order.status != "created":
            raise E.invalid_request(
                f"Order {order.id} is {order.status} and cannot be paid", "order"
            )
        if amount is not None and amount > order.amount_due:
            raise E.amount_too_large(
                "amount", f"amount {amount} exceeds the {order.amount_due} cents due on {order.id}"
            )
        req = parse_charge(
            {**body, "capture": True, "receipt_email": email},
            amount=amount or order.amount_due,
            currency=order.currency.lower(),
            source=source or customer,
        )
        req.description = req.description or f"Payment for order {order.id}"
        resolved = resolve_source(state, merchant, req)
        if order.customer is None and resolved.customer_id:
            order.customer = resolved.customer_id
        charge = execute_charge(state, merchant, req, resolved, order)
    mark_committed(request)
    if charge.status == "failed":
        raise declined(state, charge)
    return json_response(order.to_json())


def _return_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    raw = body.get("items")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise E.invalid_param("items", "must be a list")
    items = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise E.invalid_param(f"items[{i}]", "must be an object")
        opt_str(item, "parent", max_len=64, param=f"items[{i}].parent")
        opt_int(item, "quantity", minimum=1, param=f"items[{i}].quantity")
        opt_int(item, "amount", minimum=1, maximum=MAX_AMOUNT, param=f"items[{i}].amount")
        opt_str(item, "description", max_len=255, param=f"items[{i}].description")
        items.append(dict(item))
    return items


async def return_order(request: Request) -> Response:
    merchant = require_bearer(request)
    state = state_of(request)
    body = json_body(request)
    items = _return_items(body)
    amount = opt_int(body, "amount", minimum=1, maximum=MAX_AMOUNT, too_large=E.amount_too_large)
    if amount is None and items and all("amount" in it for it in items):
        amount = sum(int(it["amount"]) * int(it.get("quantity", 1)) for it in items)
    reason = opt_str(body, "reason", max_len=255)
    with state.lock:
        store = state.ecommerce
        order = store.orders.require(request.path_params["order_id"], merchant.merchant_id)
        charges = [store.charges.objects[c] for c in reversed(order.charges)]
        left = sum(refundable(c) for c in charges)
        if left <= 0:
            raise E.invalid_request(f"Order {order.id} has nothing left to return", "order")
        total = left if amount is None else amount
        if total > left:
            raise E.amount_too_large(
                "amount", f"amount {total} exceeds the {left} cents left to return on {order.id}"
            )
        now = state.clock.now_ms()
        ret = OrderReturn(
            id=state.ids.clover_id(),
            merchant_id=merchant.merchant_id,
            created_ms=now,
            order=order.id,
            amount=total,
            currency=order.currency,
            refunds=[],
            items=items,
            reason=reason,
        )
        todo = total
        for charge in charges:
            part = min(todo, refundable(charge))
            if part <= 0:
                continue
            check_refund(charge, part)
            refund = refund_charge(state, charge, part, reason=reason, order_return=ret.id)
            ret.refunds.append(refund.id)
            todo -= part
            if todo == 0:
                break
        store.returns.add(ret.id, ret, now, merchant.merchant_id)
    mark_committed(request)
    return json_response(ret.to_json())


routes: list[BaseRoute] = [
    Route("/v1/orders", create_order, methods=["POST"]),
    Route("/v1/orders", list_orders, methods=["GET"]),
    Route("/v1/orders/{order_id}", get_order, methods=["GET"]),
    Route("/v1/orders/{order_id}", update_order, methods=["PUT"]),
    Route("/v1/orders/{order_id}/pay", pay_order, methods=["POST"]),
    Route("/v1/orders/{order_id}/returns", return_order, methods=["POST"]),
]
