"""Pure-ASGI middleware: event log, CORS for browser-facing paths, request bodies.

* :class:`EventsMiddleware` records every request (redacted, see :mod:`._events`).
* :class:`CorsMiddleware` answers preflights and adds ``Access-Control-Allow-Origin``
  on the paths a browser page on another origin calls (``/v1/tokens``, ``keys.json``).
* :class:`BodyMiddleware` reads the whole body once, refuses bodies over
  ``max_body_bytes`` with 413, parses JSON (malformed JSON -> 400 naming the problem)
  and hands routes and the idempotency layer the parsed value through
  ``scope["state"]["cloverpay.json"]``. Form-encoded and multipart bodies are left
  unparsed for routes that want them (hosted pages).
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING

from ._asgi import ASGIApp, Message, Receive, Scope, Send, header, send_error
from ._errors import SandboxError

if TYPE_CHECKING:
    from ._state import SandboxState

__all__ = ["CORS_PREFIXES", "BodyMiddleware", "CorsMiddleware", "EventsMiddleware"]

#: Paths (prefixes) that answer cross-origin browser requests.
CORS_PREFIXES: list[str] = ["/v1/tokens", "/assets/keys.json"]

_CORS_ALLOW_HEADERS = b"apikey, authorization, content-type, idempotency-key, x-clover-merchant-id"


_CARD_TOKEN = re.compile(r"clv_[A-Za-z0-9]+")


def _redact_path(path: str) -> str:
    """Card tokens in paths (``GET /v1/tokens/clv_...``) are logged as ``clv_***``."""
    return _CARD_TOKEN.sub("clv_***", path) if "clv_" in path else path


class EventsMiddleware:
    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox/"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except BaseException:
            status = 0  # connection dropped / crashed: the client got no response
            raise
        finally:
            st = scope.get("state", {})
            self.state.events.request(
                ts_ms=self.state.clock.now_ms(),
                method=scope["method"],
                path=_redact_path(scope["path"]),
                status=status,
                duration_ms=(time.perf_counter() - started) * 1000,
                idempotency_key=st.get("cloverpay.idempotency_key")
                or header(scope, b"idempotency-key"),
                fault=st.get("cloverpay.fault"),
                replayed=bool(st.get("cloverpay.replayed")),
            )


class CorsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not any(scope["path"].startswith(p) for p in CORS_PREFIXES):
            await self.app(scope, receive, send)
            return
        origin = header(scope, b"origin")
        allow = origin.encode("latin-1") if origin else b"*"
        if scope["method"] == "OPTIONS":
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [
                        (b"access-control-allow-origin", allow),
                        (b"access-control-allow-methods", b"GET, POST, PUT, OPTIONS"),
                        (b"access-control-allow-headers", _CORS_ALLOW_HEADERS),
                        (b"access-control-max-age", b"600"),
                        (b"vary", b"Origin"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"access-control-allow-origin", allow),
                    (b"vary", b"Origin"),
                ]
            await send(message)

        await self.app(scope, receive, add_headers)


def _too_large(limit: int) -> SandboxError:
    return SandboxError(
        413,
        "invalid_request_error",
        "request_too_large",
        f"Request body is larger than {limit} bytes",
    )


def _reject_constant(name: str) -> object:
    raise json.JSONDecodeError(f"{name} is not valid JSON", name, 0)


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class BodyMiddleware:
    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        limit = self.state.config.max_body_bytes
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await send_error(send, scope, _too_large(limit))
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await send_error(send, scope, _too_large(limit))
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        st = scope.setdefault("state", {})
        st["cloverpay.body"] = body
        ctype = (header(scope, b"content-type") or "").lower()
        if body.strip() and not ctype.startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            try:
                st["cloverpay.json"] = json.loads(body, parse_constant=_reject_constant)
            except UnicodeDecodeError:
                await send_error(
                    send,
                    scope,
                    SandboxError(
                        400,
                        "invalid_request_error",
                        "invalid_request",
                        "Malformed JSON body: not UTF-8",
                    ),
                )
                return
            except json.JSONDecodeError as exc:
                await send_error(
                    send,
                    scope,
                    SandboxError(
                        400,
                        "invalid_request_error",
                        "invalid_request",
                        f"Malformed JSON body: {exc.msg} at line {exc.lineno} column {exc.colno}",
                    ),
                )
                return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
