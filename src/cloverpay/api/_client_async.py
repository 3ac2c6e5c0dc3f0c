"""The asynchronous client: the twin of ``_client.py``."""

from __future__ import annotations

from types import TracebackType
from typing import Literal, TypeVar

import httpx

from cloverpay.api._client_base import ClientBase, choose_limiter, refuse_both
from cloverpay.api._config import (
    DEFAULT,
    Default,
    build_core,
)
from cloverpay.api._environments import Environment, EnvironmentName, Region
from cloverpay.api._limiter import AsyncLimiter, RateLimit, shared_async_limiter
from cloverpay.api._operation import Operation
from cloverpay.api._resources_async import (
    AsyncCharges,
    AsyncCheckout,
    AsyncCustomers,
    AsyncOrders,
    AsyncPakms,
    AsyncPlatform,
    AsyncRecurring,
    AsyncRefunds,
    AsyncTokens,
)
from cloverpay.api._retry import RetryPolicy
from cloverpay.api._transport import AsyncRunner

__all__ = ["AsyncCloverClient"]

T = TypeVar("T")


class AsyncCloverClient(ClientBase):
    """Asynchronous client for Clover's HTTP APIs.

    >>> client = AsyncCloverClient(access_token, merchant_id="MID", environment="sandbox",
    ...                       client_ip="203.0.113.7")
    >>> charge = await client.charges.create(amount=1000, currency="usd", source=token.id)

    Pick the hosts with ``environment`` (``"sandbox"``, ``"production"`` with ``region``,
    or an :class:`Environment`) or one ``base_url`` for everything. Authenticate with
    ``access_token`` (sent as Bearer) or any ``auth: httpx.Auth`` (e.g. OAuth refresh).
    ``api_access_key`` is the PAKMS public key for tokens (fetched on first use if not
    given). ``client_ip`` is the payer's IP, sent as ``x-forwarded-for`` (override per
    call). Bring your own ``http_client`` or ``transport`` to control the connection
    (you then close your client yourself). ``retry``: a :class:`RetryPolicy`, or the
    number of retries. ``rate_limit``: Clover's per-token limits by default, a custom
    :class:`RateLimit`, a shared :class:`AsyncLimiter`, or None to disable.
    """

    def __init__(
        self,
        access_token: str | None = None,
        *,
        merchant_id: str | None = None,
        api_access_key: str | None = None,
        environment: Environment | EnvironmentName | None = None,
        region: Region | Literal["na", "eu", "latam"] | None = None,
        base_url: str | None = None,
        auth: httpx.Auth | None = None,
        client_ip: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float | httpx.Timeout | None = None,
        retry: RetryPolicy | int | None = None,
        rate_limit: RateLimit | AsyncLimiter | Default | None = DEFAULT,
        user_agent: str | None = None,
    ) -> None:
        refuse_both(http_client, transport)
        self._access_token = access_token
        self._core = build_core(
            access_token=access_token,
            merchant_id=merchant_id,
            api_access_key=api_access_key,
            environment=environment,
            region=region,
            base_url=base_url,
            client_ip=client_ip,
            timeout=timeout,
            retry=retry,
            user_agent=user_agent,
            http_timeout=http_client.timeout if http_client is not None else None,
        )
        self._owns_http = http_client is None
        http = http_client or httpx.AsyncClient(transport=transport, timeout=timeout or 60.0)
        limiter = choose_limiter(rate_limit, access_token, AsyncLimiter, shared_async_limiter)
        self._runner = AsyncRunner(self._core, http, auth=auth, limiter=limiter)
        self._bind()

    def _bind(self) -> None:
        self.pakms = AsyncPakms(self)
        self.tokens = AsyncTokens(self)
        self.charges = AsyncCharges(self)
        self.orders = AsyncOrders(self)
        self.customers = AsyncCustomers(self)
        self.refunds = AsyncRefunds(self)
        self.recurring = AsyncRecurring(self)
        self.checkout = AsyncCheckout(self)
        self.platform = AsyncPlatform(self)

    def with_options(
        self,
        *,
        timeout: float | httpx.Timeout | None = None,
        retry: RetryPolicy | int | None = None,
        client_ip: str | None = None,
    ) -> AsyncCloverClient:
        """A client that shares this one's connections, credentials and limiter but uses
        other settings, e.g. ``clover.with_options(retry=0, timeout=120)`` for a
        reconciler, or ``clover.with_options(client_ip=request_ip)`` per web request.
        Closing it does nothing; close the original."""
        clone = object.__new__(AsyncCloverClient)
        clone._access_token = self._access_token
        clone._owns_http = False
        clone._core = self._derived_core(timeout, retry, client_ip)
        clone._runner = AsyncRunner(
            clone._core,
            self._runner.http,
            auth=self._runner.auth,
            limiter=self._runner.limiter,
        )
        clone._bind()
        return clone

    @property
    def http_client(self) -> httpx.AsyncClient:
        return self._runner.http

    async def _request(self, op: Operation[T]) -> T:
        return await self._runner.request(op)

    async def aclose(self) -> None:
        """Close the HTTP client if this client created it."""
        if self._owns_http:
            await self._runner.http.aclose()

    async def __aenter__(self) -> AsyncCloverClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
