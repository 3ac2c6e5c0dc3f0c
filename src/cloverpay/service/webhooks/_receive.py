"""The receivers: store first, answer 200 fast (RELIABILITY rule 6).

``POST /webhooks/clover/app`` takes Clover app webhooks (``X-Clover-Auth``) and the
``{"verificationCode"}`` handshake; ``POST /webhooks/clover/checkout/{merchant_id}``
takes a merchant's Hosted Checkout webhooks (``Clover-Signature``). Neither uses an API
key. Each request is verified, then inserted into ``webhook_inbox`` with its raw body,
its headers (secrets redacted) and the verification result; ``event_key`` is unique and
the insert is ``ON CONFLICT DO NOTHING``, so a redelivery is recognised by the database.
Nothing else happens here: the worker applies effects later (:mod:`._process`).

The key starts with ``v`` or ``u`` (verified or not), so a forged request that reuses a
real event's ids can never take the key of the genuine delivery.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from cloverpay.api import (
    APP_AUTH_HEADER,
    CHECKOUT_SIGNATURE_HEADER,
    VerificationRequest,
    WebhookError,
    parse_app_webhook,
    parse_checkout_event,
    verify_app_webhook,
    verify_checkout_signature,
)
from cloverpay.service.db import Merchant, WebhookInbox
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.webhooks._config import (
    SOURCE_APP,
    SOURCE_APP_VERIFICATION,
    SOURCE_CHECKOUT,
    checkout_signing_secret,
)

__all__ = [
    "MAX_BODY",
    "GroupCommit",
    "Receipt",
    "redact_webhook_headers",
    "router",
    "store_receipt",
    "store_receipts",
]

router = APIRouter(include_in_schema=False)

MAX_BODY = 256 * 1024
#: Header values never stored (lower case). ``Clover-Signature`` is kept: it is a MAC of
#: the body, not a secret, and lets a person re-check the delivery.
SECRET_HEADERS = frozenset(
    {APP_AUTH_HEADER.lower(), "authorization", "cookie", "proxy-authorization", "x-api-key"}
)


@dataclass(frozen=True, slots=True)
class Receipt:
    source: str
    event_key: str
    merchant_id: str | None
    headers_json: str
    body: bytes
    verified: bool
    verification_error: str | None


def redact_webhook_headers(headers: Mapping[str, str]) -> str:
    clean = {
        k.lower(): ("[redacted]" if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()
    }
    return json.dumps(clean, sort_keys=True)


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _key(source: str, verified: bool, natural: str | None, body: bytes) -> str:
    key = f"{source}:{'v' if verified else 'u'}:{natural or 'sha256=' + _digest(body)}"
    return key if len(key) <= 200 else f"{source}:{'v' if verified else 'u'}:h={_digest(body)}"


def _values(ctx: ServiceContext, receipt: Receipt) -> dict[str, Any]:
    return {
        "source": receipt.source,
        "event_key": receipt.event_key,
        "merchant_id": receipt.merchant_id,
        "headers_json": receipt.headers_json,
        "body": receipt.body,
        "verified": receipt.verified,
        "verification_error": receipt.verification_error,
        "status": "received",
        "attempts": 0,
        "received_at": ctx.now(),
    }


def store_receipts(ctx: ServiceContext, receipts: list[Receipt]) -> list[bool]:
    """Insert receipts in one statement and one commit; for each, False when its
    ``event_key`` was stored already (a redelivery, or an earlier copy in this batch)."""
    first: dict[str, int] = {}
    for i, r in enumerate(receipts):
        first.setdefault(r.event_key, i)
    rows = [_values(ctx, receipts[i]) for i in first.values()]
    if ctx.dialect == "postgresql":
        stmt: Any = pg_insert(WebhookInbox).values(rows).on_conflict_do_nothing()
    elif ctx.dialect == "sqlite":
        stmt = sqlite_insert(WebhookInbox).values(rows).on_conflict_do_nothing()
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        stmt = insert(WebhookInbox).values(rows)
    with ctx.engine.begin() as conn:
        inserted = set(conn.execute(stmt.returning(WebhookInbox.event_key)).scalars())
    return [first[r.event_key] == i and r.event_key in inserted for i, r in enumerate(receipts)]


def store_receipt(ctx: ServiceContext, receipt: Receipt) -> bool:
    """Insert one receipt; False when its ``event_key`` is stored already."""
    return store_receipts(ctx, [receipt])[0]


class GroupCommit:
    """Receipts of concurrent requests written together: one INSERT and one commit (one
    WAL flush) per batch instead of per request. A request is answered only after the
    commit that holds its row; a failed commit fails every request of the batch (Clover
    redelivers). One writer thread per app; it ends when idle and restarts on demand."""

    MAX_BATCH = 256

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self._cond = threading.Condition()
        self._queue: list[tuple[Receipt, asyncio.Future[bool]]] = []
        self._thread: threading.Thread | None = None

    async def store(self, receipt: Receipt) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        with self._cond:
            self._queue.append((receipt, future))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="cloverpay-webhook-intake", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        return await future

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._queue:
                    self._cond.wait(timeout=30.0)
                if not self._queue:  # idle: end; the next request starts another
                    self._thread = None
                    return
                batch = self._queue[: self.MAX_BATCH]
                del self._queue[: self.MAX_BATCH]
            try:
                results = store_receipts(self.ctx, [r for r, _ in batch])
            except Exception as exc:  # the database: every request of the batch fails
                for _, fut in batch:
                    fut.get_loop().call_soon_threadsafe(_settle, fut, None, exc)
                continue
            for (_, fut), stored in zip(batch, results, strict=True):
                fut.get_loop().call_soon_threadsafe(_settle, fut, stored, None)


def _settle(fut: asyncio.Future[bool], value: bool | None, exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(bool(value))


def _group_commit(request: Request) -> GroupCommit:
    state = request.app.state
    writer: GroupCommit | None = getattr(state, "webhook_group_commit", None)
    if writer is None:
        writer = state.webhook_group_commit = GroupCommit(_ctx(request))
    return writer


def app_receipt(ctx: ServiceContext, body: bytes, headers: Mapping[str, str]) -> Receipt:
    try:
        parsed = parse_app_webhook(body)
    except WebhookError:
        parsed = None
    if isinstance(parsed, VerificationRequest):
        # The handshake carries no auth by design; it changes nothing, it is only shown.
        return Receipt(
            SOURCE_APP_VERIFICATION,
            _key(SOURCE_APP_VERIFICATION, False, parsed.verification_code[:100], body),
            None,
            redact_webhook_headers(headers),
            body,
            False,
            "verification handshake (unauthenticated by design)",
        )
    error: str | None = None
    code = ctx.settings.clover_app_auth_code
    if code is None:
        error = "no Clover Auth Code configured (CLOVERPAY_CLOVER_APP_AUTH_CODE)"
    else:
        try:
            verify_app_webhook(headers.get(APP_AUTH_HEADER), code.get_secret_value())
        except WebhookError as exc:
            error = str(exc)
    verified = error is None
    return Receipt(
        SOURCE_APP,
        _key(SOURCE_APP, verified, None, body),
        None,
        redact_webhook_headers(headers),
        body,
        verified,
        error,
    )


#: Per engine: merchant id -> (monotonic expiry, known merchant?, secret or None).
_SECRETS: weakref.WeakKeyDictionary[Engine, dict[str, tuple[float, bool, str | None]]] = (
    weakref.WeakKeyDictionary()
)
SECRET_TTL_S = 10.0
_lock = threading.Lock()


def merchant_secret(ctx: ServiceContext, merchant_id: str) -> tuple[bool, str | None]:
    """(is a merchant of ours, its signing secret), cached for :data:`SECRET_TTL_S`: a
    secret changed in another process is used within that time (this process's own
    :func:`forget_secret` is immediate). Saves two queries and a decryption per request."""
    now = time.monotonic()
    with _lock:
        cached = _SECRETS.setdefault(ctx.engine, {}).get(merchant_id)
    if cached is not None and cached[0] > now:
        return cached[1], cached[2]
    with ctx.sessions() as s:
        known = s.get(Merchant, merchant_id) is not None
    secret = checkout_signing_secret(ctx, merchant_id) if known else None
    if known:
        with _lock:
            _SECRETS[ctx.engine][merchant_id] = (now + SECRET_TTL_S, known, secret)
    return known, secret


def forget_secret(ctx: ServiceContext, merchant_id: str) -> None:
    with _lock:
        _SECRETS.get(ctx.engine, {}).pop(merchant_id, None)


def checkout_receipt(
    ctx: ServiceContext, merchant_id: str, body: bytes, headers: Mapping[str, str]
) -> Receipt:
    _known, secret = merchant_secret(ctx, merchant_id)
    error: str | None = None
    if secret is None:
        error = "no Hosted Checkout signing secret configured for this merchant"
    else:
        try:
            verify_checkout_signature(
                body,
                headers.get(CHECKOUT_SIGNATURE_HEADER),
                secret,
                tolerance=ctx.settings.webhook_tolerance_s,
                now=ctx.now().replace(tzinfo=UTC).timestamp(),
            )
        except WebhookError as exc:
            error = str(exc)
    natural: str | None
    try:
        event = parse_checkout_event(body)
        natural = f"{event.merchant_id}:{event.data}:{event.id}:{event.status}"
    except WebhookError:
        natural = None
    verified = error is None
    return Receipt(
        SOURCE_CHECKOUT,
        _key(SOURCE_CHECKOUT, verified, natural, body),
        merchant_id,
        redact_webhook_headers(headers),
        body,
        verified,
        error,
    )


def _ctx(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


def _answer(stored: bool, receipt: Receipt) -> JSONResponse:
    return JSONResponse(
        {"received": True, "duplicate": not stored, "verified": receipt.verified},
        status_code=200 if receipt.verified or receipt.source == SOURCE_APP_VERIFICATION else 202,
    )


def error_body(type_: str, code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """The service's one error shape (as ``api.errors``, not imported: no cycle)."""
    return {"error": {"type": type_, "code": code, "message": message, "field": field}}


def _too_large() -> JSONResponse:
    return JSONResponse(
        error_body("invalid_request_error", "body_too_large", f"at most {MAX_BODY} bytes"),
        status_code=413,
    )


@router.post("/webhooks/clover/app")
async def receive_app(request: Request) -> JSONResponse:
    body = await request.body()
    if len(body) > MAX_BODY:
        return _too_large()
    ctx = _ctx(request)

    receipt = await run_in_threadpool(app_receipt, ctx, body, request.headers)
    return _answer(await _group_commit(request).store(receipt), receipt)


@router.post("/webhooks/clover/checkout/{merchant_id}")
async def receive_checkout(request: Request, merchant_id: str) -> JSONResponse:
    body = await request.body()
    if len(body) > MAX_BODY:
        return _too_large()
    ctx = _ctx(request)

    def work() -> Receipt | None:
        if not merchant_secret(ctx, merchant_id)[0]:
            return None
        return checkout_receipt(ctx, merchant_id, body, request.headers)

    receipt = await run_in_threadpool(work)
    if receipt is None:
        return JSONResponse(
            error_body("not_found_error", "not_found", "no such receiver", "merchant_id"),
            status_code=404,
        )
    return _answer(await _group_commit(request).store(receipt), receipt)
