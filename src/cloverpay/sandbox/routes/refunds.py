"""``/v1/refunds`` (spec §9): create (full or partial), retrieve, list (``charge`` filter).

Never more than captured minus already refunded (``amount_too_large``); a fully
refunded charge gives ``charge_already_refunded``. ``reason`` is free text
(``requested_by_customer`` in Clover's docs; others [G]).

``charge`` may also be a card-present (v3, terminal) payment's id while
``SandboxConfig.refunds_of_terminal_payments`` is on [G]: the payment is refunded and
lists the refund, as the terminal's own refunds are listed.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import _errors as E
from .._auth import require_bearer, state_of
from .._http import json_body, json_response, list_envelope, mark_committed, page_from_query
from .._platform import PlatformStore
from .._records import Refund
from .._settlement import check_refund, refund_charge, refund_terminal_payment
from .._state import SandboxState
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
        refund = _of_terminal_payment(
            state, merchant.merchant_id, charge_id, amount, reason, metadata, ext
        )
        if refund is None:
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


def _of_terminal_payment(
    state: SandboxState,
    merchant_id: str,
    payment_id: str,
    amount: int | None,
    reason: str | None,
    metadata: dict[str, Any] | None,
    ext: str | None,
) -> Refund | None:
    """The refund of a card-present payment (None: not one, or the switch is off)."""
    if not state.config.refunds_of_terminal_payments:
        return None
    if state.ecommerce.charges.get(payment_id, merchant_id) is not None:
        return None
    payment = state.domain(PlatformStore).payment(merchant_id, payment_id)
    if payment is None:
        return None
    return refund_terminal_payment(
        state,
        merchant_id,
        payment,
        amount,
        reason=reason,
        metadata=metadata,
        external_reference_id=ext,
    )


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
