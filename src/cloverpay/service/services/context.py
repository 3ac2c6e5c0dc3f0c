"""What every unit of work needs: sessions, the Clover gateway, the clock, the cipher."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import Engine

from cloverpay.api import RetryPolicy
from cloverpay.service.core.config import Settings
from cloverpay.service.core.security import TokenCipher
from cloverpay.service.db import SessionFactory, make_engine, make_session_factory, utcnow
from cloverpay.service.gateway import CloverGateway
from cloverpay.service.services.oauth_store import DbTokenStore

if TYPE_CHECKING:
    from cloverpay.service.services.merchants import Principal

__all__ = ["ServiceContext"]


@dataclass
class ServiceContext:
    """``now`` is injectable so the reconciler can run under a controlled clock."""

    settings: Settings
    engine: Engine
    sessions: SessionFactory
    gateway: CloverGateway
    cipher: TokenCipher
    now: Callable[[], datetime] = field(default=utcnow)
    #: API key hash -> (expires at on the monotonic clock, the key's principal):
    #: :func:`~cloverpay.service.services.merchants.authenticate_cached`.
    auth_cache: dict[str, tuple[float, Principal]] = field(default_factory=dict)

    def close(self) -> None:
        """Close the Clover connections and the database pool."""
        self.gateway.close()
        self.engine.dispose()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        engine: Engine | None = None,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | int | None = None,
        rate_limit: bool = True,
        now: Callable[[], datetime] | None = None,
    ) -> ServiceContext:
        engine = engine or make_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            pre_ping=settings.db_pool_pre_ping,
            ping_idle_s=settings.db_pool_ping_idle_s,
        )
        cipher = TokenCipher(settings.fernet_key())
        sessions = make_session_factory(engine)
        gateway = CloverGateway(
            settings,
            cipher,
            transport=transport,
            retry=retry,
            rate_limit=rate_limit,
            token_store=DbTokenStore(sessions, cipher),
        )
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            gateway=gateway,
            cipher=cipher,
            now=now or utcnow,
        )
