"""Clover OAuth v2: the authorize URL, PKCE, code exchange and refresh.

The request builders and the response parser are sans-I/O (they make and read
:class:`httpx.Request` / :class:`httpx.Response` objects and never send anything), so
:class:`OAuthClient`, :class:`AsyncOAuthClient` and :class:`~cloverpay.api.CloverOAuth`
share one implementation of the wire format.

Hosts: the browser step goes to the *www* host (``https://sandbox.dev.clover.com`` for
the sandbox, ``https://www.clover.com`` in production NA); the token calls go to the
*api* host (``https://apisandbox.dev.clover.com``, ``https://api.clover.com``). A single
``base_url`` may stand for both, which is how a local emulator serving every host on
one port is addressed.

Exceptions (in the :class:`~cloverpay.api.CloverError` tree)::

    CloverError
    ├── ConfigurationError      bad arguments (also ValueError); nothing was sent
    └── OAuthError              an OAuth endpoint refused, or answered something unreadable
        └── MissingTokenError   no token is stored for the merchant: authorize it first

Tokens, client secrets, codes and code verifiers never appear in reprs, logs or
exception messages.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from ._errors import CloverError, ConfigurationError

__all__ = [
    "PKCE",
    "SANDBOX_API_BASE_URL",
    "SANDBOX_AUTHORIZE_BASE_URL",
    "MissingTokenError",
    "OAuthError",
    "OAuthToken",
    "authorize_url",
    "build_refresh_request",
    "build_token_request",
    "code_challenge",
    "parse_token_response",
]

SANDBOX_API_BASE_URL = "https://apisandbox.dev.clover.com"
SANDBOX_AUTHORIZE_BASE_URL = "https://sandbox.dev.clover.com"
AUTHORIZE_PATH = "/oauth/v2/authorize"
TOKEN_PATH = "/oauth/v2/token"
REFRESH_PATH = "/oauth/v2/refresh"

CodeChallengeMethod = Literal["S256", "plain"]

_MASK = "**********"
_VERIFIER_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_SECRET_KEY_RE = re.compile(r"token|secret|code|verifier|password|key", re.IGNORECASE)
_MAX_MESSAGE = 200


class OAuthError(CloverError):
    """An OAuth endpoint refused the request, or answered something we cannot read.

    ``http_status`` (alias ``status_code``) is the HTTP status (``None`` when no
    response was involved) and ``server_message`` Clover's own message, if any, with
    every secret we sent masked.
    """

    def __init__(
        self, message: str, *, status_code: int | None = None, server_message: str | None = None
    ) -> None:
        super().__init__(message, http_status=status_code)
        self.server_message = server_message

    @property
    def status_code(self) -> int | None:
        return self.http_status


class MissingTokenError(OAuthError):
    """No token is stored for this merchant: run the authorization flow first."""


class OAuthToken(BaseModel):
    """The four-field token pair Clover returns from ``/oauth/v2/token`` and ``/refresh``.

    Expirations are Unix seconds. Fields Clover adds beyond the documented four (for
    example ``merchant_id``) are kept in :attr:`model_extra`. The repr masks both
    tokens and any extra field whose name looks secret.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    access_token: SecretStr
    access_token_expiration: int | None = None
    refresh_token: SecretStr | None = None
    refresh_token_expiration: int | None = None

    def access_expires_within(self, seconds: float, *, now: float) -> bool:
        """True if the access token expires within ``seconds`` of ``now`` (Unix seconds).

        A token without ``access_token_expiration`` is taken as valid; it is then
        refreshed only after the server answers 401.
        """
        if self.access_token_expiration is None:
            return False
        return self.access_token_expiration - seconds <= now

    def same_grant(self, other: OAuthToken | None) -> bool:
        """True if ``other`` carries the same access and refresh token values."""
        if other is None:
            return False
        return _reveal(self.access_token) == _reveal(other.access_token) and _reveal(
            self.refresh_token
        ) == _reveal(other.refresh_token)

    def to_storage_dict(self) -> dict[str, Any]:
        """The token as a plain JSON-able dict, secrets *revealed*: for token stores only."""
        data: dict[str, Any] = dict(self.model_extra or {})
        data.update(
            access_token=self.access_token.get_secret_value(),
            access_token_expiration=self.access_token_expiration,
            refresh_token=_reveal(self.refresh_token),
            refresh_token_expiration=self.refresh_token_expiration,
        )
        return data

    @classmethod
    def from_storage_dict(cls, data: Mapping[str, Any]) -> OAuthToken:
        """Inverse of :meth:`to_storage_dict`; errors name fields, never values."""
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise OAuthError(f"invalid token data: {_describe_validation(exc)}") from None

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # Used by pydantic's __repr__, __str__ and rich's pretty printer alike.
        for name, value in super().__repr_args__():
            if name in (self.model_extra or {}) and name and _SECRET_KEY_RE.search(name):
                value = SecretStr(str(value))
            yield name, value


