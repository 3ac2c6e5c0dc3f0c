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
sent is the one stored, writes nothing more. Any other response (an error raised after,
another status or body) is stored or deleted by the middleware as before.

Creating and paying an invoice claim the key in their own first write transaction
instead (:mod:`~cloverpay.service.api.stored_answer`): no claim of its own before the
route, and an error answered before anything committed writes nothing at all.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any, Literal

from anyio import to_thread
from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloverpay.service.api.errors import error_body
from cloverpay.service.api.stored_answer import (
    CLAIMED_BY_ROUTE,
    STORED_STATUSES,
    ClaimTaken,
    StoredAnswer,
    claim_values,
    claiming,
)
from cloverpay.service.db import IdempotencyKey, one_statement
from cloverpay.service.errors import ServiceError
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.merchants import (
    Principal,
    authenticate_cached,
    cached_principal,
)

__all__ = ["ANSWER_STATE", "PRINCIPAL_STATE", "IdempotencyMiddleware", "StoredAnswer"]

#: Where the middleware leaves the request's authenticated principal (``scope["state"]``).
PRINCIPAL_STATE = "cloverpay_principal"
#: Where it leaves the request's :class:`StoredAnswer` (a POST with an Idempotency-Key).
ANSWER_STATE = "cloverpay_idempotency"

STALE_AFTER = timedelta(minutes=5)
MAX_KEY_LENGTH = 255
_STORED = STORED_STATUSES

Decision = Literal["execute", "replay", "conflict", "in_progress"]

# Built once, bound at execution.
_CLAIM = insert(IdempotencyKey)
_MINE = (IdempotencyKey.merchant_id == bindparam("m"), IdempotencyKey.key == bindparam("k"))
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


def _conflict(code: str, message: str) -> dict[str, Any]:
    return error_body("conflict_error", code, message, "Idempotency-Key")


class _Capture:
    """The route's response as it is sent on: status, content type, body."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False
        self.status = 500
        self.ctype = "application/json"
        self.chunks: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = int(message["status"])
            for k, v in message.get("headers", []):
                if k.lower() == b"content-type":
                    self.ctype = v.decode("latin-1")
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))
        await self.send(message)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """``receive`` with the request body (read by the middleware) given first."""
    replayed = False

    async def replay_receive() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay_receive


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, ctx: ServiceContext) -> None:
        self.app = app
        self.ctx = ctx

    def _authenticate(self, authorization: str) -> Principal | None:
        """The API key's merchant (a cached look-up, :func:`authenticate_cached`); None
        without a usable key (the route answers 401 in the one shape)."""
        scheme, _, secret = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return None
        try:
            return authenticate_cached(self.ctx, secret.strip())
        except ServiceError:
            return None

    async def _principal(self, authorization: str) -> Principal | None:
        """:meth:`_authenticate`, without a worker thread when the key is cached."""
        scheme, _, secret = authorization.partition(" ")
        if scheme.lower() == "bearer" and secret.strip():
            cached = cached_principal(self.ctx, secret.strip())
            if cached is not None:
                return cached
        return await to_thread.run_sync(self._authenticate, authorization)

    def _begin(
        self, authorization: str, key: str, fp: str, method: str, path: str
    ) -> tuple[Principal | None, Decision, IdempotencyKey | None]:
        """Authenticate and claim the key: one INSERT that is its own transaction; a key
        held already is read (locked) to decide. No principal: the route answers 401."""
        principal = self._authenticate(authorization)
        if principal is None:
            return None, "execute", None
        now = self.ctx.now()
        try:
            with one_statement(self.ctx.engine) as conn:
                conn.execute(
                    _CLAIM, claim_values(principal.merchant_id, key, method, path, fp, now)
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

    def _finish(self, stored: StoredAnswer, status: int, body: bytes, ctype: str) -> None:
        """Store the answer (a stored status) or give the key back (any other): on the
        claimed row; a key the route never claimed (nothing committed) gets its row
        now, answered, if the answer is one that is stored."""
        with one_statement(self.ctx.engine) as conn:
            if stored.claimed:
                if status in _STORED:
                    stored.answer(conn, status, body, ctype)
                else:
                    conn.execute(_FORGET, {"m": stored.merchant_id, "k": stored.key})
                return
            assert stored.claim is not None
            row = {
                **stored.claim,
                "status": "done",
                "response_status": status,
                "response_body": body,
                "response_content_type": ctype,
                "completed_at": self.ctx.now(),
            }
            try:
                conn.execute(_CLAIM, row)
            except IntegrityError:  # claimed meanwhile by a retry: its answer stands
                return

    async def _run(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        principal: Principal,
        stored: StoredAnswer,
    ) -> bool:
        """Run the route under ``stored``'s key, then store its answer or give the key
        back. False: the route found the key held (it claims it itself) and sent
        nothing; the caller decides as for a key held before the route ran."""
        # The route's CurrentPrincipal takes it from here instead of a second look-up.
        state = scope.setdefault("state", {})
        state[PRINCIPAL_STATE] = principal
        state[ANSWER_STATE] = stored
        capture = _Capture(send)
        held = False
        try:
            with claiming(stored if stored.claim is not None else None):
                await self.app(scope, receive, capture)
        except ClaimTaken:
            if capture.started:
                raise
            held = True
        finally:
            if not held:
                sent = b"".join(capture.chunks)
                needed = stored.claimed or capture.status in _STORED
                if needed and stored.written != (capture.status, sent):
                    await to_thread.run_sync(
                        self._finish, stored, capture.status, sent, capture.ctype
                    )
        return not held

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
        path = scope["path"]
        fp = _fingerprint("POST", path, body)
        authorization = headers.get("authorization", "")
        if CLAIMED_BY_ROUTE.fullmatch(path):
            principal = await self._principal(authorization)
            if principal is None:  # the route answers 401 in the one shape
                await self.app(scope, _replaying(body, receive), send)
                return
            claim = claim_values(principal.merchant_id, key, "POST", path, fp, self.ctx.now())
            stored = StoredAnswer(self.ctx, principal.merchant_id, key, claim=claim)
            if await self._run(scope, _replaying(body, receive), send, principal, stored):
                return
            # the key was held: decided below as for any other route
        principal, decision, row = await to_thread.run_sync(
            self._begin, authorization, key, fp, "POST", path
        )
        if principal is None:  # the route answers 401 in the one shape
            await self.app(scope, _replaying(body, receive), send)
            return
        if decision == "conflict":
            reused = "this Idempotency-Key was used with another request"
            await _send_json(send, 409, _conflict("idempotency_key_reused", reused))
            return
        if decision == "in_progress":
            running = "a request with this Idempotency-Key is still running; retry later"
            await _send_json(send, 409, _conflict("idempotency_request_in_progress", running))
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
        stored = StoredAnswer(self.ctx, principal.merchant_id, key)
        await self._run(scope, _replaying(body, receive), send, principal, stored)
