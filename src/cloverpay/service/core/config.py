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
from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_DATABASE_URL", "RECONCILER_STEPS_S", "Settings", "get_settings"]

DEFAULT_DATABASE_URL = "sqlite:///./.cloverpay/cloverpay.db"

#: When the reconciler looks at a non-final attempt, counted from the previous look:
#: 1 minute, 5 minutes, 1 hour, then daily (RELIABILITY.md rule 3).
RECONCILER_STEPS_S: tuple[int, ...] = (60, 300, 3600, 86400)

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
    #: Payer IP sent to Clover when the request has none (x-forwarded-for is required).
    default_client_ip: str = "127.0.0.1"
    reconciler_steps_s: tuple[int, ...] = RECONCILER_STEPS_S
    reconciler_lease_s: int = 300
    #: Pool size for PostgreSQL (SQLite uses one connection per thread).
    db_pool_size: int = 10

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
