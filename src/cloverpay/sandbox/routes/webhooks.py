"""Control API for outgoing app webhooks (spec §12).

=======================================  =================================================
``POST /_sandbox/webhooks``               ``{"url", "autoConfirm"?: bool}``: register the
                                          app's callback URL; the sandbox POSTs
                                          ``{"verificationCode"}`` to it at once
``GET  /_sandbox/webhooks``               the config, including the verification code sent
                                          and, once confirmed, the ``X-Clover-Auth`` code
``POST /_sandbox/webhooks/verify``        ``{"verificationCode"}``: confirm (what the
                                          developer does in Clover's dashboard)
``DELETE /_sandbox/webhooks``             stop sending app webhooks
``POST /_sandbox/webhooks/flush``         send batched events now
``GET  /_sandbox/webhooks/deliveries``    every delivery: kind, URL, state, attempts
                                          (status code / error, time), body
``POST /_sandbox/webhooks/deliveries/{id}/redeliver``  send it again, byte for byte
``POST /_sandbox/webhooks/retry``         make waiting retries due now
``GET/POST /_sandbox/webhooks/settings``  batch window, attempts, backoff, timeout,
                                          ``signature_clock`` ("wall" | "sandbox")
=======================================  =================================================
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .._auth import state_of
from .._http import json_body, json_response
from .._webhooks_out import WebhookStore
from ._web import api_error, dispatcher_for

__all__ = ["routes"]


async def register(request: Request) -> Response:
    state = state_of(request)
    body = json_body(request)
    url = body.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise api_error(400, "url must be an http(s) URL")
    auto = body.get("autoConfirm", False)
    if not isinstance(auto, bool):
        raise api_error(400, "autoConfirm must be true or false")
    dispatcher = dispatcher_for(state)
    store = state.domain(WebhookStore)
    with state.lock:
        config = store.new_app_config(state.merchant.app_id, url)
    await dispatcher.handshake(config)
    if auto and config.handshake_error is None:
        with state.lock:
            store.confirm(config.verification_code)
    return json_response(config.to_json())


async def show(request: Request) -> Response:
    store = state_of(request).domain(WebhookStore)
    return json_response({"app": store.app.to_json() if store.app else None})


async def verify(request: Request) -> Response:
    state = state_of(request)
    code = json_body(request).get("verificationCode")
    if not isinstance(code, str) or not code:
        raise api_error(400, "verificationCode is required")
    with state.lock:
        try:
            config = state.domain(WebhookStore).confirm(code)
        except LookupError as exc:
            raise api_error(404, str(exc), "not_found") from None
        except ValueError as exc:
            raise api_error(400, str(exc)) from None
    return json_response(config.to_json())


async def remove(request: Request) -> Response:
    state = state_of(request)
    with state.lock:
        store = state.domain(WebhookStore)
        store.app = None
        store.pending_events.clear()
    return json_response({"app": None})


async def flush(request: Request) -> Response:
    dispatcher_for(state_of(request)).flush()
    return json_response({"flushed": True})


async def deliveries(request: Request) -> Response:
    state = state_of(request)
    kind = request.query_params.get("kind")
    items = dispatcher_for(state).snapshot()
    if kind:
        items = [d for d in items if d["kind"] == kind]
    return json_response({"deliveries": items})


async def redeliver(request: Request) -> Response:
    dispatcher = dispatcher_for(state_of(request))
    try:
        copy = dispatcher.redeliver(request.path_params["id"])
    except LookupError as exc:
        raise api_error(404, str(exc), "not_found") from None
    return json_response({"id": copy.id, "kind": copy.kind, "url": copy.url})


async def retry(request: Request) -> Response:
    return json_response({"retrying": dispatcher_for(state_of(request)).retry_now()})


_SETTINGS = {
    "batch_window": (0.0, 60.0),
    "max_attempts": (1, 50),
    "backoff_base": (0.0, 3600.0),
    "backoff_cap": (0.0, 86400.0),
    "timeout": (0.1, 120.0),
}


def _settings_json(store: WebhookStore) -> dict[str, float | str]:
    out: dict[str, float | str] = {name: getattr(store.settings, name) for name in _SETTINGS}
    out["signature_clock"] = store.settings.signature_clock
    return out


async def settings_get(request: Request) -> Response:
    return json_response(_settings_json(state_of(request).domain(WebhookStore)))


async def settings_set(request: Request) -> Response:
    store = state_of(request).domain(WebhookStore)
    body = json_body(request)
    for name, value in body.items():
        if name == "signature_clock":
            if value not in ("wall", "sandbox"):
                raise api_error(400, "signature_clock must be 'wall' or 'sandbox'")
            continue
        bounds = _SETTINGS.get(name)
        if bounds is None:
            raise api_error(400, f"{name} is not a webhook setting")
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise api_error(400, f"{name} must be a number")
        if not bounds[0] <= value <= bounds[1]:
            raise api_error(400, f"{name} must be between {bounds[0]} and {bounds[1]}")
        if name == "max_attempts" and not isinstance(value, int):
            raise api_error(400, "max_attempts must be an integer")
    for name, value in body.items():
        setattr(store.settings, name, value)
    return json_response(_settings_json(store))


routes: list[BaseRoute] = [
    Route("/_sandbox/webhooks", register, methods=["POST"]),
    Route("/_sandbox/webhooks", show, methods=["GET"]),
    Route("/_sandbox/webhooks", remove, methods=["DELETE"]),
    Route("/_sandbox/webhooks/verify", verify, methods=["POST"]),
    Route("/_sandbox/webhooks/flush", flush, methods=["POST"]),
    Route("/_sandbox/webhooks/deliveries", deliveries, methods=["GET"]),
    Route("/_sandbox/webhooks/deliveries/{id}/redeliver", redeliver, methods=["POST"]),
    Route("/_sandbox/webhooks/retry", retry, methods=["POST"]),
    Route("/_sandbox/webhooks/settings", settings_get, methods=["GET"]),
    Route("/_sandbox/webhooks/settings", settings_set, methods=["POST"]),
]
