"""``/v1/charges`` (spec §6): create, retrieve, list, capture.

Create needs ``x-forwarded-for`` (the customer's IP; a clear 400 naming the header if
missing, switch ``SandboxConfig.require_forwarded_for``). Each charge creates an order.
A decline stores the charge as ``failed`` and answers 402 (or 400) with
``code: card_declined``, ``decline_code`` and ``charge``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import _errors as E
from .._auth import require_bearer, state_of
from .._http import json_body, json_response, list_envelope, mark_committed, page_from_query
from .._payments import execute_charge, parse_charge, resolve_source
from .._records import Charge
from .._settlement import capture_charge
from .._state import SandboxState
from .._validate import MAX_AMOUNT, opt_email, opt_int, opt_metadata, opt_str

__all__ = ["declined", "require_forwarded_for", "routes"]


def require_forwarded_for(request: Request, state: SandboxState) -> None:
    if (
        state.config.require_forwarded_for
        and not request.headers.get("x-forwarded-for", "").strip()
    ):
        raise E.SandboxError(
            400,
            "invalid_request_error",
            "parameter_missing",
            "Missing required header: x-forwarded-for (the customer's IP address; Clover "
            "requires it on charge and order pay requests)",
            "x-forwarded-for",
        )


def declined(state: SandboxState, charge: Charge) -> E.SandboxError:
    return E.card_declined(
        charge.failure_code or "generic_decline",
        charge.id,
        charge.failure_message or "The card was declined.",
        state.config.decline_status,
    )


async def create_charge(request: Request) -> Response:
    merchant = require_bearer(request)
    state = state_of(request)
    require_forwarded_for(request, state)
    req = parse_charge(json_body(request))
    with state.lock:
        resolved = resolve_source(state, merchant, req)
        charge = execute_charge(state, merchant, req, resolved)
    mark_committed(request)
    if charge.status == "failed":
        raise declined(state, charge)
    return json_response(charge.to_json())


async def get_charge(request: Request) -> Response:
    merchant = require_bearer(request)
    state = state_of(request)
    charge = state.ecommerce.charges.require(request.path_params["charge_id"], merchant.merchant_id)
    return json_response(charge.to_json())


async def list_charges(request: Request) -> Response:
    merchant = require_bearer(request)
    state = state_of(request)
    mid = merchant.merchant_id
    customer = request.query_params.get("customer")
    name = f"{mid}|customer|{customer}" if customer else mid
    store = state.ecommerce.charges
    ids, has_more = page_from_query(request, store.indexes.get(name), "charge")
    data = [store.objects[i].to_json() for i in ids]
    return json_response(list_envelope("/v1/charges", data, has_more))


async def capture(request: Request) -> Response:
    merchant = require_bearer(request)
    state = state_of(request)
    body = json_body(request)
    amount = opt_int(body, "amount", minimum=1, maximum=MAX_AMOUNT, too_large=E.amount_too_large)
    receipt_email = opt_email(body, "receipt_email")
    description = opt_str(body, "description", max_len=255)
    metadata = opt_metadata(body)
    with state.lock:
        charge = state.ecommerce.charges.require(
            request.path_params["charge_id"], merchant.merchant_id
        )
        capture_charge(state, charge, amount)
        if receipt_email is not None:
            charge.receipt_email = receipt_email
        if description is not None:
            charge.description = description
        if metadata is not None:
            charge.metadata = {**(charge.metadata or {}), **metadata}
    mark_committed(request)
    return json_response(charge.to_json())


routes: list[BaseRoute] = [
    Route("/v1/charges", create_charge, methods=["POST"]),
    Route("/v1/charges", list_charges, methods=["GET"]),
    Route("/v1/charges/{charge_id}", get_charge, methods=["GET"]),
    Route("/v1/charges/{charge_id}/capture", capture, methods=["POST"]),
]
