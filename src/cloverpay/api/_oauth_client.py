"""``OAuthClient`` / ``AsyncOAuthClient``: the app side of Clover's OAuth v2 flow.

Both take the transport from outside (an ``httpx.Client``/``AsyncClient`` or a
transport), so tests can mount an in-process emulator or ``httpx.MockTransport``.
:meth:`refresh` is the raw call: it spends the refresh token it is given. To keep a
merchant's token fresh across concurrent requests use :meth:`auth` (a
:class:`~cloverpay.api.CloverOAuth` bound to a token store), which never spends one
refresh token twice.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self
from urllib.parse import parse_qsl, urlsplit

import httpx
from pydantic import SecretStr

from ._errors import ConfigurationError
from ._oauth import (
    PKCE,
    OAuthError,
    OAuthToken,
    authorize_url,
    build_refresh_request,
    build_token_request,
    parse_token_response,
    resolve_hosts,
)
from ._oauth_auth import CloverOAuth
from ._oauth_store import AsyncTokenStore, TokenStore

__all__ = [
    "AsyncOAuthClient",
    "AuthorizationCallback",
    "OAuthClient",
    "parse_authorize_callback",
]

DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class AuthorizationCallback:
    """What Clover put on the redirect back to the app (``code`` is masked in reprs)."""

    code: str = field(repr=False)
    merchant_id: str | None
    client_id: str | None
    state: str | None
    employee_id: str | None = None


def parse_authorize_callback(
    callback: str | Mapping[str, str], *, expected_state: str | None = None
) -> AuthorizationCallback:
    """Read the redirect Clover sends the browser back with: a full URL, a query
    string, or a mapping (e.g. a web framework's query parameters).

    Raises :class:`~cloverpay.api.OAuthError` when the merchant denied access
    (``error=access_denied``), when there is no ``code``, or when ``expected_state``
    is given and ``state`` differs (compared in constant time: a forged callback).
    """
    if isinstance(callback, str):
        query = urlsplit(callback).query if "?" in callback or "://" in callback else callback
        params = dict(parse_qsl(query.lstrip("?"), keep_blank_values=True))
    else:
        params = dict(callback)
    if params.get("error"):
        raise OAuthError(f"authorization was not granted: {params['error'][:100]}")
    state = params.get("state")
    if expected_state is not None and not hmac.compare_digest(
        (state or "").encode(), expected_state.encode()
    ):
        raise OAuthError("authorization callback: state does not match the one sent")
    code = params.get("code")
    if not code:
        raise OAuthError("authorization callback has no code")
    return AuthorizationCallback(
        code=code,
        merchant_id=params.get("merchant_id"),
        client_id=params.get("client_id"),
        state=state,
        employee_id=params.get("employee_id"),
    )


class _OAuthApp:
    """What both clients share: the app credentials, the hosts, the request builders."""

    def __init__(
        self,
        client_id: str,
        client_secret: str | SecretStr | None,
        base_url: str | None,
        api_base_url: str | None,
        authorize_base_url: str | None,
    ) -> None:
        if not client_id:
            raise ConfigurationError("client_id is required", param="client_id")
        self.client_id = client_id
        self.client_secret = (
            SecretStr(client_secret) if isinstance(client_secret, str) else client_secret
        )
        self.api_base_url, self.authorize_base_url = resolve_hosts(
            base_url, api_base_url, authorize_base_url
        )

    def authorize_url(
        self,
        redirect_uri: str | None = None,
        *,
        state: str | None = None,
        merchant_id: str | None = None,
        pkce: PKCE | None = None,
        response_type: str | None = "code",
    ) -> str:
        """The browser URL for this app (see :func:`~cloverpay.api.authorize_url`)."""
        return authorize_url(
            self.client_id,
            redirect_uri,
            state=state,
            merchant_id=merchant_id,
            pkce=pkce,
            response_type=response_type,
            base_url=self.authorize_base_url,
        )

    def auth(
        self,
        merchant_id: str,
        store: TokenStore | AsyncTokenStore,
        *,
        refresh_skew: float = 60.0,
        refresh_on_401: bool = True,
    ) -> CloverOAuth:
        """A :class:`~cloverpay.api.CloverOAuth` for ``merchant_id`` over ``store``."""
        return CloverOAuth(
            self.client_id,
            merchant_id,
            store=store,
            api_base_url=self.api_base_url,
            refresh_skew=refresh_skew,
            refresh_on_401=refresh_on_401,
        )

    def _token_request(
        self, code: str, code_verifier: str | None, no_refresh_token: bool
    ) -> httpx.Request:
        return build_token_request(
            self.api_base_url,
            client_id=self.client_id,
            code=code,
            client_secret=self.client_secret,
            code_verifier=code_verifier,
            no_refresh_token=no_refresh_token,
        )

    def _refresh_request(self, refresh_token: str | SecretStr) -> httpx.Request:
        return build_refresh_request(
            self.api_base_url, client_id=self.client_id, refresh_token=refresh_token
        )

    def _secrets(self, *values: str | SecretStr | None) -> list[str | None]:
        out = [v.get_secret_value() if isinstance(v, SecretStr) else v for v in values]
        out.append(self.client_secret.get_secret_value() if self.client_secret else None)
        return out

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(client_id={self.client_id!r}, "
            f"api_base_url={self.api_base_url!r}, authorize_base_url={self.authorize_base_url!r})"
        )


class OAuthClient(_OAuthApp):
    """Synchronous OAuth v2 client for one Clover app.

    ``client_secret`` is for high-trust apps; low-trust (PKCE) apps pass
    ``code_verifier`` to :meth:`exchange_code` instead. ``base_url`` points both hosts
    at one server (an emulator); otherwise ``api_base_url`` and ``authorize_base_url``
    default to Clover's sandbox.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str | SecretStr | None = None,
        *,
        base_url: str | None = None,
        api_base_url: str | None = None,
        authorize_base_url: str | None = None,
        http_client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(client_id, client_secret, base_url, api_base_url, authorize_base_url)
        if http_client is not None and transport is not None:
            raise ConfigurationError("pass http_client or transport, not both", param="transport")
        self._owns_client = http_client is None
        self._http = http_client or httpx.Client(transport=transport, timeout=timeout)

    def exchange_code(
        self, code: str, code_verifier: str | None = None, *, no_refresh_token: bool = False
    ) -> OAuthToken:
        """Trade the authorization ``code`` from the redirect for a token pair."""
        response = self._http.send(self._token_request(code, code_verifier, no_refresh_token))
        return parse_token_response(response, redact=self._secrets(code, code_verifier))

    def refresh(self, refresh_token: str | SecretStr) -> OAuthToken:
        """Spend ``refresh_token`` (single-use) for a new pair. Prefer :meth:`auth`."""
        response = self._http.send(self._refresh_request(refresh_token))
        return parse_token_response(response, redact=self._secrets(refresh_token))

    def close(self) -> None:
        if self._owns_client:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncOAuthClient(_OAuthApp):
    """Asynchronous twin of :class:`OAuthClient`."""

    def __init__(
        self,
        client_id: str,
        client_secret: str | SecretStr | None = None,
        *,
        base_url: str | None = None,
        api_base_url: str | None = None,
        authorize_base_url: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(client_id, client_secret, base_url, api_base_url, authorize_base_url)
        if http_client is not None and transport is not None:
            raise ConfigurationError("pass http_client or transport, not both", param="transport")
        self._owns_client = http_client is None
        self._http = http_client or httpx.AsyncClient(transport=transport, timeout=timeout)

    async def exchange_code(
        self, code: str, code_verifier: str | None = None, *, no_refresh_token: bool = False
    ) -> OAuthToken:
        """Trade the authorization ``code`` from the redirect for a token pair."""
        request = self._token_request(code, code_verifier, no_refresh_token)
        response = await self._http.send(request)
        return parse_token_response(response, redact=self._secrets(code, code_verifier))

    async def refresh(self, refresh_token: str | SecretStr) -> OAuthToken:
        """Spend ``refresh_token`` (single-use) for a new pair. Prefer :meth:`auth`."""
        response = await self._http.send(self._refresh_request(refresh_token))
        return parse_token_response(response, redact=self._secrets(refresh_token))

    async def aclose(self) -> None:
        if self._owns_client:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
