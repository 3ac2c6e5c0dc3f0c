"""Helpers shared by the OAuth, Hosted Checkout, Recurring, Platform and sdk.js routes.

* Jinja2 templates (``templates/``) and static files (``static/``) shipped in the package.
* ``form_body``: an ``application/x-www-form-urlencoded`` body as a dict (hosted pages).
* ``require_merchant``: bearer token + ``X-Clover-Merchant-Id`` (Hosted Checkout, Recurring).
* ``platform_merchant``: bearer token whose merchant is the ``{mId}`` of a v3 path.
* ``dispatcher_for``: the state's webhook dispatcher, subscribed to ``state.notify``.
"""

from __future__ import annotations

import threading
import weakref
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request

from .._auth import require_bearer
from .._errors import SandboxError, unauthorized
from .._webhooks_out import Delivery, WebhookDispatcher, WebhookStore

if TYPE_CHECKING:
    from .._state import Merchant, Notification, SandboxState

__all__ = [
    "api_error",
    "dispatcher_for",
    "form_body",
    "money",
    "platform_merchant",
    "render",
    "require_merchant",
    "static_text",
    "unauthorized_error",
]

_env = Environment(
    loader=PackageLoader("cloverpay.sandbox", "templates"),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
)


def money(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


_env.globals["money"] = money


def render(template: str, **context: Any) -> str:
    return _env.get_template(template).render(**context)


def static_text(name: str) -> str:
    return resources.files("cloverpay.sandbox").joinpath("static", name).read_text("utf-8")


def api_error(status: int, message: str, code: str = "invalid_request") -> SandboxError:
    """An error in the path's family shape: flat ``{"message"}`` on Platform paths
    (``/v3``, ``/oauth``, Hosted Checkout, Recurring), nested on ``/_sandbox`` like the
    rest of the control API. Messages name the field, never a secret value."""
    return SandboxError(status, "invalid_request_error", code, message)


def unauthorized_error() -> SandboxError:
    return unauthorized()


async def form_body(request: Request) -> dict[str, str]:
    """Fields of a form-encoded body (first value of each)."""
    raw = request.scope.get("state", {}).get("cloverpay.body")
    if raw is None:
        raw = await request.body()
    parsed = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items()}


def require_merchant(request: Request) -> Merchant:
    """Bearer token plus ``X-Clover-Merchant-Id`` naming the token's merchant."""
    merchant = require_bearer(request)
    header = request.headers.get("x-clover-merchant-id")
    if not header:
        raise api_error(400, "X-Clover-Merchant-Id header is required")
    if header.strip() != merchant.merchant_id:
        raise unauthorized_error()
    return merchant


def platform_merchant(request: Request) -> Merchant:
    """v3 REST: the token must belong to the path's merchant; 401 otherwise (spec §3.4)."""
    merchant = require_bearer(request)
    if request.path_params.get("mId") != merchant.merchant_id:
        raise unauthorized_error()
    return merchant


_dispatchers: weakref.WeakKeyDictionary[SandboxState, WebhookDispatcher] = (
    weakref.WeakKeyDictionary()
)
_dispatchers_lock = threading.Lock()


def dispatcher_for(state: SandboxState) -> WebhookDispatcher:
    """The one webhook dispatcher of ``state``, created and subscribed on first use."""
    with _dispatchers_lock:
        dispatcher = _dispatchers.get(state)
        if dispatcher is None:
            state_ref = weakref.ref(state)  # the dispatcher must not keep the state alive

            def get_store() -> WebhookStore:
                live = state_ref()
                if live is None:
                    raise RuntimeError("the sandbox state is gone")
                return live.domain(WebhookStore)

            def log_attempt(delivery: Delivery) -> None:
                live = state_ref()
                last = delivery.attempts[-1] if delivery.attempts else None
                if live is not None and last is not None:  # redacted: no body, no auth code
                    live.events.add(
                        "webhook",
                        ts_ms=live.clock.now_ms(),
                        delivery=delivery.id,
                        webhook_kind=delivery.kind,
                        url=delivery.url.split("?")[0],
                        attempt=len(delivery.attempts),
                        status=last.status_code,
                        error=last.error,
                        state=delivery.state,
                    )

            dispatcher = WebhookDispatcher(get_store, on_change=log_attempt)
            _dispatchers[state] = dispatcher
            sender = dispatcher

            def on_change(note: Notification) -> None:
                sender.notify(note.merchant_id, note.clover_object_id, note.kind, note.ts_ms)

            state.subscribe(on_change)
        return dispatcher
