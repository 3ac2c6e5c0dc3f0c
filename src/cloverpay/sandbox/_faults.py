"""Fault injection: make the next N matching calls fail in a chosen way.

Kinds (Kill Bill's mock-plugin knobs, stripe-mock's fidelity):

=====================  ====================================================================
``status``             answer ``status`` (default 500) with Clover's error body; nothing runs
``rate_limit``         429 with ``Retry-After`` and ``X-RateLimit-tokenLimit``; nothing runs
``delay``              sleep ``delay_s`` seconds, then run normally (a long delay = a hang)
``commit_then_drop``   run the request (its effect commits, idempotency records it), then
                       drop the connection: the client sees a disconnect, not a response
``drop_before_commit`` drop the connection; nothing runs
``malformed``          run the request (effect commits), answer 200 with a truncated,
                       non-JSON body
=====================  ====================================================================

A rule matches on method (``"*"`` for any) and a path glob (:func:`fnmatch.fnmatchcase`,
e.g. ``"/v1/charges*"``). The ``/_sandbox/`` control API is never faulted. A "drop" over
a real socket sends the status line and headers and then closes the connection
mid-body (uvicorn would turn an exception before any byte into a 500); in-process
transports raise :class:`httpx.RemoteProtocolError`.
"""

from __future__ import annotations

import fnmatch
import itertools
import threading
from dataclasses import dataclass
from typing import Any, Literal

import anyio

from ._asgi import ASGIApp, Message, Receive, SandboxConnectionDropped, Scope, Send, send_error
from ._errors import SandboxError, rate_limited

__all__ = ["FAULT_KINDS", "FaultInjector", "FaultKind", "FaultMiddleware", "FaultRule"]

FaultKind = Literal[
    "status", "rate_limit", "delay", "commit_then_drop", "drop_before_commit", "malformed"
]
FAULT_KINDS: tuple[str, ...] = (
    "status",
    "rate_limit",
    "delay",
    "commit_then_drop",
    "drop_before_commit",
    "malformed",
)
_rule_ids = itertools.count(1)


@dataclass(slots=True)
class FaultRule:
    """One armed fault. ``count`` is how many more matching calls it affects."""

    kind: FaultKind
    method: str = "*"
    path: str = "*"
    count: int = 1
    status: int = 500
    delay_s: float = 1.0
    retry_after: int = 1
    id: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        if self.count < 1:
            raise ValueError("count must be >= 1")
        if self.kind == "status" and not 400 <= self.status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        if self.delay_s < 0:
            raise ValueError("delay_s must be >= 0")
        self.method = self.method.upper()
        if not self.id:
            self.id = next(_rule_ids)

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method)) and fnmatch.fnmatchcase(path, self.path)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "method": self.method,
            "path": self.path,
            "count": self.count,
            "status": self.status,
            "delay_s": self.delay_s,
            "retry_after": self.retry_after,
        }


class FaultInjector:
    """Armed rules, consumed first-armed-first."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def arm(self, kind: FaultKind, **options: Any) -> FaultRule:
        """Convenience: ``state.faults.arm("status", path="/v1/charges", status=503)``."""
        return self.add(FaultRule(kind, **options))

    def take(self, method: str, path: str) -> FaultRule | None:
        """The first rule matching the call, its count decremented (removed at 0)."""
        if not self._rules:
            return None
        with self._lock:
            for i, rule in enumerate(self._rules):
                if rule.matches(method, path):
                    rule.count -= 1
                    if rule.count == 0:
                        del self._rules[i]
                    return rule
        return None

    def list(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()


async def _drop(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
        }
    )
    raise SandboxConnectionDropped("connection dropped by an injected fault")


class FaultMiddleware:
    """Pure-ASGI middleware applying :class:`FaultInjector` rules."""

    def __init__(self, app: ASGIApp, faults: FaultInjector) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox/"):
            await self.app(scope, receive, send)
            return
        rule = self.faults.take(scope["method"], scope["path"])
        if rule is None:
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["cloverpay.fault"] = rule.kind
        kind = rule.kind
        if kind == "status":
            err = SandboxError(
                rule.status,
                "api_error",
                "processing_error",
                f"Injected fault: HTTP {rule.status}",
            )
            await send_error(send, scope, err)
        elif kind == "rate_limit":
            err = rate_limited(
                rule.retry_after,
                {"X-RateLimit-tokenLimit": "16", "X-RateLimit-tokenConcurrentLimit": "5"},
            )
            await send_error(send, scope, err)
        elif kind == "delay":
            await anyio.sleep(rule.delay_s)
            await self.app(scope, receive, send)
        elif kind == "drop_before_commit":
            await _drop(send)
        elif kind == "commit_then_drop":

            async def swallow(message: Message) -> None:
                return None

            await self.app(scope, receive, swallow)
            await _drop(send)
        else:  # malformed
            captured: list[bytes] = []

            async def capture(message: Message) -> None:
                if message["type"] == "http.response.body":
                    captured.append(message.get("body", b""))

            await self.app(scope, receive, capture)
            full = b"".join(captured)
            body = full[: max(1, len(full) // 2)] if len(full) > 2 else b'{"id": "'
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
