"""``/v1/customers`` (spec §8): card on file.

* ``POST /v1/customers``: ``email`` required; ``source`` (an unused ``clv_`` token)
  is turned into a multi-pay token saved as the customer's card (13-char card id in
  ``sources.data``). Also ``name``, ``firstName``, ``lastName``, ``phone``,
  ``shipping``, ``metadata``, ``ecomind``.
* ``GET /v1/customers/{id}``, ``GET /v1/customers`` (cursor list).
* ``PUT /v1/customers/{id}``: update; attaching a ``source`` when a card is already on
  file is refused (Clover: revoke the old card first).
* ``DELETE /v1/customers/{id}`` -> ``{"id", "object": "customer", "deleted": true}``.
* ``DELETE /v1/customers/{id}/sources/{card_id}`` -> ``deletedcard``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import _errors as E
from .._auth import require_bearer, state_of
from .._http import json_body, json_response, list_envelope, mark_committed, page_from_query
from .._payments import multipay_copy
from .._records import Card, Customer
from .._state import Merchant, SandboxState
from .._validate import opt_dict, opt_email, opt_metadata, opt_str

__all__ = ["routes"]

_PROFILE = (("name", "name"), ("firstName", "first_name"), ("lastName", "last_name"))


def _profile(body: dict[str, Any]) -> dict[str, Any]:
    """Validated profile fields present in ``body`` (attribute name -> value)."""
    out: dict[str, Any] = {}
    for key, attr in _PROFILE:
        value = opt_str(body, key, max_len=255)
        if value is not None:
            out[attr] = value
    phone = opt_str(body, "phone", max_len=32)
    if phone is not None:
        out["phone"] = phone
    shipping = opt_dict(body, "shipping")
    if shipping is not None:
        address = opt_dict(shipping, "address", param="shipping.address")
        if address is not None:
            for field in ("line1", "line2", "city", "state", "postal_code", "country"):
                opt_str(address, field, max_len=255, param=f"shipping.address.{field}")
        out["shipping"] = shipping
    metadata = opt_metadata(body)
    if metadata is not None:
        out["metadata"] = metadata
    ecomind = opt_str(body, "ecomind", choices=("ecom", "moto"))
    if ecomind is not None:
        out["ecomind"] = ecomind
    return out


def _check_source(state: SandboxState, merchant: Merchant, body: dict[str, Any]) -> str | None:
    source = opt_str(body, "source", max_len=255)
    if source is None:
        return None
    if not source.startswith("clv_"):
        raise E.invalid_param("source", "must be a card token (clv_...)")
    token = state.ecommerce.tokens.require(source, merchant.merchant_id, "source")
    if token.used or token.type != "ONEOFF":
        raise E.token_already_used(token.id)
    return source


def _save_card(state: SandboxState, customer: Customer, token_id: str) -> None:
    token = state.ecommerce.tokens.objects[token_id]
    now = state.clock.now_ms()
    token.used = True
    multipay = multipay_copy(state, token, now)
    multipay.cof_initialized = False
    card = Card(state.ids.clover_id(), customer.merchant_id, customer.id, multipay.id, now)
    state.ecommerce.cards.add(card.id, card, now)
    customer.card_id = card.id


async def create_customer(request: Request) -> Response:
    merchant = require_bearer(request)
    state = state_of(request)
    body = json_body(request)
    email = opt_email(body, "email")
    if email is None:
        raise E.missing_param("email")
    profile = _profile(body)
    with state.lock:
        source = _check_source(state, merchant, body)
        now = state.clock.now_ms()
        customer = Customer(state.ids.clover_id(), merchant.merchant_id, now, email, **profile)
        if source is not None:
            _save_card(state, customer, source)
        state.ecommerce.customers.add(customer.id, customer, now, merchant.merchant_id)
        state.notify("C", customer.id, "CREATE", merchant_id=merchant.merchant_id)
    mark_committed(request)
    return json_response(customer.to_json())


async def get_customer(request: Request) -> Response:
    merchant = require_bearer(request)
    customer = state_of(request).ecommerce.customers.require(
        request.path_params["customer_id"], merchant.merchant_id
    )
    return json_response(customer.to_json())


async def list_customers(request: Request) -> Response:
    merchant = require_bearer(request)
    store = state_of(request).ecommerce.customers
    ids, has_more = page_from_query(request, store.indexes.get(merchant.merchant_id), "customer")
    return json_response(
        list_envelope("/v1/customers", [store.objects[i].to_json() for i in ids], has_more)
    )


async def update_customer(request: Request) -> Response:
    merchant = require_bearer(request)
    state = state_of(request)
    body = json_body(request)
    email = opt_email(body, "email")
    profile = _profile(body)
    with state.lock:
        customer = state.ecommerce.customers.require(
            request.path_params["customer_id"], merchant.merchant_id
        )
        source = _check_source(state, merchant, body)
        if source is not None and customer.card_id is not None:
            raise E.invalid_request(
                f"Customer {customer.id} already has a card on file ({customer.card_id}); "
                f"delete it first (DELETE /v1/customers/{customer.id}/sources/{customer.card_id})",
                "source",
            )
        if email is not None:
            customer.email = email
        for attr, value in profile.items():
            setattr(customer, attr, value)
        if source is not None:
            _save_card(state, customer, source)
        state.notify("C", customer.id, "UPDATE", merchant_id=merchant.merchant_id)
    mark_committed(request)
    return json_response(customer.to_json())


def _drop_card(state: SandboxState, card_id: str) -> None:
    card = state.ecommerce.cards.objects.get(card_id)
    if card is not None:
        state.ecommerce.tokens.remove(card.token_id)
        state.ecommerce.cards.remove(card_id)


async def delete_customer(request: Request) -> Response:
    merchant = require_bearer(request)
    state = state_of(request)
    with state.lock:
        customer = state.ecommerce.customers.require(
            request.path_params["customer_id"], merchant.merchant_id
        )
        if customer.card_id:
            _drop_card(state, customer.card_id)
        state.ecommerce.customers.remove(customer.id, merchant.merchant_id)
        state.notify("C", customer.id, "DELETE", merchant_id=merchant.merchant_id)
    mark_committed(request)
    return json_response({"id": customer.id, "object": "customer", "deleted": True})


async def delete_source(request: Request) -> Response:
    merchant = require_bearer(request)
    state = state_of(request)
    card_id = request.path_params["card_id"]
    with state.lock:
        customer = state.ecommerce.customers.require(
            request.path_params["customer_id"], merchant.merchant_id
        )
        if customer.card_id != card_id:
            raise E.resource_missing("card", card_id, "card_id")
        _drop_card(state, card_id)
        customer.card_id = None
        state.notify("C", customer.id, "UPDATE", merchant_id=merchant.merchant_id)
    mark_committed(request)
    return json_response({"id": card_id, "object": "deletedcard", "deleted": True})


routes: list[BaseRoute] = [
    Route("/v1/customers", create_customer, methods=["POST"]),
    Route("/v1/customers", list_customers, methods=["GET"]),
    Route("/v1/customers/{customer_id}", get_customer, methods=["GET"]),
    Route("/v1/customers/{customer_id}", update_customer, methods=["PUT"]),
    Route("/v1/customers/{customer_id}", delete_customer, methods=["DELETE"]),
    Route("/v1/customers/{customer_id}/sources/{card_id}", delete_source, methods=["DELETE"]),
]
