"""How the service reaches Clover: one :class:`CloverClient` per merchant and call.

The access token is decrypted only here. One ``httpx.Client`` is shared by all calls
(keep-alive connections, idle ones dropped after ``Settings.clover_keepalive_expiry_s``;
closed with :meth:`CloverGateway.close`), so a call's client never closes the transport
under another thread's request. Tests pass ``transport`` to reach an in-process sandbox;
production uses the settings' environment or the merchant's base URL.

A merchant connected through OAuth v2 (it has a refresh token, and the settings name
the app) is called through :class:`cloverpay.api.CloverOAuth` over the database token
store (:class:`~cloverpay.service.services.oauth_store.DbTokenStore`): the access token
is refreshed before it expires or after a 401, once across every process. One
``CloverOAuth`` per merchant is kept for the life of the gateway, so the threads of a
process share its token cache and its single-flight lock. A merchant connected with a
token that does not expire (a sandbox token, an Ecommerce private key) is called with it
as is.

Each call's client watches that ``CloverOAuth`` (:class:`_SendWatch`): if an
:class:`~cloverpay.api.OAuthError` ends the call before any request other than a token
refresh was handed to the transport, and it says the grant itself is gone (no token
stored, or the refresh refused with a 4xx other than 408/429), the call raises
:class:`ReconnectRequired` instead: nothing of that call reached Clover's API, and
nothing will until the merchant is connected again. An OAuthError once the request
went out (a 401 whose refresh then failed, a refresh before a retry) stays what it was.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Generator, Iterator
from contextlib import contextmanager

import httpx

from cloverpay.api import (
    PRODUCTION_NA,
    SANDBOX,
    CloverClient,
    CloverOAuth,
    Limiter,
    MissingTokenError,
    OAuthError,
    RateLimit,
    RetryPolicy,
    TokenStore,
)
from cloverpay.service.core.config import Settings
from cloverpay.service.core.security import TokenCipher
from cloverpay.service.db import Merchant
from cloverpay.service.errors import InvalidRequest

__all__ = ["CloverGateway", "ReconnectRequired", "oauth_hosts"]

log = logging.getLogger("cloverpay.service.gateway")


class ReconnectRequired(OAuthError):
    """The merchant's OAuth grant is gone (no token stored, or Clover refused the
    refresh) and the call's request was never sent: the merchant must connect again."""


def _grant_gone(exc: OAuthError) -> bool:
    status = exc.status_code
    return isinstance(exc, MissingTokenError) or (
        status is not None and 400 <= status < 500 and status not in (408, 429)
    )


class _SendWatch(httpx.Auth):
    """One call's view of the merchant's shared ``CloverOAuth``: the same flow, noting
    whether the request itself (not a token refresh) was handed to the transport."""

    requires_request_body = True

    def __init__(self, inner: CloverOAuth) -> None:
        self.inner = inner
        self.sent = False

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        flow = self.inner.sync_auth_flow(request)
        try:
            response: httpx.Response | None = None
            while True:
                try:
                    out = flow.send(response)  # type: ignore[arg-type]
                except StopIteration:
                    return
                if out is request:
                    self.sent = True
                response = yield out
        finally:
            flow.close()  # releases the refresh locks if httpx stops the flow early


def oauth_hosts(settings: Settings, merchant_base_url: str | None = None) -> tuple[str, str]:
    """(api host for token calls, www host for the authorize page) of the merchant."""
    base = merchant_base_url or settings.clover_base_url
    if base:
        return base.rstrip("/"), base.rstrip("/")
    env = PRODUCTION_NA if settings.clover_environment == "production" else SANDBOX
    return env.oauth, env.oauth_authorize


