"""``CloverOAuth``: an :class:`httpx.Auth` that sends a merchant's OAuth v2 access token
and refreshes it exactly once when needed, however many requests are in flight.

How a request goes:

1. Take the cached token (or load it from the store on first use).
2. If it expires within ``refresh_skew`` seconds, refresh (below) before sending.
3. Send with ``Authorization: Bearer <access token>``.
4. On a 401, refresh (below) and resend with the new token. If that refresh only
   adopted a token someone else had stored and it is refused too, refresh again,
   now spending its refresh token. At most one refresh token is spent per request
   and at most three sends are made; Clover answers 401 for a missing permission
   too, so a 401 after a spend is returned to the caller as is.

A refresh takes the in-process lock (``threading.Lock`` in the sync flow, an
``asyncio.Lock`` per event loop in the async flow), then the store's per-merchant
lock, then re-reads the store: if the token there is not the one this request saw,
someone else (another task, thread or process) already refreshed and that token is
used. Otherwise the refresh token is spent through the same httpx client (so the
client's transport is used) and the new pair is saved with compare-and-swap. Callers
waiting on the lock therefore reuse the one refresh in flight.

If the refresh call fails after it left us (timeout, dropped connection) we cannot
know whether Clover rotated the token; the stored one may now be dead, and the next
refresh will say so with an :class:`~cloverpay.api.OAuthError` (re-authorize the
merchant then).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Generator
from inspect import iscoroutinefunction
from typing import TYPE_CHECKING, Any, cast

import httpx

from ._errors import ConfigurationError
from ._oauth import (
    MissingTokenError,
    OAuthToken,
    build_refresh_request,
    parse_token_response,
    resolve_hosts,
)
from ._oauth_store import AsyncTokenStore, InMemoryTokenStore, ThreadedStore, TokenStore

if TYPE_CHECKING:
    import asyncio

__all__ = ["CloverOAuth"]

logger = logging.getLogger("cloverpay.api.oauth")

_MAX_SENDS = 3  # first try; after adopting a stored token; after spending its refresh


class CloverOAuth(httpx.Auth):
    """Bearer auth for one merchant with automatic, single-flight token refresh.

    ``store`` holds the merchant's token (a :class:`TokenStore`, or an
    :class:`AsyncTokenStore` for use with :class:`httpx.AsyncClient` only); or pass
    ``token`` alone to start from an in-memory store. ``base_url`` (or
    ``api_base_url``) is the host of ``/oauth/v2/refresh``; Clover's sandbox by
    default. ``clock`` returns Unix seconds (injectable for tests).
    """

    requires_request_body = True

    def __init__(
        self,
        client_id: str,
        merchant_id: str,
        *,
        store: TokenStore | AsyncTokenStore | None = None,
        token: OAuthToken | None = None,
        base_url: str | None = None,
        api_base_url: str | None = None,
        refresh_skew: float = 60.0,
        refresh_on_401: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not client_id:
            raise ConfigurationError("client_id is required", param="client_id")
        if not merchant_id:
            raise ConfigurationError("merchant_id is required", param="merchant_id")
        if store is not None and token is not None:
            raise ConfigurationError(
                "pass store or token, not both (save the token into the store)", param="token"
            )
        if store is None:
            store = InMemoryTokenStore({merchant_id: token} if token is not None else None)
        self.client_id = client_id
        self.merchant_id = merchant_id
        self.api_base_url, _ = resolve_hosts(base_url, api_base_url, None)
        self.refresh_skew = refresh_skew
        self.refresh_on_401 = refresh_on_401
        self._clock = clock
        self._sync_store: TokenStore | None
        self._async_store: AsyncTokenStore
        if iscoroutinefunction(getattr(store, "get", None)):
            self._sync_store = None
            self._async_store = cast(AsyncTokenStore, store)
        else:
            self._sync_store = cast(TokenStore, store)
            self._async_store = ThreadedStore(self._sync_store)
        self._token: OAuthToken | None = None
        self._thread_lock = threading.Lock()
        self._guard = threading.Lock()
        self._async_locks: weakref.WeakKeyDictionary[Any, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self.refresh_count = 0
        """How many refresh calls this instance has made (for metrics and tests)."""

    # --- the two flows -----------------------------------------------------------------

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        store = self._sync_store
        if store is None:
            raise ConfigurationError(
                "CloverOAuth with an AsyncTokenStore works with httpx.AsyncClient only",
                param="store",
            )
        request.read()
        token = self._token
        if token is None:
            token = self._adopt(store.get(self.merchant_id))
        after_401 = spent = False
        for _ in range(_MAX_SENDS):
            if after_401 or self._needs_refresh(token):
                seen = token
                with self._thread_lock, store.lock(self.merchant_id):
                    current = self._adopt(store.get(self.merchant_id))
                    if self._must_spend(seen, current):
                        refresh_request = self._refresh_request(current)
                        refresh_response = yield refresh_request
                        refresh_response.read()
                        new = self._parse(refresh_response, current)
                        saved = store.save(self.merchant_id, new, replaces=_refresh_value(current))
                        current = self._saved(new, saved)
                        spent = True
                    token = current
                if after_401 and token.same_grant(seen):
                    return  # nothing new to try: the 401 stands
            response = yield self._authorize(request, token)
            if spent or not self._retry_on(response):
                return
            response.read()  # hand the connection back to the pool before waiting
            after_401 = True

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        store = self._async_store
        await request.aread()
        token = self._token
        if token is None:
            token = self._adopt(await store.get(self.merchant_id))
        after_401 = spent = False
        for _ in range(_MAX_SENDS):
            if after_401 or self._needs_refresh(token):
                seen = token
                async with self._async_lock(), store.lock(self.merchant_id):
                    current = self._adopt(await store.get(self.merchant_id))
                    if self._must_spend(seen, current):
                        refresh_request = self._refresh_request(current)
                        refresh_response = yield refresh_request
                        await refresh_response.aread()
                        new = self._parse(refresh_response, current)
                        saved = await store.save(
                            self.merchant_id, new, replaces=_refresh_value(current)
                        )
                        current = self._saved(new, saved)
                        spent = True
                    token = current
                if after_401 and token.same_grant(seen):
                    return
            response = yield self._authorize(request, token)
            if spent or not self._retry_on(response):
                return
            await response.aread()  # hand the connection back to the pool before waiting
            after_401 = True

    # --- shared, I/O-free steps --------------------------------------------------------

    def _adopt(self, token: OAuthToken | None) -> OAuthToken:
        if token is None:
            raise MissingTokenError(
                f"no OAuth token stored for merchant {self.merchant_id}: authorize it first"
            )
        self._token = token
        return token

    def _needs_refresh(self, token: OAuthToken) -> bool:
        return token.refresh_token is not None and token.access_expires_within(
            self.refresh_skew, now=self._clock()
        )

    def _must_spend(self, seen: OAuthToken, current: OAuthToken) -> bool:
        """Spend ``current``'s refresh token only if nobody replaced what we saw (or
        what replaced it is itself about to expire)."""
        if current.refresh_token is None:
            return False
        return current.same_grant(seen) or self._needs_refresh(current)

    def _retry_on(self, response: httpx.Response) -> bool:
        return self.refresh_on_401 and response.status_code == 401

    def _refresh_request(self, current: OAuthToken) -> httpx.Request:
        assert current.refresh_token is not None
        return build_refresh_request(
            self.api_base_url, client_id=self.client_id, refresh_token=current.refresh_token
        )

    def _parse(self, response: httpx.Response, spent: OAuthToken) -> OAuthToken:
        self.refresh_count += 1
        return parse_token_response(response, redact=[_refresh_value(spent)])

    def _saved(self, new: OAuthToken, saved: bool) -> OAuthToken:
        if saved:
            logger.debug(
                "refreshed OAuth token for merchant %s (access expires at %s)",
                self.merchant_id,
                new.access_token_expiration,
            )
        else:
            logger.warning(
                "refreshed OAuth token for merchant %s but the store already holds a newer "
                "one (its lock does not exclude other refreshers?); using ours for now",
                self.merchant_id,
            )
        self._token = new
        return new

    @staticmethod
    def _authorize(request: httpx.Request, token: OAuthToken) -> httpx.Request:
        request.headers["Authorization"] = f"Bearer {token.access_token.get_secret_value()}"
        return request

    def _async_lock(self) -> asyncio.Lock:
        import asyncio

        loop = asyncio.get_running_loop()
        with self._guard:
            lock = self._async_locks.get(loop)
            if lock is None:
                lock = self._async_locks[loop] = asyncio.Lock()
        return lock

    def __repr__(self) -> str:
        return (
            f"CloverOAuth(client_id={self.client_id!r}, merchant_id={self.merchant_id!r}, "
            f"api_base_url={self.api_base_url!r})"
        )


def _refresh_value(token: OAuthToken) -> str | None:
    return None if token.refresh_token is None else token.refresh_token.get_secret_value()