def _reveal(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()


def _describe_validation(exc: ValidationError) -> str:
    # pydantic messages embed the input value; name the fields and the error kind only.
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '<root>'} ({err['type']})"
        for err in exc.errors(include_input=False, include_url=False)
    )


# --- PKCE -----------------------------------------------------------------------------


def code_challenge(code_verifier: str, method: CodeChallengeMethod = "S256") -> str:
    """The PKCE ``code_challenge`` for ``code_verifier``.

    ``S256`` is base64url(SHA-256(verifier)) without padding (RFC 7636). Clover's docs
    say only "SHA-256 of the code_verifier"; the encoding and the method name are
    guessed, hence the ``method`` switch (``plain`` sends the verifier itself).
    """
    if not _VERIFIER_RE.match(code_verifier):
        raise ConfigurationError(
            "code_verifier must be 43-128 characters of [A-Za-z0-9-._~]", param="code_verifier"
        )
    if method == "plain":
        return code_verifier
    if method == "S256":
        digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    raise ConfigurationError(
        f"code_challenge_method must be 'S256' or 'plain', got {method!r}",
        param="code_challenge_method",
    )


@dataclass(frozen=True)
class PKCE:
    """A PKCE verifier/challenge pair for low-trust apps. Keep ``code_verifier`` secret
    until the code exchange; the repr masks it."""

    code_verifier: str = field(repr=False)
    code_challenge: str
    code_challenge_method: CodeChallengeMethod = "S256"

    @classmethod
    def generate(cls, method: CodeChallengeMethod = "S256", *, nbytes: int = 48) -> PKCE:
        """A fresh random verifier (``nbytes`` of entropy, 64 characters by default)."""
        verifier = secrets.token_urlsafe(nbytes)
        return cls(verifier, code_challenge(verifier, method), method)


def authorize_url(
    client_id: str,
    redirect_uri: str | None = None,
    *,
    state: str | None = None,
    merchant_id: str | None = None,
    pkce: PKCE | None = None,
    code_challenge: str | None = None,
    code_challenge_method: str | None = "S256",
    response_type: str | None = "code",
    base_url: str = SANDBOX_AUTHORIZE_BASE_URL,
    extra_params: Mapping[str, str] | None = None,
) -> str:
    """The URL to send the merchant's browser to: ``{www host}/oauth/v2/authorize``.

    High-trust apps pass no PKCE; low-trust apps pass ``pkce`` (or ``code_challenge``
    and ``code_challenge_method``; ``None`` omits the method parameter). ``merchant_id``
    pre-selects the merchant. ``response_type=code`` is sent by most clients although
    Clover's examples omit it: pass ``None`` to omit it. Clover redirects back to
    ``{redirect_uri}?merchant_id=…&client_id=…&code=…`` (and ``state`` if sent).
    """
    if not client_id:
        raise ConfigurationError("client_id is required", param="client_id")
    if pkce is not None and code_challenge is not None:
        raise ConfigurationError("pass either pkce or code_challenge, not both", param="pkce")
    if pkce is not None:
        code_challenge, code_challenge_method = pkce.code_challenge, pkce.code_challenge_method
    params: dict[str, str] = {"client_id": client_id}
    optional = {
        "redirect_uri": redirect_uri,
        "response_type": response_type,
        "state": state,
        "merchant_id": merchant_id,
        "code_challenge": code_challenge,
        "code_challenge_method": code_challenge_method if code_challenge else None,
    }
    params.update({k: v for k, v in optional.items() if v is not None})
    params.update(extra_params or {})
    return f"{base_url.rstrip('/')}{AUTHORIZE_PATH}?{urlencode(params)}"


