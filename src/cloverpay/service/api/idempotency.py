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

A route may store its answer itself, in its own last transaction (:class:`StoredAnswer`,
e.g. the pay route in the transaction that settles the payment): the row then becomes
``done`` together with the work it answers, and the middleware, seeing that the response
sent is the one stored, writes nothing more. A route may also store it in a statement of
its own after its work committed (:meth:`StoredAnswer.write_alone`, the create route):
the same write the middleware would make, from the route's worker thread. Any other
response (an error raised after, another status or body) is stored or deleted by the
middleware as before.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any, Literal

from anyio import to_thread
from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloverpay.service.api.errors import error_body
from cloverpay.service.db import IdempotencyKey, one_statement
from cloverpay.service.errors import ServiceError
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.merchants import Principal, authenticate_cached

__all__ = ["ANSWER_STATE", "PRINCIPAL_STATE", "IdempotencyMiddleware", "StoredAnswer"]

#: Where the middleware leaves the request's authenticated principal (``scope["state"]``).
PRINCIPAL_STATE = "cloverpay_principal"
#: Where it leaves the request's :class:`StoredAnswer` (a POST with an Idempotency-Key).
ANSWER_STATE = "cloverpay_idempotency"

STALE_AFTER = timedelta(minutes=5)
MAX_KEY_LENGTH = 255
_STORED = frozenset({200, 201, 202, 402})

Decision = Literal["execute", "replay", "conflict", "in_progress"]

# Built once, bound at execution.
_CLAIM = insert(IdempotencyKey)
_MINE = (IdempotencyKey.merchant_id == bindparam("m"), IdempotencyKey.key == bindparam("k"))
_ANSWER = update(IdempotencyKey).where(*_MINE).values(status="done")
_FORGET = delete(IdempotencyKey).where(*_MINE)


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


class StoredAnswer:
    """The running request's Idempotency-Key row, for a route to store its answer in a
    transaction of its own work (one UPDATE there instead of a transaction after)."""

    def __init__(self, ctx: ServiceContext, merchant_id: str, key: str) -> None:
        self.ctx = ctx
        self.merchant_id = merchant_id
        self.key = key
        #: (status, body) written, once the caller's transaction has run the UPDATE. If
        #: that transaction does not commit, the route raises and answers otherwise,
        #: so the middleware (which compares) stores or deletes the row itself.
        self.written: tuple[int, bytes] | None = None

    def write_alone(self, response: Response) -> None:
        """Store ``response`` in a statement of its own, after the route's work
        committed: what the middleware would do once the response is sent, done in the
        route's worker thread instead of another hand-off to one. A failure is left to
        the middleware, which tries again as before (the work is committed either way)."""
        if response.status_code not in _STORED:
            return
        try:
            with one_statement(self.ctx.engine) as conn:
                self._update(conn, response)
        except Exception:  # the middleware stores it (or fails) as before
            return
        self.written = (response.status_code, bytes(response.body))

    def _update(self, conn: Connection, response: Response) -> None:
        conn.execute(
            _ANSWER,
            {
                "m": self.merchant_id,
                "k": self.key,
                "response_status": response.status_code,
                "response_body": bytes(response.body),
                "response_content_type": response.media_type or "application/json",
                "completed_at": self.ctx.now(),
            },
        )

    def write(self, session: Session, response: Response) -> None:
        """Store ``response`` (sent as it is) in ``session``'s transaction; statuses
        that are not stored are left to the middleware."""
        status = response.status_code
        if status not in _STORED:
            return
        # a Core statement on the session's connection (the ORM's bulk UPDATE costs more)
        self._update(session.connection(), response)
        self.written = (status, bytes(response.body))


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, ctx: ServiceContext) -> None:
        self.app = app
        self.ctx = ctx

    def _begin(
        self, authorization: str, key: str, fp: str, method: str, path: str
    ) -> tuple[Principal | None, Decision, IdempotencyKey | None]:
        """Authenticate (a cached look-up, :func:`authenticate_cached`) and claim the key:
        one INSERT that is its own transaction. No principal: the route answers 401."""
        scheme, _, secret = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return None, "execute", None
        now = self.ctx.now()
        try:
            principal = authenticate_cached(self.ctx, secret.strip())
        except ServiceError:
            return None, "execute", None
        try:
            with one_statement(self.ctx.engine) as conn:
                conn.execute(
                    _CLAIM,
                    {
                        "merchant_id": principal.merchant_id,
                        "key": key,
                        "method": method,
                        "path": path,
                        "request_fingerprint": fp,
                        "status": "in_progress",
                        "created_at": now,
                    },
                )
            return principal, "execute", None
        except IntegrityError:
            pass
        with self.ctx.sessions.begin() as s:
            row = s.scalar(
                select(IdempotencyKey)
                .where(
                    IdempotencyKey.merchant_id == principal.merchant_id,
                    IdempotencyKey.key == key,
                )
                .with_for_update()
            )
            if row is None:  # deleted meanwhile: let the caller retry
                return principal, "in_progress", None
            if row.request_fingerprint != fp:
                return principal, "conflict", row
            if row.status == "done":
                return principal, "replay", row
            if row.created_at < now - STALE_AFTER:
                row.created_at = now  # the first holder died: take it over
                return principal, "execute", None
            return principal, "in_progress", row

    def _finish(self, merchant_id: str, key: str, status: int, body: bytes, ctype: str) -> None:
        mine = {"m": merchant_id, "k": key}
        with one_statement(self.ctx.engine) as conn:
            if status in _STORED:
                conn.execute(
                    _ANSWER,
                    {
                        **mine,
                        "response_status": status,
                        "response_body": body,
                        "response_content_type": ctype,
                        "completed_at": self.ctx.now(),
                    },
                )
            else:
                conn.execute(_FORGET, mine)

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

        path = scope["path"]
        fp = _fingerprint("POST", path, body)
        principal, decision, row = await to_thread.run_sync(
            self._begin, headers.get("authorization", ""), key, fp, "POST", path
        )
        if principal is None:  # the route answers 401 in the one shape
            await self.app(scope, replay_receive, send)
            return
        merchant_id = principal.merchant_id
        # The route's CurrentPrincipal takes it from here instead of a second look-up.
        state = scope.setdefault("state", {})
        state[PRINCIPAL_STATE] = principal
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
        stored = StoredAnswer(self.ctx, merchant_id, key)
        state[ANSWER_STATE] = stored
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
            sent = b"".join(captured)
            if stored.written != (status, sent):
                await to_thread.run_sync(self._finish, merchant_id, key, status, sent, ctype)
