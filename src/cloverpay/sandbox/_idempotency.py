"""Idempotent requests (spec §13.4).

Applies to every ``POST`` carrying an ``idempotency-key`` header. Keys are scoped per
merchant (resolved from the bearer token or PAKMS key) and path. The request is
fingerprinted by method, path and the canonical JSON of its body (sorted keys, no
whitespace), so key order and spacing do not matter.

* First use: the request runs. Its response is stored if it succeeded (2xx) or if the
  route committed a change before failing (a declined charge is stored as ``failed``,
  so retrying the decline replays it). Validation errors are not stored: the caller
  may fix the body and reuse the key.
* Same key, same body: the stored response is replayed byte for byte (same status and
  body) with the extra header ``Idempotent-Replayed: true``.
* Same key, another body: ``idempotency_error``, status 400 by default or 409
  (``SandboxConfig.idempotency_conflict_status``; Clover does not document it [G]).
* Same key while the first request is still running: 409 ``idempotency_error``; the
  second request never executes.
* Keys expire after ``SandboxConfig.idempotency_ttl_s`` seconds of the sandbox clock [G];
  expired entries are dropped as new requests arrive, so memory follows one TTL of
  traffic.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ._asgi import ASGIApp, Message, Receive, Scope, Send, header, send_error, send_raw
from ._errors import idempotency_error

if TYPE_CHECKING:
    from ._state import SandboxState

__all__ = ["IdempotencyMiddleware", "IdempotencyStore", "fingerprint"]

_Key = tuple[str, str, str]


def fingerprint(method: str, path: str, parsed: Any, raw: bytes) -> str:
    """sha256 over method, path and canonical JSON (or the raw bytes if not JSON)."""
    h = hashlib.sha256(f"{method} {path}\n".encode())
    if parsed is not None:
        h.update(json.dumps(parsed, sort_keys=True, separators=(",", ":")).encode())
    else:
        h.update(raw)
    return h.hexdigest()


@dataclass(slots=True)
class _Entry:
    fingerprint: str
    created_s: float
    done: bool = False
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""


class IdempotencyStore:
    """Keys -> first response. Thread-safe."""

    def __init__(self) -> None:
        self._entries: dict[_Key, _Entry] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def begin(
        self, key: _Key, fp: str, now_s: float, ttl_s: float
    ) -> tuple[Literal["execute", "replay", "conflict", "in_progress"], _Entry | None]:
        with self._lock:
            self._expire(now_s, ttl_s)
            entry = self._entries.get(key)
            if entry is not None and entry.done and now_s - entry.created_s > ttl_s:
                del self._entries[key]  # re-inserted below, at the young end
                entry = None
            if entry is None:
                self._entries[key] = _Entry(fp, now_s)
                return "execute", None
            if not entry.done:
                return "in_progress", None
            if entry.fingerprint != fp:
                return "conflict", None
            return "replay", entry

    def _expire(self, now_s: float, ttl_s: float, budget: int = 8) -> None:
        """Drop up to ``budget`` expired entries from the oldest end (dicts keep insertion
        order and the sandbox clock only moves forward), so the store stays bounded by
        the traffic of one TTL at O(1) amortised cost per request."""
        entries = self._entries
        for _ in range(budget):
            if not entries:
                return
            oldest_key = next(iter(entries))
            oldest = entries[oldest_key]
            if not oldest.done or now_s - oldest.created_s <= ttl_s:
                return
            del entries[oldest_key]

    def finish(
        self, key: _Key, status: int, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.done, entry.status, entry.headers, entry.body = True, status, headers, body

    def abandon(self, key: _Key) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and not entry.done:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _merchant_scope(state: SandboxState, scope: Scope) -> str:
    auth = header(scope, b"authorization")
    if auth and auth[:7].lower() == "bearer ":
        m = state.merchant_for_token(auth[7:].strip())
        if m is not None:
            return m.merchant_id
    key = header(scope, b"apikey")
    if key:
        m = state.merchant_for_api_key(key.strip())
        if m is not None:
            return m.merchant_id
    return "-"


class IdempotencyMiddleware:
    """Pure-ASGI middleware; runs inside the body middleware (needs the parsed body)."""

    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        ikey = header(scope, b"idempotency-key")
        if not ikey or scope["path"].startswith("/_sandbox/"):
            await self.app(scope, receive, send)
            return
        state = self.state
        sstate = scope.setdefault("state", {})
        sstate["cloverpay.idempotency_key"] = ikey
        key = (_merchant_scope(state, scope), scope["path"], ikey)
        fp = fingerprint(
            "POST", scope["path"], sstate.get("cloverpay.json"), sstate.get("cloverpay.body", b"")
        )
        verdict, entry = state.idempotency.begin(
            key, fp, state.clock.now(), state.config.idempotency_ttl_s
        )
        if verdict == "replay":
            assert entry is not None
            sstate["cloverpay.replayed"] = True
            await send_raw(
                send, entry.status, [*entry.headers, (b"idempotent-replayed", b"true")], entry.body
            )
            return
        if verdict == "conflict":
            await send_error(
                send,
                scope,
                idempotency_error(
                    f"Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with; idempotency-key '{ikey}' was first used with "
                    f"another body",
                    state.config.idempotency_conflict_status,
                ),
            )
            return
        if verdict == "in_progress":
            await send_error(
                send,
                scope,
                idempotency_error(
                    f"Another request with idempotency-key '{ikey}' is still in progress; "
                    f"retry after it completes",
                    409,
                ),
            )
            return

        status = 0
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, capture)
        except BaseException:
            if sstate.get("cloverpay.committed"):
                state.idempotency.finish(key, status or 500, headers, b"".join(chunks))
            else:
                state.idempotency.abandon(key)
            raise
        if 200 <= status < 300 or sstate.get("cloverpay.committed"):
            state.idempotency.finish(key, status, headers, b"".join(chunks))
        else:
            state.idempotency.abandon(key)
