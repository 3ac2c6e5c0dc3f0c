"""Tiny ASGI helpers shared by the pure-ASGI middleware (no BaseHTTPMiddleware)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ._errors import SandboxError, error_family

__all__ = [
    "ASGIApp",
    "Message",
    "Receive",
    "SandboxConnectionDropped",
    "Scope",
    "Send",
    "header",
    "send_error",
    "send_json",
    "send_raw",
    "top_level_message",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SandboxConnectionDropped(Exception):
    """Raised by the app to drop the connection (fault injection).

    Over a real socket the server closes the connection mid-response; the sandbox's
    in-process transports turn it into :class:`httpx.RemoteProtocolError`.
    """


def header(scope: Scope, name: bytes) -> str | None:
    """First value of header ``name`` (lower-case bytes), decoded as latin-1."""
    for k, v in scope["headers"]:
        if k == name:
            return str(v.decode("latin-1"))
    return None


async def send_raw(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_json(
    send: Send, status: int, payload: Any, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if extra:
        headers.extend(extra)
    await send_raw(send, status, headers, body)


def top_level_message(scope: Scope) -> bool:
    """``SandboxConfig.ecommerce_error_message`` of the sandbox serving ``scope``."""
    state = getattr(getattr(scope.get("app"), "state", None), "sandbox", None)
    return bool(getattr(getattr(state, "config", None), "ecommerce_error_message", True))


async def send_error(send: Send, scope: Scope, err: SandboxError) -> None:
    status, headers, body = err.render(error_family(scope["path"]), top_level_message(scope))
    await send_raw(send, status, headers, body)
