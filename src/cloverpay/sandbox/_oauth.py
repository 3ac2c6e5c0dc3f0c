"""OAuth v2 for the sandbox: authorization codes, PKCE, access and refresh tokens.

Pure domain logic, no HTTP. Every function takes ``now`` in **unix seconds** from the
sandbox's controllable clock, so token expiry follows ``POST /_sandbox/clock/advance``.

Rules (spec §3):

* ``/oauth/v2/authorize`` issues a one-time authorization code bound to the app, the
  merchant, the redirect URI and (low-trust apps) a PKCE ``code_challenge``.
* ``/oauth/v2/token`` exchanges the code once: high-trust apps prove themselves with
  ``client_secret``, low-trust apps with ``code_verifier`` (S256 or plain).
* ``/oauth/v2/refresh`` takes a refresh token **once** and returns a new pair; a spent
  refresh token is refused. At most ``max_active_refresh_tokens`` refresh tokens stay
  valid per app+merchant; issuing one more invalidates the oldest. The cap is not
  published by Clover, so it is a setting (guessed default 10).
* Lifetimes are not published either (clients must read the expirations): the defaults
  (access 30 min, refresh 1 year, code 10 min) are guesses and settings.

Exceptions: ``OAuthError`` (carries the HTTP status and a message safe to show; never a
token value).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

__all__ = [
    "LEGACY_EXPIRY",
    "AccessGrant",
    "AuthorizationCode",
    "OAuthApp",
    "OAuthError",
    "OAuthSettings",
    "OAuthStore",
    "TokenPair",
    "pkce_challenge",
]


class OAuthError(Exception):
    """A refused OAuth request; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class OAuthSettings:
    """Lifetimes (seconds) and limits; all guessed defaults, all adjustable."""

    access_token_ttl: int = 30 * 60
    refresh_token_ttl: int = 365 * 24 * 3600
    code_ttl: int = 10 * 60
    max_active_refresh_tokens: int = 10
    auto_approve: bool = False


@dataclass
class OAuthApp:
    """A registered app: ``client_id`` is the App ID, ``client_secret`` the App Secret."""

    client_id: str
    client_secret: str
    redirect_uris: list[str] = field(default_factory=list)

    def redirect_allowed(self, redirect_uri: str) -> bool:
        """Empty list means any URI is accepted (convenient for tests)."""
        if not self.redirect_uris:
            return True
        return any(redirect_uri.startswith(allowed) for allowed in self.redirect_uris)

    def __repr__(self) -> str:
        return f"OAuthApp(client_id={self.client_id!r}, client_secret=<redacted>)"


@dataclass
class AuthorizationCode:
    code: str = field(repr=False)
    client_id: str
    merchant_id: str
    redirect_uri: str
    expires_at: int
    code_challenge: str | None = None
    code_challenge_method: str = "S256"
    used: bool = False


@dataclass
class AccessGrant:
    """What a bearer token stands for: one app acting for one merchant until ``expires_at``."""

    client_id: str
    merchant_id: str
    expires_at: int
    revoked: bool = False


@dataclass
class _RefreshGrant:
    client_id: str
    merchant_id: str
    expires_at: int
    issued_seq: int
    spent: bool = False
    evicted: bool = False


