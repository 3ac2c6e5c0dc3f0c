"""``/v1/refunds`` (spec §9): create (full or partial), retrieve, list (``charge`` filter).

Never more than captured minus already refunded (``amount_too_large``); a fully
refunded charge gives ``charge_already_refunded``. ``reason`` is free text
(``requested_by_customer`` in Clover's docs; others [G]).
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import _errors as E
from .._auth import require_bearer, state_of
from .._http import json_body, json_response, list_envelope, mark_committed, page_from_query
from .._settlement import check_refund, refund_charge
from .._validate import MAX_AMOUNT, opt_int, opt_metadata, opt_str, req_str

__all__ = ["routes"]

_EXT_REF = re.compile(r"^[A-Za-z0-9 ]{1,12}$")


async def create_refund(request: Request) -> Response:
    merchant = require_bearer(request)
    state = state_of(request)
    body = json_body(request)
    charge_id = req_str(body, "charge", max_len=64)
    amount = opt_int(body, "amount", minimum=1, maximum=MAX_AMOUNT, too_large=E.amount_too_large)
    reason = opt_str(body, "reason", max_len=255)
    metadata = opt_metadata(body)
    ext = opt_str(
        body,
        "external_reference_id",
        pattern=_EXT_REF,
        pattern_help="must be 1-12 letters, digits or spaces",
    )
    with state.lock:
        charge = state.ecommerce.charges.require(charge_id, merchant.merchant_id, "charge")
        refund_amount = check_refund(
            charge, amount, release_auth=state.config.refund_releases_authorization
        )
        refund = refund_charge(
            state,
            charge,
            refund_amount,
            reason=reason,
            metadata=metadata,
            external_reference_id=ext,
        )
    mark_committed(request)
    return json_response(refund.to_json())


async def get_refund(request: Request) -> Response:
    merchant = require_bearer(request)
    refund = state_of(request).ecommerce.refunds.require(
        request.path_params["refund_id"], merchant.merchant_id
    )
    return json_response(refund.to_json())


async def list_refunds(request: Request) -> Response:
    merchant = require_bearer(request)
    state = state_of(request)
    mid = merchant.merchant_id
    charge = request.query_params.get("charge")
    name = f"{mid}|charge|{charge}" if charge else mid
    store = state.ecommerce.refunds
    ids, has_more = page_from_query(request, store.indexes.get(name), "refund")
    return json_response(
        list_envelope("/v1/refunds", [store.objects[i].to_json() for i in ids], has_more)
    )


routes: list[BaseRoute] = [
    Route("/v1/refunds", create_refund, methods=["POST"]),
    Route("/v1/refunds", list_refunds, methods=["GET"]),
    Route("/v1/refunds/{refund_id}", get_refund, methods=["GET"]),
]
