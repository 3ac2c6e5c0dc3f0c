"""The ``/_sandbox/`` control API (no auth; the sandbox binds to 127.0.0.1).

=============================  =================================================
``POST /_sandbox/reset``        forget everything (optional body ``{"seed": N}``)
``POST /_sandbox/seed``         ``{"seed": N}``: reset with a new seed
``GET  /_sandbox/clock``        ``{"now_ms", "now_s", "offset_s"}``
``POST /_sandbox/clock/advance`` ``{"seconds": N}``
``GET/POST/DELETE /_sandbox/faults``  list / arm ``{"kind", "method", "path", "count",
                                ...}`` (or a list of them) / disarm all
``POST /_sandbox/rate_limits``  ``{"enabled": bool}``
``GET  /_sandbox/events``       event log (``?kind=request&limit=N``)
``GET  /_sandbox/credentials``  the default merchant's credentials and base URL
``GET/POST /_sandbox/merchants`` every merchant's credentials / add one ``{"name"}``
``GET/POST /_sandbox/config``   behaviour switches (:class:`SandboxConfig`)
=============================  =================================================
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .._auth import state_of
from .._errors import invalid_param, missing_param
from .._faults import FAULT_KINDS, FaultRule
from .._http import json_body, json_response
from .._state import Merchant, SandboxState

__all__ = ["credentials_json", "routes"]


def credentials_json(
    state: SandboxState, base_url: str, merchant: Merchant | None = None
) -> dict[str, Any]:
    m = merchant or state.merchant
    return {
        "merchant_id": m.merchant_id,
        "access_token": m.access_token,
        "api_access_key": m.api_access_key,
        "app_id": m.app_id,
        "app_secret": m.app_secret,
        "base_url": base_url.rstrip("/"),
        "seed": state.seed,
    }


def _seed_from(body: dict[str, Any], required: bool) -> int | None:
    if "seed" not in body or body["seed"] is None:
        if required:
            raise missing_param("seed")
        return None
    seed = body["seed"]
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise invalid_param("seed", "must be an integer")
    return seed


async def reset(request: Request) -> Response:
    state = state_of(request)
    state.reset(_seed_from(json_body(request), required=False))
    return json_response({"reset": True, "seed": state.seed})


async def seed(request: Request) -> Response:
    state = state_of(request)
    state.reset(_seed_from(json_body(request), required=True))
    return json_response({"reset": True, "seed": state.seed})


async def clock(request: Request) -> Response:
    return json_response(state_of(request).clock.snapshot())


async def clock_advance(request: Request) -> Response:
    body = json_body(request)
    seconds = body.get("seconds")
    if seconds is None:
        raise missing_param("seconds")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        raise invalid_param("seconds", "must be a non-negative number")
    state = state_of(request)
    state.advance_clock(float(seconds))
    return json_response(state.clock.snapshot())


def _rule(spec: Any, where: str) -> FaultRule:
    if not isinstance(spec, dict):
        raise invalid_param(where, "must be an object")
    kind = spec.get("kind")
    if kind not in FAULT_KINDS:
        raise invalid_param(f"{where}.kind", f"must be one of {', '.join(FAULT_KINDS)}")
    opts: dict[str, Any] = {}
    for name, types in (
        ("method", (str,)),
        ("path", (str,)),
        ("count", (int,)),
        ("status", (int,)),
        ("delay_s", (int, float)),
        ("retry_after", (int,)),
    ):
        if name in spec:
            value = spec[name]
            if not isinstance(value, types) or isinstance(value, bool):
                raise invalid_param(f"{where}.{name}", f"must be {types[0].__name__}")
            opts[name] = value
    try:
        return FaultRule(kind, **opts)
    except ValueError as exc:
        raise invalid_param(where, str(exc)) from None


async def faults_add(request: Request) -> Response:
    state = state_of(request)
    parsed = request.scope.get("state", {}).get("cloverpay.json")
    specs = parsed if isinstance(parsed, list) else [json_body(request)]
    rules = [
        _rule(spec, f"faults[{i}]" if len(specs) > 1 else "fault") for i, spec in enumerate(specs)
    ]
    for rule in rules:
        state.faults.add(rule)
    return json_response({"faults": [r.to_json() for r in state.faults.list()]})


async def faults_list(request: Request) -> Response:
    return json_response({"faults": [r.to_json() for r in state_of(request).faults.list()]})


async def faults_clear(request: Request) -> Response:
    state_of(request).faults.clear()
    return json_response({"faults": []})


async def rate_limits(request: Request) -> Response:
    body = json_body(request)
    enabled = body.get("enabled")
    if not isinstance(enabled, bool):
        raise invalid_param("enabled", "must be true or false")
    limiter = state_of(request).ratelimiter
    limiter.enabled = enabled
    limiter.clear()
    return json_response(
        {
            "enabled": limiter.enabled,
            "token_limit": limiter.token_limit,
            "token_concurrent_limit": limiter.token_concurrent_limit,
        }
    )


async def events(request: Request) -> Response:
    kind = request.query_params.get("kind") or None
    raw_limit = request.query_params.get("limit")
    limit = None
    if raw_limit:
        if not raw_limit.isdigit():
            raise invalid_param("limit", "must be a non-negative integer")
        limit = int(raw_limit)
    return json_response({"events": state_of(request).events.list(kind, limit)})


async def credentials(request: Request) -> Response:
    return json_response(credentials_json(state_of(request), str(request.base_url)))


async def merchants_list(request: Request) -> Response:
    state = state_of(request)
    base = str(request.base_url)
    return json_response(
        {"merchants": [credentials_json(state, base, m) for m in state.merchants.values()]}
    )


async def merchants_add(request: Request) -> Response:
    body = json_body(request)
    name = body.get("name", "Sandbox Merchant")
    if not isinstance(name, str) or not name.strip() or len(name) > 127:
        raise invalid_param("name", "must be a non-empty string of at most 127 characters")
    state = state_of(request)
    merchant = state.add_merchant(name.strip())
    return json_response(credentials_json(state, str(request.base_url), merchant))


_CONFIG_FIELDS: dict[str, tuple[type, ...]] = {
    "decline_status": (int,),
    "idempotency_conflict_status": (int,),
    "idempotency_ttl_s": (int, float),
    "ecommerce_auth_error_shape": (str,),
    "ecommerce_error_message": (bool,),
    "max_body_bytes": (int,),
    "require_forwarded_for": (bool,),
    "preauth_ttl_s": (int, float),
    "refund_releases_authorization": (bool,),
    "refunds_of_terminal_payments": (bool,),
}
_CONFIG_CHOICES: dict[str, tuple[Any, ...]] = {
    "decline_status": (400, 402),
    "idempotency_conflict_status": (400, 409),
    "ecommerce_auth_error_shape": ("flat", "nested"),
}


async def config_get(request: Request) -> Response:
    return json_response(state_of(request).config.to_json())


async def config_set(request: Request) -> Response:
    body = json_body(request)
    state = state_of(request)
    changes: dict[str, Any] = {}
    for name, value in body.items():
        types = _CONFIG_FIELDS.get(name)
        if types is None:
            raise invalid_param(name, "is not a sandbox config field", "parameter_unknown")
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise invalid_param(name, f"must be {types[0].__name__}")
        choices = _CONFIG_CHOICES.get(name)
        if choices is not None and value not in choices:
            raise invalid_param(name, f"must be one of {', '.join(map(str, choices))}")
        changes[name] = value
    for name, value in changes.items():
        setattr(state.config, name, value)
    return json_response(state.config.to_json())


routes: list[BaseRoute] = [
    Route("/_sandbox/reset", reset, methods=["POST"]),
    Route("/_sandbox/seed", seed, methods=["POST"]),
    Route("/_sandbox/clock", clock, methods=["GET"]),
    Route("/_sandbox/clock/advance", clock_advance, methods=["POST"]),
    Route("/_sandbox/faults", faults_list, methods=["GET"]),
    Route("/_sandbox/faults", faults_add, methods=["POST"]),
    Route("/_sandbox/faults", faults_clear, methods=["DELETE"]),
    Route("/_sandbox/rate_limits", rate_limits, methods=["POST"]),
    Route("/_sandbox/events", events, methods=["GET"]),
    Route("/_sandbox/credentials", credentials, methods=["GET"]),
    Route("/_sandbox/merchants", merchants_list, methods=["GET"]),
    Route("/_sandbox/merchants", merchants_add, methods=["POST"]),
    Route("/_sandbox/config", config_get, methods=["GET"]),
    Route("/_sandbox/config", config_set, methods=["POST"]),
]
