"""Control API and customer page of the emulated terminal (no auth; 127.0.0.1 only).

======================================  ===============================================
``GET  /_sandbox/terminal``             screen, connection, settings, queued scripts, URL
``POST /_sandbox/terminal/script``      queue a :class:`CustomerScript` for the next
                                        ``count`` transactions (default 1)
``GET/DELETE /_sandbox/terminal/script`` list / clear the queue
``POST /_sandbox/terminal/settings``    change :class:`TerminalSettings` fields
``POST /_sandbox/terminal/pairing/confirm``  ``{"code"?, "accept"?}``: the merchant
                                        confirms (or rejects) a pairing code
``POST /_sandbox/terminal/customer``    ``{"action": "tap"|"cancel"|"tip"|"sign"|
                                        "accept"|"reject"|"receipt", "card"?, "entry"?,
                                        "amount"?}``: act as the customer
``POST /_sandbox/terminal/reboot``      restart the device (in-flight state forgotten)
``GET  /_sandbox/terminal/certificate`` the CA certificate (PEM) of a ``wss://`` terminal
``GET  /terminal``                      the customer-facing screen (HTML)
``GET  /terminal/events``               the screen as server-sent events
``POST /v2/merchant/{mId}/remote_pay``  Cloud Pay Display alert (spec §1.2): bearer
                                        token of ``mId``, ``{"deviceId", "isSilent"}``
                                        → ``{"sent", "host", "token"}``; the socket is
                                        then ``{host}/support/remote_pay/cs?token=…``
                                        on the terminal's port
======================================  ===============================================
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from .._auth import state_of
from .._errors import SandboxError, invalid_param, missing_param
from .._http import json_body, json_response
from ..terminal._script import CARDS, CustomerScript, ScriptError
from ._web import api_error, money, platform_merchant, render

if TYPE_CHECKING:
    from ..terminal import Terminal

__all__ = ["routes"]

_ACTIONS = ("tap", "cancel", "tip", "sign", "accept", "reject", "receipt")
_SETTINGS: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "serial": (str,),
    "model": (str,),
    "pairing": (str,),
    "supports_tip_adjust": (bool,),
    "supports_manual_refund": (bool,),
    "supports_pre_auth": (bool,),
    "supports_auth": (bool,),
    "supports_vault_card": (bool,),
    "supports_void_payment_response": (bool,),
    "supports_acknowledgement": (bool,),
    "restart_on_decline": (bool,),
}


def _terminal(request: Request) -> Terminal:
    # imported here: the protocol models behind the terminal are slow to import, and
    # a sandbox that never uses its terminal should not pay for them
    from ..terminal._device import terminal_for

    return terminal_for(state_of(request))


def _not_running() -> SandboxError:
    return SandboxError(
        409,
        "invalid_request_error",
        "terminal_not_running",
        "The emulated terminal is not running (start the sandbox with a terminal port)",
    )


def _status(t: Terminal) -> dict[str, Any]:
    return {
        "url": t.url,
        "tls": t.ca_pem is not None,
        "screen": t.snapshot(),
        "settings": t.settings.to_json(),
        "scripts": [s.to_json() for s in t.scripts()],
        "pending_pairing_codes": len(t.pending_pairings),
    }


async def status(request: Request) -> Response:
    return json_response(_status(_terminal(request)))


async def script_add(request: Request) -> Response:
    body = json_body(request)
    count = body.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 10_000:
        raise invalid_param("count", "must be an integer from 1 to 10000")
    try:
        script = CustomerScript.from_json(body)
    except ScriptError as exc:
        raise invalid_param(exc.field, exc.message) from None
    t = _terminal(request)
    t.push_script(script, count)
    return json_response({"scripts": [s.to_json() for s in t.scripts()]})


async def script_list(request: Request) -> Response:
    return json_response({"scripts": [s.to_json() for s in _terminal(request).scripts()]})


async def script_clear(request: Request) -> Response:
    _terminal(request).clear_scripts()
    return json_response({"scripts": []})


async def settings_set(request: Request) -> Response:
    body = json_body(request)
    t = _terminal(request)
    for name, value in body.items():
        types = _SETTINGS.get(name)
        if types is None:
            raise invalid_param(name, "is not a terminal setting", "parameter_unknown")
        if not isinstance(value, types):
            raise invalid_param(name, f"must be {types[0].__name__}")
        if name == "pairing" and value not in ("auto", "confirm"):
            raise invalid_param(name, "must be auto or confirm")
    for name, value in body.items():
        setattr(t.settings, name, value)
    return json_response(t.settings.to_json())


async def pairing_confirm(request: Request) -> Response:
    body = json_body(request)
    code = body.get("code")
    accept = body.get("accept", True)
    if code is not None and not isinstance(code, str):
        raise invalid_param("code", "must be a string")
    if not isinstance(accept, bool):
        raise invalid_param("accept", "must be true or false")
    t = _terminal(request)
    if not t.running:
        raise _not_running()
    if not t.confirm_pairing(code, accept):
        raise invalid_param("code", "no pairing is waiting for this code")
    return json_response({"confirmed": accept})


async def customer(request: Request) -> Response:
    body = json_body(request)
    action = body.get("action")
    if action is None:
        raise missing_param("action")
    if action not in _ACTIONS:
        raise invalid_param("action", f"must be one of {', '.join(_ACTIONS)}")
    data: dict[str, Any] = {}
    if "card" in body:
        if not isinstance(body["card"], str) or body["card"].upper() not in CARDS:
            raise invalid_param("card", f"must be one of {', '.join(CARDS)}")
        data["card"] = body["card"].upper()
    if "entry" in body:
        if not isinstance(body["entry"], str):
            raise invalid_param("entry", "must be a string")
        data["entry"] = body["entry"]
    if "amount" in body:
        amount = body["amount"]
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
            raise invalid_param("amount", "must be a non-negative integer (cents)")
        data["amount"] = amount
    t = _terminal(request)
    if not t.running:
        raise _not_running()
    t.post_input(str(action), **data)
    return json_response({"action": action, "screen": t.snapshot()})


async def reboot(request: Request) -> Response:
    t = _terminal(request)
    if not t.running:
        raise _not_running()
    t.reboot()
    return json_response({"rebooting": True})


async def certificate(request: Request) -> Response:
    t = _terminal(request)
    if t.ca_pem is None:
        raise SandboxError(
            404, "invalid_request_error", "resource_missing", "The terminal is not serving wss://"
        )
    return Response(t.ca_pem, media_type="application/x-pem-file")


async def page(request: Request) -> Response:
    t = _terminal(request)
    html = render(
        "terminal.html",
        snapshot=json.dumps(t.snapshot()),
        cards=list(CARDS),
        url=t.url,
        merchant=state_of(request).merchant.name,
        money=money,
    )
    return HTMLResponse(html)


async def events(request: Request) -> Response:
    t = _terminal(request)
    queue, stop = t.watch()

    async def stream() -> AsyncIterator[str]:
        try:
            yield f"data: {json.dumps(t.snapshot())}\n\n"
            while True:
                try:
                    snap = await asyncio.wait_for(queue.get(), 15)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                yield f"data: {json.dumps(snap)}\n\n"
        finally:
            stop()

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"cache-control": "no-store"}
    )


async def cloud_alert(request: Request) -> Response:
    """Clover's "wake Cloud Pay Display" call: tell the POS where the proxy is."""
    merchant = platform_merchant(request)
    body = json_body(request)
    device_id = body.get("deviceId")
    if not isinstance(device_id, str) or not device_id:
        raise api_error(400, "deviceId is required")
    t = _terminal(request)
    known = t.settings.device_id.replace("-", "")
    if device_id.replace("-", "") != known:
        raise api_error(404, f"Device {device_id} not found", "not_found")
    if not t.running or t.base_url is None:
        return json_response({"sent": False})
    t.register_device()
    token = t.issue_cloud_token(merchant.merchant_id)
    t.state.events.add("terminal_cloud_alert", silent=bool(body.get("isSilent")))
    return json_response({"sent": True, "host": t.base_url, "token": token})


routes: list[BaseRoute] = [
    Route("/_sandbox/terminal", status, methods=["GET"]),
    Route("/_sandbox/terminal/script", script_add, methods=["POST"]),
    Route("/_sandbox/terminal/script", script_list, methods=["GET"]),
    Route("/_sandbox/terminal/script", script_clear, methods=["DELETE"]),
    Route("/_sandbox/terminal/settings", settings_set, methods=["POST"]),
    Route("/_sandbox/terminal/pairing/confirm", pairing_confirm, methods=["POST"]),
    Route("/_sandbox/terminal/customer", customer, methods=["POST"]),
    Route("/_sandbox/terminal/reboot", reboot, methods=["POST"]),
    Route("/_sandbox/terminal/certificate", certificate, methods=["GET"]),
    Route("/terminal", page, methods=["GET"]),
    Route("/terminal/events", events, methods=["GET"]),
    Route("/v2/merchant/{mId}/remote_pay", cloud_alert, methods=["POST"]),
]
