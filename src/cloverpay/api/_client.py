"""The synchronous client."""

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
from cloverpay.api._limiter import Limiter, RateLimit, shared_limiter
from cloverpay.api._operation import Operation
from cloverpay.api._resources import (
    Charges,
    Checkout,
    Customers,
    Orders,
    Pakms,
    Platform,
    Recurring,
    Refunds,
    Tokens,
)
from cloverpay.api._retry import RetryPolicy
from cloverpay.api._transport import SyncRunner

__all__ = ["CloverClient"]

T = TypeVar("T")


class CloverClient(ClientBase):
    """Synchronous client for Clover's HTTP APIs.

    >>> client = CloverClient(access_token, merchant_id="MID", environment="sandbox",
    ...                       client_ip="203.0.113.7")
    >>> charge = client.charges.create(amount=1000, currency="usd", source=token.id)

    Pick the hosts with ``environment`` (``"sandbox"``, ``"production"`` with ``region``,
    or an :class:`Environment`) or one ``base_url`` for everything. Authenticate with
    ``access_token`` (sent as Bearer) or any ``auth: httpx.Auth`` (e.g. OAuth refresh).
    ``api_access_key`` is the PAKMS public key for tokens (fetched on first use if not
    given). ``client_ip`` is the payer's IP, sent as ``x-forwarded-for`` (override per
    call). Bring your own ``http_client`` or ``transport`` to control the connection
    (you then close your client yourself). ``retry``: a :class:`RetryPolicy`, or the
    number of retries. ``rate_limit``: Clover's per-token limits by default, a custom
    :class:`RateLimit`, a shared :class:`Limiter`, or None to disable.
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
        http_client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float | httpx.Timeout | None = None,
        retry: RetryPolicy | int | None = None,
        rate_limit: RateLimit | Limiter | Default | None = DEFAULT,
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
        http = http_client or httpx.Client(transport=transport, timeout=timeout or 60.0)
        limiter = choose_limiter(rate_limit, access_token, Limiter, shared_limiter)
        self._runner = SyncRunner(self._core, http, auth=auth, limiter=limiter)
        self._bind()

    def _bind(self) -> None:
        self.pakms = Pakms(self)
        self.tokens = Tokens(self)
        self.charges = Charges(self)
        self.orders = Orders(self)
        self.customers = Customers(self)
        self.refunds = Refunds(self)
        self.recurring = Recurring(self)
        self.checkout = Checkout(self)
        self.platform = Platform(self)

    def with_options(
        self,
        *,
        timeout: float | httpx.Timeout | None = None,
        retry: RetryPolicy | int | None = None,
        client_ip: str | None = None,
    ) -> CloverClient:
        """A client that shares this one's connections, credentials and limiter but uses
        other settings, e.g. ``clover.with_options(retry=0, timeout=120)`` for a
        reconciler, or ``clover.with_options(client_ip=request_ip)`` per web request.
        Closing it does nothing; close the original."""
        clone = object.__new__(CloverClient)
        clone._access_token = self._access_token
        clone._owns_http = False
        clone._core = self._derived_core(timeout, retry, client_ip)
        clone._runner = SyncRunner(
            clone._core,
            self._runner.http,
            auth=self._runner.auth,
            limiter=self._runner.limiter,
        )
        clone._bind()
        return clone

    @property
    def http_client(self) -> httpx.Client:
        return self._runner.http

    def _request(self, op: Operation[T]) -> T:
        return self._runner.request(op)

    def close(self) -> None:
        """Close the HTTP client if this client created it."""
        if self._owns_http:
            self._runner.http.close()

    def __enter__(self) -> CloverClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
