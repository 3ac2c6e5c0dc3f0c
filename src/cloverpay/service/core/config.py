"""Service settings from the environment (prefix ``CLOVERPAY_``) and an optional ``.env``.

``DATABASE_URL`` (no prefix, the usual name) picks the store: SQLite by default under
``./.cloverpay/``, ``postgresql+psycopg://...`` in production. ``CLOVERPAY_SECRET_KEY`` is
the Fernet key that encrypts OAuth tokens at rest; without one a development key is
derived and a warning is logged, never in production (``CLOVERPAY_ENV=production``
refuses to start without it).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DEFAULT_DATABASE_URL",
    "RECONCILER_STEPS_S",
    "SUBSCRIPTION_DUNNING_S",
    "Settings",
    "get_settings",
]

DEFAULT_DATABASE_URL = "sqlite:///./.cloverpay/cloverpay.db"

#: When the reconciler looks at a non-final attempt, counted from the previous look:
#: 1 minute, 5 minutes, 1 hour, then daily (RELIABILITY.md rule 3).
RECONCILER_STEPS_S: tuple[int, ...] = (60, 300, 3600, 86400)

#: Dunning: +1 day, +3 days, +5 days, +7 days after each failed subscription charge.
SUBSCRIPTION_DUNNING_S: tuple[int, ...] = (86400, 3 * 86400, 5 * 86400, 7 * 86400)

_DEV_SECRET = "cloverpay-development-secret-not-for-production"


class Settings(BaseSettings):
    """Everything the service reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="CLOVERPAY_", env_file=".env", extra="ignore", populate_by_name=True
    )

    env: Literal["development", "test", "production"] = "development"
    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        validation_alias=AliasChoices("DATABASE_URL", "CLOVERPAY_DATABASE_URL"),
    )
    #: Fernet key (urlsafe base64 of 32 bytes) encrypting OAuth tokens at rest.
    secret_key: SecretStr | None = None
    #: Clover hosts: "sandbox", "production", or a base URL (e.g. a local cloverpay sandbox).
    clover_environment: str = "sandbox"
    clover_base_url: str | None = None
    clover_max_retries: int = 3
    clover_timeout_s: float = 30.0
    #: Seconds an idle keep-alive connection to Clover stays in the pool. Below what
    #: servers usually allow (5 s for uvicorn, Node, Apache; 60 s and more behind load
    #: balancers; httpx's own default is 5 s too): a connection reused just as the server
    #: closes it fails after the request may have left. Clover's own figure is unknown.
    clover_keepalive_expiry_s: float = Field(default=2.0, gt=0)
    #: Payer IP sent to Clover when the request has none (x-forwarded-for is required).
    default_client_ip: str = "127.0.0.1"
    reconciler_steps_s: tuple[int, ...] = RECONCILER_STEPS_S
    reconciler_lease_s: int = 300
    #: Subscriptions: after failure k of a period, the next attempt comes
    #: ``subscription_dunning_s[k-1]`` later (default +1 d, +3 d, +5 d, +7 d; the last
    #: step repeats); the subscription is deactivated after ``subscription_max_failures``
    #: consecutive failures.
    subscription_dunning_s: tuple[int, ...] = SUBSCRIPTION_DUNNING_S
    subscription_max_failures: int = 5
    #: How long a billing run holds a subscription, and when it looks again at one whose
    #: charge is unresolved (the reconciler resolves it meanwhile) or polls Clover's
    #: Recurring API for the charges it made.
    subscription_lease_s: int = 300
    subscription_recheck_s: int = 300
    subscription_poll_s: int = 3600
    #: Worker threads a process runs blocking request work on (the routes, which call
    #: the database and Clover; anyio's default is 40). On a few cores more threads do
    #: not run more requests at once, they hand the GIL and pooled connections back and
    #: forth (measured in bench/service_pay.py); a request past them waits its turn
    #: on the event loop.
    request_threads: int = Field(default=12, ge=1)
    #: Connections kept open per process for PostgreSQL (as many more may open and close
    #: under load): one per request thread, with room for the background workers of
    #: ``cloverpay serve``; mind max_connections (default 100) with many processes.
    db_pool_size: int = 12
    #: PostgreSQL: one round trip per connection taken from the pool, to replace a
    #: connection the server dropped (a restart) before a request uses it. Off, such a
    #: request fails instead (before any call to Clover, or leaving its attempt to the
    #: reconciler) and the pool is renewed.
    db_pool_pre_ping: bool = True
    #: ...tested only when it sat in the pool this many seconds or more (0: on every
    #: check-out). One given back a moment ago had just answered another request.
    db_pool_ping_idle_s: float = Field(default=1.0, ge=0)
    #: The app's "Clover Auth Code" (shown by Clover once the webhook URL's verification
    #: code is confirmed); app webhooks without it are stored unverified.
    clover_app_auth_code: SecretStr | None = None
    #: Seconds a Hosted Checkout signature's t= may be off (Clover names none; guessed).
    webhook_tolerance_s: int = 300
    #: Terminals: how long a process's lease on a terminal lasts unless renewed (another
    #: process takes the terminal over once it lapses) and how often it is renewed /
    #: the queue of sales, refunds and voids is looked at.
    terminal_lease_s: float = 30.0
    terminal_tick_s: float = 1.0
    #: Events out: networks (CIDR) an events URL may reach although they are not public
    #: (loopback, private, link-local, …); every other such address is refused when the
    #: URL is saved and before each delivery. Empty by default; ``cloverpay up`` allows
    #: 127.0.0.1, the tests allow loopback. JSON in the environment:
    #: ``CLOVERPAY_EVENTS_OUT_ALLOW_NETWORKS='["10.1.2.0/24"]'``.
    events_out_allow_networks: tuple[str, ...] = ()
    #: A terminal refund still queued at its expiry while no process owns the terminal
    #: is sent once through Clover's REST API (``POST /v1/refunds`` with the v3
    #: payment id as ``charge``; that Clover takes a card-present payment there is a
    #: guess [G]); false: it expires unsent, as a void always does. The automatic
    #: fallback's switch only: a refund asked for with ``via='rest'`` (staff's own
    #: choice) is sent whatever it says; Clover refusing one fails it, nothing moved.
    terminal_refund_via_rest: bool = True

    @field_validator("events_out_allow_networks")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            ipaddress.ip_network(cidr.strip(), strict=False)  # ValueError names it
        return value

    @field_validator("subscription_dunning_s")
    @classmethod
    def _dunning(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(s <= 0 for s in value):
            raise ValueError("subscription_dunning_s must be positive seconds")
        return value

    #: The Clover app merchants connect through OAuth v2 (App ID / App Secret). Without
    #: a secret the app is low-trust: the code is exchanged with the PKCE verifier only.
    clover_app_id: str | None = None
    clover_app_secret: SecretStr | None = None
    #: Send a PKCE challenge on the authorize redirect (and the verifier on the code
    #: exchange). Clover documents PKCE for low-trust apps; a high-trust app sends its
    #: secret as well. Whether Clover accepts both at once is not documented [G]: set
    #: false if the exchange is refused.
    clover_oauth_pkce: bool = True
    #: Where Clover sends the merchant back; default ``{public_url}/oauth/callback``.
    oauth_redirect_url: str | None = None

    @field_validator("reconciler_steps_s")
    @classmethod
    def _steps(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(s <= 0 for s in value):
            raise ValueError("reconciler_steps_s must be positive seconds")
        return value

    def fernet_key(self) -> bytes:
        """The key for :class:`~cloverpay.service.core.security.TokenCipher`."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        if self.env == "production":
            raise ValueError("CLOVERPAY_SECRET_KEY is required in production")
        digest = hashlib.sha256(_DEV_SECRET.encode()).digest()
        return base64.urlsafe_b64encode(digest)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
