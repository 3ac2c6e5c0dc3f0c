"""Sending operations: request building and answer reading (shared), plus the sync and
async retry loops (thin).

The httpx client (or a transport) comes from outside when the caller wants: that is
the seam tests use to mount the sandbox in-process or over a real socket.

Hot path per call: one dict copy of prebuilt headers, one ``httpx.Request``, one
``send``, one ``model_validate_json`` on the response bytes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import httpx

from cloverpay._redact import redact
from cloverpay.api._environments import Environment
from cloverpay.api._error_mapping import error_from_response, parse_retry_after
from cloverpay.api._errors import (
    APIConnectionError,
    APIError,
    ConfigurationError,
    MalformedResponseError,
    OutcomeUnknownError,
)
from cloverpay.api._limiter import AsyncLimiter, Limiter
from cloverpay.api._operation import Operation
from cloverpay.api._retry import RetryPolicy

__all__ = ["AsyncRunner", "RequestCore", "SyncRunner"]

T = TypeVar("T")
log = logging.getLogger("cloverpay.api")

# Raised before any byte left: always safe to retry. A reused keep-alive connection the
# server closes at the instant of reuse is not among them: httpcore swallows a failed
# write and reports RemoteProtocolError / ReadError once nothing comes back, exactly as
# when the server read the request, acted and dropped the connection; nothing tells
# the two apart, so it counts as sent (resent only with an idempotency key). Idle
# connections the server closed earlier are dropped by the pool before reuse.
_NOT_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)
# Our own mistakes or set-up problems: retrying cannot help.
_FATAL: tuple[type[Exception], ...] = (
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
    httpx.ProxyError,
    httpx.InvalidURL,
)


# After an attempt that may have acted, these answers to the retry suggest it did.
_ALREADY_DONE = frozenset(
    {
        "token_already_used",
        "order_already_paid",
        "charge_already_captured",
        "charge_already_refunded",
    }
)


class RequestCore:
    """Everything about a request that does not depend on sync vs async."""

    __slots__ = (
        "_base_headers",
        "_timeout_ext",
        "api_access_key",
        "client_ip",
        "environment",
        "merchant_id",
        "retry",
    )

    def __init__(
        self,
        *,
        environment: Environment,
        access_token: str | None,
        api_access_key: str | None,
        merchant_id: str | None,
        client_ip: str | None,
        user_agent: str,
        timeout: httpx.Timeout,
        retry: RetryPolicy,
    ) -> None:
        self.environment = environment
        self.api_access_key = api_access_key
        self.merchant_id = merchant_id
        self.client_ip = client_ip
        self.retry = retry
        self._base_headers = {
            "accept": "application/json",
            "accept-encoding": "gzip, deflate",
            "user-agent": user_agent,
        }
        if access_token:
            self._base_headers["authorization"] = "Bearer " + access_token
        self._timeout_ext = {"timeout": timeout.as_dict()}

    def build(self, op: Operation[Any]) -> httpx.Request:
        headers = self._base_headers.copy()
        if op.body is not None:
            headers["content-type"] = "application/json"
        if op.idempotency_key is not None:
            headers["idempotency-key"] = op.idempotency_key
        ip = op.client_ip or self.client_ip
        if ip:
            headers["x-forwarded-for"] = ip
        elif op.needs_client_ip:
            raise ConfigurationError(
                "Clover requires the payer's IP (x-forwarded-for) on charges and order "
                "payments: pass client_ip= to the call or to the client",
                param="client_ip",
            )
        if op.send_api_key:
            if not self.api_access_key:
                raise ConfigurationError(
                    "tokens need the PAKMS public key: pass api_access_key= to the client "
                    "(or call pakms.get() first)",
                    param="api_access_key",
                )
            headers["apikey"] = self.api_access_key
        if op.send_merchant_id:
            headers["x-clover-merchant-id"] = self.require_merchant_id()
        return httpx.Request(
            op.method,
            self.environment.url_for(op.service) + op.path,
            params=op.params,
            headers=headers,
            content=op.body,
            extensions=self._timeout_ext,
        )

    def derive(
        self,
        *,
        timeout: httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
        client_ip: str | None = None,
    ) -> RequestCore:
        """A copy with some settings replaced (credentials and hosts are kept)."""
        new = object.__new__(RequestCore)
        for name in RequestCore.__slots__:
            setattr(new, name, getattr(self, name))
        if timeout is not None:
            new._timeout_ext = {"timeout": timeout.as_dict()}
        if retry is not None:
            new.retry = retry
        if client_ip is not None:
            new.client_ip = client_ip
        return new

    def require_merchant_id(self) -> str:
        if not self.merchant_id:
            raise ConfigurationError(
                "this API needs merchant_id= on the client", param="merchant_id"
            )
        return self.merchant_id

    def parse(self, op: Operation[T], response: httpx.Response, attempts: int) -> T:
        """Decode a 2xx answer into the operation's model."""
        try:
            return op.parse(response.content)
        except ValueError as exc:  # pydantic.ValidationError is a ValueError
            if op.moves_money:
                raise OutcomeUnknownError(
                    f"{op.method} {op.path} answered {response.status_code} with a body that "
                    "could not be read; the operation may have taken effect",
                    idempotency_key=op.idempotency_key,
                    method=op.method,
                    url=op.path,
                    attempts=attempts,
                    http_status=response.status_code,
                ) from exc
            raise MalformedResponseError(
                f"{op.method} {op.path} answered {response.status_code} with a body that "
                f"could not be read: {type(exc).__name__}",
                http_status=response.status_code,
                idempotency_key=op.idempotency_key,
                method=op.method,
                url=op.path,
            ) from exc

    def error(self, op: Operation[Any], response: httpx.Response) -> APIError:
        return error_from_response(
            response.status_code,
            response.content,
            response.headers,
            method=op.method,
            url=op.path,
            idempotency_key=op.idempotency_key,
        )

    def give_up_status(
        self, op: Operation[Any], err: APIError, attempts: int, maybe_acted: bool
    ) -> NoReturn:
        """Raise the final error for an error answer.

        For a request that moves money, only a definitive answer (a 4xx other than 409
        and 429) proves nothing happened. A 5xx, or a 409/429 after an earlier attempt
        that may have acted, leaves the outcome unknown; so does an "already done" code
        (e.g. ``token_already_used``) after such an attempt, since that attempt is the
        likely one that did it.
        """
        status = err.http_status or 0
        if op.moves_money and (
            status >= 500 or (maybe_acted and (status in (409, 429) or err.code in _ALREADY_DONE))
        ):
            raise OutcomeUnknownError(
                f"{op.method} {op.path} failed with HTTP {status} after {attempts} "
                "attempt(s); the operation may have taken effect",
                idempotency_key=op.idempotency_key,
                method=op.method,
                url=op.path,
                attempts=attempts,
                http_status=status,
            ) from err
        raise err

    def give_up_transport(
        self, op: Operation[Any], exc: Exception, maybe_acted: bool, attempts: int
    ) -> NoReturn:
        """Raise the final error for a failed connection.

        ``maybe_acted``: this attempt or an earlier one may have reached Clover.
        """
        what = f"{op.method} {op.path}: {type(exc).__name__}"
        if (
            maybe_acted
            and op.method not in ("GET", "HEAD", "OPTIONS")
            and not op.replay_safe_override
        ):
            raise OutcomeUnknownError(
                f"{what} after the request may have reached Clover ({attempts} attempt(s)); "
                "the operation may have taken effect",
                idempotency_key=op.idempotency_key,
                method=op.method,
                url=op.path,
                attempts=attempts,
            ) from exc
        raise APIConnectionError(
            f"{what} ({attempts} attempt(s))",
            idempotency_key=op.idempotency_key,
            method=op.method,
            url=op.path,
            attempts=attempts,
        ) from exc


