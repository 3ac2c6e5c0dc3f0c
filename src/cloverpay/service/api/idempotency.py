"""``Idempotency-Key`` on every POST of our API (pure ASGI middleware).

Keys are scoped per merchant (from the API key). The request is fingerprinted by
method, path and body. The row is inserted first (unique (merchant, key): concurrent
duplicates lose at the constraint), the request runs, and its response is stored if it
executed: 2xx (including 202 "outcome unknown") and 402 (a decline is a result).
Other 4xx and 5xx responses delete the row so the caller may fix and retry.

* same key, same request, finished: the stored response is replayed
  (``Idempotent-Replayed: true``);
* same key, other request: 409 ``idempotency_key_reused``;
* same key while the first is running: 409 ``idempotency_request_in_progress``;
  a row left ``in_progress`` longer than ``STALE_AFTER`` (a crashed process) is taken over.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any, Literal

from anyio import to_thread
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloverpay.service.api.errors import error_body
from cloverpay.service.db import IdempotencyKey
from cloverpay.service.errors import ServiceError
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.merchants import authenticate

__all__ = ["IdempotencyMiddleware"]

STALE_AFTER = timedelta(minutes=5)
MAX_KEY_LENGTH = 255
_STORED = frozenset({200, 201, 202, 402})

Decision = Literal["execute", "replay", "conflict", "in_progress"]


def _fingerprint(method: str, path: str, body: bytes) -> str:
    h = hashlib.sha256(f"{method} {path}\n".encode())
    try:
        h.update(json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode())
    except ValueError:
        h.update(body)
    return h.hexdigest()


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(raw)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": raw})


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, ctx: ServiceContext) -> None:
        self.app = app
        self.ctx = ctx

    def _merchant(self, authorization: str) -> str | None:
        scheme, _, secret = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secret:
            return None
        try:
            with self.ctx.sessions() as s:
                return authenticate(s, secret.strip()).merchant_id
        except ServiceError:
            return None

    def _begin(
        self, merchant_id: str, key: str, fp: str, method: str, path: str
    ) -> tuple[Decision, IdempotencyKey | None]:
        now = self.ctx.now()
        try:
            with self.ctx.sessions.begin() as s:
                s.add(
                    IdempotencyKey(
                        merchant_id=merchant_id,
                        key=key,
                        method=method,
                        path=path,
                        request_fingerprint=fp,
                        created_at=now,
                    )
                )
            return "execute", None
        except IntegrityError:
            pass
        with self.ctx.sessions.begin() as s:
            row = s.scalar(
                select(IdempotencyKey)
                .where(IdempotencyKey.merchant_id == merchant_id, IdempotencyKey.key == key)
                .with_for_update()
            )
            if row is None:  # deleted meanwhile: let the caller retry
                return "in_progress", None
            if row.request_fingerprint != fp:
                return "conflict", row
            if row.status == "done":
                return "replay", row
            if row.created_at < now - STALE_AFTER:
                row.created_at = now  # the first holder died: take it over
                return "execute", None
            return "in_progress", row

    def _finish(self, merchant_id: str, key: str, status: int, body: bytes, ctype: str) -> None:
        with self.ctx.sessions.begin() as s:
            if status in _STORED:
                row = s.scalar(
                    select(IdempotencyKey).where(
                        IdempotencyKey.merchant_id == merchant_id, IdempotencyKey.key == key
                    )
                )
                if row is not None:
                    row.status = "done"
                    row.response_status = status
                    row.response_body = body
                    row.response_content_type = ctype
                    row.completed_at = self.ctx.now()
            else:
                s.execute(
                    delete(IdempotencyKey).where(
                        IdempotencyKey.merchant_id == merchant_id, IdempotencyKey.key == key
                    )
                )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        key = headers.get("idempotency-key")
        if key is None:
            await self.app(scope, receive, send)
            return
        if not key.strip() or len(key) > MAX_KEY_LENGTH:
            await _send_json(
                send,
                400,
                error_body(
                    "invalid_request_error",
                    "parameter_invalid",
                    f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} characters",
                    "Idempotency-Key",
                ),
            )
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = bool(message.get("more_body"))
        body = b"".join(chunks)
        replayed = False

        async def replay_receive() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        merchant_id = await to_thread.run_sync(self._merchant, headers.get("authorization", ""))
        if merchant_id is None:  # the route answers 401 in the one shape
            await self.app(scope, replay_receive, send)
            return
        path = scope["path"]
        fp = _fingerprint("POST", path, body)
        decision, row = await to_thread.run_sync(self._begin, merchant_id, key, fp, "POST", path)
        if decision == "conflict":
            await _send_json(
                send,
                409,
                error_body(
                    "conflict_error",
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with another request",
                    "Idempotency-Key",
                ),
            )
            return
        if decision == "in_progress":
            await _send_json(
                send,
                409,
                error_body(
                    "conflict_error",
                    "idempotency_request_in_progress",
                    "a request with this Idempotency-Key is still running; retry later",
                    "Idempotency-Key",
                ),
            )
            return
        if decision == "replay":
            assert row is not None
            assert row.response_status is not None
            raw = row.response_body or b""
            await send(
                {
                    "type": "http.response.start",
                    "status": row.response_status,
                    "headers": [
                        (b"content-type", (row.response_content_type or "").encode()),
                        (b"content-length", str(len(raw)).encode()),
                        (b"idempotent-replayed", b"true"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": raw})
            return
        status = 500
        ctype = "application/json"
        captured: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, ctype
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for k, v in message.get("headers", []):
                    if k.lower() == b"content-type":
                        ctype = v.decode("latin-1")
            elif message["type"] == "http.response.body":
                captured.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_receive, capture)
        finally:
            await to_thread.run_sync(
                self._finish, merchant_id, key, status, b"".join(captured), ctype
            )
