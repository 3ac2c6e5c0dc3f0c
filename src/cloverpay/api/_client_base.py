"""What :class:`CloverClient` and :class:`AsyncCloverClient` share.

The two clients differ only in their HTTP client, runner and limiter types; the
configuration, the choice of limiter, option derivation and the read-only properties
live here once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import httpx

from cloverpay.api._config import (
    Default,
    client_repr,
    resolve_rate_limit,
    resolve_retry,
    resolve_timeout,
)
from cloverpay.api._environments import Environment
from cloverpay.api._errors import ConfigurationError
from cloverpay.api._limiter import AsyncLimiter, Limiter, LimiterKey, RateLimit, limiter_key
from cloverpay.api._operation import client_ip as check_ip
from cloverpay.api._retry import RetryPolicy
from cloverpay.api._transport import RequestCore

__all__ = ["ClientBase", "choose_limiter", "refuse_both"]

L = TypeVar("L", Limiter, AsyncLimiter)


def refuse_both(http_client: object, transport: object) -> None:
    """A client or a transport may be brought from outside, not both."""
    if http_client is not None and transport is not None:
        raise ConfigurationError("pass http_client or transport, not both", param="transport")


def choose_limiter(
    rate_limit: RateLimit | L | Default | None,
    access_token: str | None,
    kind: type[L],
    shared: Callable[[LimiterKey], L],
) -> L | None:
    """The limiter a new client uses: the one given, none, or the process-wide one of its
    token (so every client of one token shares Clover's per-token limits)."""
    if isinstance(rate_limit, kind):
        return rate_limit
    assert not isinstance(rate_limit, Limiter | AsyncLimiter)
    limit = resolve_rate_limit(rate_limit)
    if limit is None:
        return None
    if access_token:
        return shared(limiter_key(access_token, limit))
    return kind(limit)


class ClientBase:
    """Configuration and read-only views common to both clients."""

    _core: RequestCore
    _access_token: str | None

    def _derived_core(
        self,
        timeout: float | httpx.Timeout | None,
        retry: RetryPolicy | int | None,
        client_ip: str | None,
    ) -> RequestCore:
        """This client's settings with some replaced (for ``with_options``)."""
        return self._core.derive(
            timeout=resolve_timeout(timeout),
            retry=resolve_retry(retry),
            client_ip=check_ip(client_ip),
        )

    @property
    def environment(self) -> Environment:
        return self._core.environment

    @property
    def merchant_id(self) -> str | None:
        return self._core.merchant_id

    def _mid(self) -> str:
        return self._core.require_merchant_id()

    def __repr__(self) -> str:
        return client_repr(type(self).__name__, self._core, self._access_token)