def _log_response(op: Operation[Any], response: httpx.Response, attempt: int) -> None:
    log.debug(
        "%s %s -> %s (attempt %d, idempotency_key=%s)",
        op.method,
        op.path,
        response.status_code,
        attempt,
        op.idempotency_key,
    )


class SyncRunner:
    """The retry loop over an ``httpx.Client``."""

    __slots__ = ("auth", "core", "http", "limiter", "sleep")

    def __init__(
        self,
        core: RequestCore,
        http: httpx.Client,
        *,
        auth: httpx.Auth | None,
        limiter: Limiter | None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.core = core
        self.http = http
        self.auth = auth
        self.limiter = limiter
        self.sleep = sleep

    def _send(self, request: httpx.Request) -> httpx.Response:
        if self.auth is not None:
            return self.http.send(request, auth=self.auth)
        return self.http.send(request)

    def request(self, op: Operation[T]) -> T:
        core = self.core
        request = core.build(op)
        attempt = 0
        maybe_acted = False  # has any attempt possibly reached Clover without an answer?
        while True:
            attempt += 1
            try:
                if self.limiter is None:
                    response = self._send(request)
                else:
                    with self.limiter.slot():
                        response = self._send(request)
            except _FATAL as exc:
                core.give_up_transport(op, exc, maybe_acted, attempt)
            except httpx.TransportError as exc:
                sent = not isinstance(exc, _NOT_SENT)
                maybe_acted = maybe_acted or sent
                decision = core.retry.decide(attempt=attempt, replay_safe=op.replay_safe, sent=sent)
                if not decision.retry:
                    core.give_up_transport(op, exc, maybe_acted, attempt)
                log.info(
                    "retrying %s %s in %.2fs: %s",
                    op.method,
                    op.path,
                    decision.delay,
                    redact(str(exc)),
                )
                self.sleep(decision.delay)
                continue
            if log.isEnabledFor(logging.DEBUG):
                _log_response(op, response, attempt)
            status = response.status_code
            if status < 300:
                return core.parse(op, response, attempt)
            err = core.error(op, response)
            if status >= 500 or status == 409:  # it may have acted, or another is acting
                maybe_acted = True
            decision = core.retry.decide(
                attempt=attempt,
                replay_safe=op.replay_safe,
                sent=True,
                status=status,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
            if not decision.retry:
                core.give_up_status(op, err, attempt, maybe_acted)
            log.info("retrying %s %s in %.2fs: HTTP %d", op.method, op.path, decision.delay, status)
            self.sleep(decision.delay)


class AsyncRunner:
    """The retry loop over an ``httpx.AsyncClient``."""

    __slots__ = ("auth", "core", "http", "limiter", "sleep")

    def __init__(
        self,
        core: RequestCore,
        http: httpx.AsyncClient,
        *,
        auth: httpx.Auth | None,
        limiter: AsyncLimiter | None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.core = core
        self.http = http
        self.auth = auth
        self.limiter = limiter
        self.sleep = sleep

    async def _send(self, request: httpx.Request) -> httpx.Response:
        if self.auth is not None:
            return await self.http.send(request, auth=self.auth)
        return await self.http.send(request)

    async def request(self, op: Operation[T]) -> T:
        core = self.core
        request = core.build(op)
        attempt = 0
        maybe_acted = False  # has any attempt possibly reached Clover without an answer?
        while True:
            attempt += 1
            try:
                if self.limiter is None:
                    response = await self._send(request)
                else:
                    async with self.limiter.slot():
                        response = await self._send(request)
            except _FATAL as exc:
                core.give_up_transport(op, exc, maybe_acted, attempt)
            except httpx.TransportError as exc:
                sent = not isinstance(exc, _NOT_SENT)
                maybe_acted = maybe_acted or sent
                decision = core.retry.decide(attempt=attempt, replay_safe=op.replay_safe, sent=sent)
                if not decision.retry:
                    core.give_up_transport(op, exc, maybe_acted, attempt)
                log.info(
                    "retrying %s %s in %.2fs: %s",
                    op.method,
                    op.path,
                    decision.delay,
                    redact(str(exc)),
                )
                await self.sleep(decision.delay)
                continue
            if log.isEnabledFor(logging.DEBUG):
                _log_response(op, response, attempt)
            status = response.status_code
            if status < 300:
                return core.parse(op, response, attempt)
            err = core.error(op, response)
            if status >= 500 or status == 409:  # it may have acted, or another is acting
                maybe_acted = True
            decision = core.retry.decide(
                attempt=attempt,
                replay_safe=op.replay_safe,
                sent=True,
                status=status,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
            if not decision.retry:
                core.give_up_status(op, err, attempt, maybe_acted)
            log.info("retrying %s %s in %.2fs: HTTP %d", op.method, op.path, decision.delay, status)
            await self.sleep(decision.delay)