# --- sans-I/O requests and responses ---------------------------------------------------


def build_token_request(
    api_base_url: str,
    *,
    client_id: str,
    code: str,
    client_secret: str | SecretStr | None = None,
    code_verifier: str | None = None,
    no_refresh_token: bool = False,
) -> httpx.Request:
    """``POST {api host}/oauth/v2/token``: high-trust apps send ``client_secret``,
    low-trust (PKCE) apps send ``code_verifier``."""
    if not code:
        raise ConfigurationError("code is required", param="code")
    secret = (
        client_secret.get_secret_value() if isinstance(client_secret, SecretStr) else client_secret
    )
    if secret is None and code_verifier is None:
        raise ConfigurationError(
            "exchange_code needs client_secret (high-trust app) or code_verifier (PKCE app)",
            param="code_verifier",
        )
    body: dict[str, str] = {"client_id": client_id, "code": code}
    if secret is not None:
        body["client_secret"] = secret
    if code_verifier is not None:
        body["code_verifier"] = code_verifier
    params = {"no_refresh_token": "true"} if no_refresh_token else None
    return httpx.Request(
        "POST", _join(api_base_url, TOKEN_PATH), json=body, params=params, headers=_JSON
    )


def build_refresh_request(
    api_base_url: str, *, client_id: str, refresh_token: str | SecretStr
) -> httpx.Request:
    """``POST {api host}/oauth/v2/refresh`` with ``{client_id, refresh_token}``."""
    value = (
        refresh_token.get_secret_value() if isinstance(refresh_token, SecretStr) else refresh_token
    )
    if not value:
        raise ConfigurationError("refresh_token is required", param="refresh_token")
    body = {"client_id": client_id, "refresh_token": value}
    return httpx.Request("POST", _join(api_base_url, REFRESH_PATH), json=body, headers=_JSON)


def parse_token_response(
    response: httpx.Response, *, redact: Iterable[str | None] = ()
) -> OAuthToken:
    """Read a token response (body already read). Raises :class:`OAuthError` on an
    error status or an unreadable body; ``redact`` lists secrets we sent, which are
    removed from any server message quoted in the error."""
    what = f"OAuth {response.request.url.path}" if _has_request(response) else "OAuth"
    if not response.is_success:
        server_message = _redact(_server_message(response), redact)
        detail = f": {server_message}" if server_message else ""
        raise OAuthError(
            f"{what} failed{detail}",
            status_code=response.status_code,
            server_message=server_message,
        )
    try:
        data = response.json()
    except ValueError:
        raise OAuthError(
            f"{what}: response body is not JSON", status_code=response.status_code
        ) from None
    if not isinstance(data, dict):
        raise OAuthError(f"{what}: response is not a JSON object", status_code=response.status_code)
    try:
        return OAuthToken.model_validate(data)
    except ValidationError as exc:
        raise OAuthError(
            f"{what}: invalid token response ({_describe_validation(exc)})",
            status_code=response.status_code,
        ) from None


_JSON = {"Accept": "application/json"}


def _join(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


def _has_request(response: httpx.Response) -> bool:
    try:
        response.request  # noqa: B018 - raises RuntimeError when the response has none
    except RuntimeError:
        return False
    return True


def _server_message(response: httpx.Response) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    for key in ("message", "error_description", "error"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, dict) and isinstance(value.get("message"), str):
            return str(value["message"])
    return None


def _redact(message: str | None, secrets_: Iterable[str | None]) -> str | None:
    """Mask every secret we sent, then truncate (in that order, so that no partial
    secret survives a cut)."""
    if message is None:
        return None
    for secret in secrets_:
        if secret:
            message = message.replace(secret, _MASK)
    return message[:_MAX_MESSAGE]


def resolve_hosts(
    base_url: str | None, api_base_url: str | None, authorize_base_url: str | None
) -> tuple[str, str]:
    """(api host, www host): ``base_url`` sets both; the defaults are Clover's sandbox."""
    if base_url is not None:
        if api_base_url is not None or authorize_base_url is not None:
            raise ConfigurationError(
                "pass base_url, or api_base_url/authorize_base_url, not both", param="base_url"
            )
        return base_url, base_url
    return api_base_url or SANDBOX_API_BASE_URL, authorize_base_url or SANDBOX_AUTHORIZE_BASE_URL