@dataclass(frozen=True)
class TokenPair:
    access_token: str = field(repr=False)
    access_token_expiration: int
    refresh_token: str | None = field(default=None, repr=False)
    refresh_token_expiration: int | None = None

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {
            "access_token": self.access_token,
            "access_token_expiration": self.access_token_expiration,
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
            body["refresh_token_expiration"] = self.refresh_token_expiration
        return body


#: Legacy tokens never expire; stored with this sentinel expiry (year 9999).
LEGACY_EXPIRY = 253402300799


def pkce_challenge(code_verifier: str, method: str = "S256") -> str:
    """RFC 7636 challenge for ``code_verifier``: base64url(SHA-256) without padding."""
    if method == "plain":
        return code_verifier
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


@dataclass
class OAuthStore:
    """Apps, codes and tokens. Token values are dict keys only; never in reprs."""

    settings: OAuthSettings = field(default_factory=OAuthSettings)
    apps: dict[str, OAuthApp] = field(default_factory=dict, repr=False)
    codes: dict[str, AuthorizationCode] = field(default_factory=dict, repr=False)
    access: dict[str, AccessGrant] = field(default_factory=dict, repr=False)
    refresh: dict[str, _RefreshGrant] = field(default_factory=dict, repr=False)
    _seq: int = 0

    def register_app(
        self,
        client_id: str,
        client_secret: str | None = None,
        redirect_uris: list[str] | None = None,
    ) -> OAuthApp:
        app = OAuthApp(client_id, client_secret or secrets.token_hex(16), list(redirect_uris or []))
        self.apps[client_id] = app
        return app

    # -- authorize ---------------------------------------------------------------------

    def check_authorize(self, client_id: str, redirect_uri: str) -> OAuthApp:
        app = self.apps.get(client_id)
        if app is None:
            raise OAuthError(400, f"client_id {client_id!r} is not a registered app")
        if not redirect_uri:
            raise OAuthError(400, "redirect_uri is required")
        if not app.redirect_allowed(redirect_uri):
            raise OAuthError(400, "redirect_uri does not match the app's settings")
        return app

    def issue_code(
        self,
        *,
        client_id: str,
        merchant_id: str,
        redirect_uri: str,
        now: int,
        code_challenge: str | None = None,
        code_challenge_method: str | None = None,
    ) -> str:
        self.check_authorize(client_id, redirect_uri)
        method = code_challenge_method or "S256"
        if method not in ("S256", "plain"):
            raise OAuthError(400, "code_challenge_method must be S256 or plain")
        code = secrets.token_urlsafe(24)
        self.codes[code] = AuthorizationCode(
            code=code,
            client_id=client_id,
            merchant_id=merchant_id,
            redirect_uri=redirect_uri,
            expires_at=now + self.settings.code_ttl,
            code_challenge=code_challenge or None,
            code_challenge_method=method,
        )
        return code

    # -- token -------------------------------------------------------------------------

    def exchange_code(
        self,
        *,
        client_id: str,
        code: str,
        now: int,
        client_secret: str | None = None,
        code_verifier: str | None = None,
        with_refresh: bool = True,
    ) -> tuple[TokenPair, str]:
        """Exchange ``code`` once; returns the pair and the merchant id."""
        if not client_id:
            raise OAuthError(400, "client_id is required")
        if not code:
            raise OAuthError(400, "code is required")
        app = self.apps.get(client_id)
        if app is None:
            raise OAuthError(401, "client_id is not a registered app")
        grant = self.codes.get(code)
        if grant is None or grant.client_id != client_id:
            raise OAuthError(401, "authorization code is invalid")
        if grant.used:
            raise OAuthError(401, "authorization code has already been used")
        if now >= grant.expires_at:
            raise OAuthError(401, "authorization code has expired")
        if client_secret is not None:
            if not hmac.compare_digest(client_secret, app.client_secret):
                raise OAuthError(401, "client_secret is invalid")
        elif code_verifier is not None:
            if grant.code_challenge is None:
                raise OAuthError(401, "code was not issued with a code_challenge")
            expected = pkce_challenge(code_verifier, grant.code_challenge_method)
            if not hmac.compare_digest(expected, grant.code_challenge):
                raise OAuthError(401, "code_verifier does not match the code_challenge")
        else:
            raise OAuthError(400, "client_secret or code_verifier is required")
        grant.used = True
        return self._issue(client_id, grant.merchant_id, now, with_refresh), grant.merchant_id

    def refresh_pair(self, *, client_id: str, refresh_token: str, now: int) -> TokenPair:
        """Spend ``refresh_token`` and return a new pair (single-use rotation)."""
        if not client_id:
            raise OAuthError(400, "client_id is required")
        if not refresh_token:
            raise OAuthError(400, "refresh_token is required")
        grant = self.refresh.get(refresh_token)
        if grant is None or grant.client_id != client_id:
            raise OAuthError(401, "refresh_token is invalid")
        if grant.spent:
            raise OAuthError(
                401, "refresh_token has already been used; refresh tokens are single-use"
            )
        if grant.evicted:
            raise OAuthError(
                401, "refresh_token was invalidated: too many active refresh tokens for this app"
            )
        if now >= grant.expires_at:
            raise OAuthError(401, "refresh_token has expired")
        grant.spent = True
        return self._issue(client_id, grant.merchant_id, now, with_refresh=True)

    def _issue(self, client_id: str, merchant_id: str, now: int, with_refresh: bool) -> TokenPair:
        settings = self.settings
        access = _token("cpat_")
        access_exp = now + settings.access_token_ttl
        self.access[access] = AccessGrant(client_id, merchant_id, access_exp)
        if not with_refresh:
            return TokenPair(access, access_exp)
        refresh = _token("cprt_")
        refresh_exp = now + settings.refresh_token_ttl
        self._seq += 1
        self.refresh[refresh] = _RefreshGrant(client_id, merchant_id, refresh_exp, self._seq)
        self._enforce_cap(client_id, merchant_id)
        return TokenPair(access, access_exp, refresh, refresh_exp)

    def _enforce_cap(self, client_id: str, merchant_id: str) -> None:
        active = sorted(
            (
                g
                for g in self.refresh.values()
                if g.client_id == client_id
                and g.merchant_id == merchant_id
                and not g.spent
                and not g.evicted
            ),
            key=lambda g: g.issued_seq,
        )
        excess = len(active) - self.settings.max_active_refresh_tokens
        for g in active[: max(0, excess)]:
            g.evicted = True

    # -- legacy (pre-2023, non-expiring) tokens -----------------------------------------

    def exchange_legacy(self, *, client_id: str, client_secret: str, code: str, now: int) -> str:
        """``GET /oauth/token``: a code for a non-expiring access token (no refresh)."""
        if not client_secret:
            raise OAuthError(400, "client_secret is required")
        pair, _ = self.exchange_code(
            client_id=client_id, code=code, client_secret=client_secret, now=now, with_refresh=False
        )
        grant = self.access[pair.access_token]
        grant.expires_at = LEGACY_EXPIRY
        return pair.access_token

    def migrate_legacy(
        self, *, client_id: str, client_secret: str, access_token: str, now: int
    ) -> TokenPair:
        """Swap a legacy token for a v2 pair; the legacy token stops working ([G] shape)."""
        app = self.apps.get(client_id)
        if app is None or not hmac.compare_digest(client_secret, app.client_secret):
            raise OAuthError(401, "client_id or client_secret is invalid")
        grant = self.access.get(access_token)
        if grant is None or grant.revoked or grant.client_id != client_id:
            raise OAuthError(401, "access_token is invalid")
        if grant.expires_at != LEGACY_EXPIRY:
            raise OAuthError(400, "access_token is already a v2 (expiring) token")
        grant.revoked = True
        return self._issue(client_id, grant.merchant_id, now, with_refresh=True)

    # -- used by bearer authentication -------------------------------------------------

    def access_grant(self, token: str, now: int) -> AccessGrant | None:
        """The live grant for ``token``, or None if unknown, revoked or expired."""
        grant = self.access.get(token)
        if grant is None or grant.revoked or now >= grant.expires_at:
            return None
        return grant

    def is_expired(self, token: str, now: int) -> bool:
        grant = self.access.get(token)
        return grant is not None and now >= grant.expires_at