class CloverGateway:
    def __init__(
        self,
        settings: Settings,
        cipher: TokenCipher,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | int | None = None,
        rate_limit: bool = True,
        token_store: TokenStore | None = None,
    ) -> None:
        self.settings = settings
        self.cipher = cipher
        self.token_store = token_store
        self._retry = retry if retry is not None else settings.clover_max_retries
        self._rate_limit = rate_limit
        # Keep every connection alive (httpx keeps 20 by default): with more concurrent
        # calls than that, each extra one would open and close a connection per call.
        # Idle ones are dropped sooner than servers drop them (settings), not at the
        # same 5 s as uvicorn: a connection reused as the server closes it fails after
        # the request was written (a money call is then resent with its key, noisily;
        # a POST without one ends in OutcomeUnknownError).
        limits = httpx.Limits(
            max_connections=100,
            max_keepalive_connections=100,
            keepalive_expiry=settings.clover_keepalive_expiry_s,
        )
        self._http = httpx.Client(
            transport=transport, timeout=settings.clover_timeout_s, limits=limits
        )
        self._auths: dict[tuple[str, str], CloverOAuth] = {}
        self._limiters: dict[str, Limiter] = {}
        self._guard = threading.Lock()

    @property
    def http(self) -> httpx.Client:
        """The shared HTTP client (its transport reaches Clover, or a test's sandbox)."""
        return self._http

    def close(self) -> None:
        self._http.close()

    def uses_oauth(self, merchant: Merchant) -> bool:
        return bool(merchant.refresh_token_enc and self.settings.clover_app_id and self.token_store)

    def oauth_for(self, merchant: Merchant) -> CloverOAuth:
        """The merchant's ``CloverOAuth`` (one per merchant and host, kept)."""
        assert self.settings.clover_app_id is not None
        assert self.token_store is not None
        api_host, _ = oauth_hosts(self.settings, merchant.clover_base_url)
        key = (merchant.clover_merchant_id, api_host)
        with self._guard:
            auth = self._auths.get(key)
            if auth is None:
                auth = self._auths[key] = CloverOAuth(
                    self.settings.clover_app_id,
                    merchant.clover_merchant_id,
                    store=self.token_store,
                    api_base_url=api_host,
                )
            return auth

    def _limiter_for(self, merchant: Merchant) -> Limiter:
        with self._guard:
            limiter = self._limiters.get(merchant.clover_merchant_id)
            if limiter is None:
                limiter = self._limiters[merchant.clover_merchant_id] = Limiter(RateLimit())
            return limiter

    @contextmanager
    def client(self, merchant: Merchant, *, client_ip: str | None = None) -> Iterator[CloverClient]:
        if not merchant.access_token_enc:
            raise InvalidRequest(
                "the merchant has no Clover access token; connect it first",
                field="merchant",
                code="merchant_not_connected",
            )
        base_url = merchant.clover_base_url or self.settings.clover_base_url
        kwargs: dict[str, object] = {}
        watch: _SendWatch | None = None
        if self.uses_oauth(merchant):
            token = None
            kwargs["auth"] = watch = _SendWatch(self.oauth_for(merchant))
            # Keyed by merchant, not by the (rotating) token: one limiter across refreshes.
            kwargs["rate_limit"] = self._limiter_for(merchant) if self._rate_limit else None
        else:
            token = self.cipher.decrypt(merchant.access_token_enc)
            if not self._rate_limit:
                kwargs["rate_limit"] = None
        client = CloverClient(
            token,
            merchant_id=merchant.clover_merchant_id,
            api_access_key=merchant.pakms_key,
            environment=None if base_url else self.settings.clover_environment,  # type: ignore[arg-type]
            base_url=base_url,
            client_ip=client_ip or self.settings.default_client_ip,
            http_client=self._http,
            retry=self._retry,
            **kwargs,  # type: ignore[arg-type]
        )
        try:
            yield client
        except OAuthError as exc:
            if watch is None or watch.sent or isinstance(exc, ReconnectRequired):
                raise
            if not _grant_gone(exc):
                raise
            log.warning(
                "merchant %s must reconnect to Clover (nothing sent): %s",
                merchant.id,
                exc.message,
            )
            raise ReconnectRequired(
                f"the merchant's Clover connection must be renewed: {exc.message}",
                status_code=exc.status_code,
                server_message=exc.server_message,
            ) from exc
        finally:
            client.close()
