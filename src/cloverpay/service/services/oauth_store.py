"""``DbTokenStore``: merchants' OAuth tokens in the ``merchants`` row, shared by every
service process, for :class:`cloverpay.api.CloverOAuth`.

Clover's refresh tokens are single-use, so a refresh must happen once however many
processes notice the expiry together. The store gives ``CloverOAuth`` both halves of
the contract of :mod:`cloverpay.api` (``TokenStore``):

* ``lock(merchant)`` excludes other refreshers of the same merchant, across processes:
  on PostgreSQL ``pg_advisory_xact_lock`` on a connection of its own (it never blocks
  the row, so payments and invoice numbering go on during a refresh; a dead process's
  lock goes with its connection); on SQLite an ``flock`` on a file beside the database
  (SQLite is one host; its own write lock would stop every write for the length of an
  HTTP call). Other databases get a process-local lock and rely on the CAS alone.
* ``save(..., replaces=spent)`` is a conditional ``UPDATE merchants ... WHERE
  clover_merchant_id = :m AND refresh_token_sha256 = sha256(:spent)``: it stores the new
  pair only if the stored refresh token is still the one spent. The tokens are
  Fernet-encrypted (non-deterministic, so the comparison is on their sha256).

Keys are Clover merchant ids (``merchants.clover_merchant_id``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import make_url

from cloverpay.api import OAuthToken
from cloverpay.service.core.security import TokenCipher
from cloverpay.service.db import Merchant, SessionFactory
from cloverpay.service.services.records import add_audit

__all__ = ["DbTokenStore", "refresh_token_digest", "token_columns"]

log = logging.getLogger("cloverpay.service.oauth")


def refresh_token_digest(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode()).hexdigest()


def _to_dt(unix_s: int | None) -> datetime | None:
    if unix_s is None:
        return None
    return datetime.fromtimestamp(unix_s, UTC).replace(tzinfo=None)


def _to_unix(value: datetime | None) -> int | None:
    return None if value is None else int(value.replace(tzinfo=UTC).timestamp())


def token_columns(cipher: TokenCipher, token: OAuthToken) -> dict[str, object]:
    """The ``merchants`` columns holding ``token`` (encrypted)."""
    refresh = token.refresh_token.get_secret_value() if token.refresh_token else None
    return {
        "access_token_enc": cipher.encrypt(token.access_token.get_secret_value()),
        "access_token_expires_at": _to_dt(token.access_token_expiration),
        "refresh_token_enc": cipher.encrypt(refresh) if refresh else None,
        "refresh_token_sha256": refresh_token_digest(refresh) if refresh else None,
        "refresh_token_expires_at": _to_dt(token.refresh_token_expiration),
    }


class DbTokenStore:
    """A :class:`cloverpay.api.TokenStore` over the ``merchants`` table."""

    def __init__(
        self,
        sessions: SessionFactory,
        cipher: TokenCipher,
        *,
        lock_timeout_s: float = 60.0,
        actor: str = "oauth_refresh",
    ) -> None:
        self._sessions = sessions
        self._cipher = cipher
        self._lock_timeout_s = lock_timeout_s
        self._actor = actor
        self._local: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        engine = sessions.kw["bind"]
        self._dialect: str = engine.dialect.name
        self._engine = engine
        self._lock_dir: Path | None = None
        if self._dialect == "sqlite":
            database = make_url(str(engine.url)).database
            if database and database != ":memory:":
                self._lock_dir = Path(os.path.abspath(database + ".oauth-locks"))

    # --- the TokenStore protocol ----------------------------------------------------

    def get(self, merchant_id: str) -> OAuthToken | None:
        with self._sessions() as s:
            row = s.execute(
                select(
                    Merchant.access_token_enc,
                    Merchant.access_token_expires_at,
                    Merchant.refresh_token_enc,
                    Merchant.refresh_token_expires_at,
                ).where(Merchant.clover_merchant_id == merchant_id)
            ).first()
        if row is None or row.access_token_enc is None:
            return None
        return OAuthToken(
            access_token=SecretStr(self._cipher.decrypt(row.access_token_enc)),
            access_token_expiration=_to_unix(row.access_token_expires_at),
            refresh_token=(
                SecretStr(self._cipher.decrypt(row.refresh_token_enc))
                if row.refresh_token_enc
                else None
            ),
            refresh_token_expiration=_to_unix(row.refresh_token_expires_at),
        )

    def save(self, merchant_id: str, token: OAuthToken, *, replaces: str | None = None) -> bool:
        """Compare-and-swap (``replaces`` given) or plain update of an existing merchant;
        False when the merchant is unknown or its refresh token is no longer ``replaces``."""
        stmt = update(Merchant).where(Merchant.clover_merchant_id == merchant_id)
        if replaces is not None:
            stmt = stmt.where(Merchant.refresh_token_sha256 == refresh_token_digest(replaces))
        stmt = stmt.values(**token_columns(self._cipher, token))
        with self._sessions.begin() as s:
            result = s.execute(stmt.execution_options(synchronize_session=False))
            if int(result.rowcount or 0) != 1:  # type: ignore[attr-defined]
                return False
            our_id = s.scalar(select(Merchant.id).where(Merchant.clover_merchant_id == merchant_id))
            add_audit(
                s,
                merchant_id=our_id,
                actor=self._actor,
                action="merchant.token_refreshed" if replaces else "merchant.token_saved",
                entity_type="merchant",
                entity_id=our_id or merchant_id,
                data={"access_token_expires_at": token.access_token_expiration},
            )
        return True

    def lock(self, merchant_id: str) -> AbstractContextManager[object]:
        if self._dialect == "postgresql":
            return self._pg_lock(merchant_id)
        return self._file_lock(merchant_id)

    # --- locks ---------------------------------------------------------------------

    def _local_lock(self, merchant_id: str) -> threading.Lock:
        with self._guard:
            return self._local.setdefault(merchant_id, threading.Lock())

    @contextlib.contextmanager
    def _pg_lock(self, merchant_id: str) -> Iterator[object]:
        key = int.from_bytes(
            hashlib.sha256(f"cloverpay-oauth:{merchant_id}".encode()).digest()[:8],
            "big",
            signed=True,
        )
        with self._local_lock(merchant_id), self._engine.connect() as conn:
            # A transaction of its own, idle while the refresh call is in flight; the
            # lock ends with it (commit, rollback, or the connection of a dead process).
            timeout_ms = int(self._lock_timeout_s * 1000)
            conn.execute(text(f"SET LOCAL lock_timeout = {timeout_ms}"))
            conn.execute(select(func.pg_advisory_xact_lock(key)))
            try:
                yield None
            finally:
                conn.rollback()

    @contextlib.contextmanager
    def _file_lock(self, merchant_id: str) -> Iterator[object]:
        with self._local_lock(merchant_id):
            if self._lock_dir is None:
                yield None
                return
            try:
                import fcntl
            except ImportError:  # pragma: no cover - Windows: process-local lock + CAS
                yield None
                return
            self._lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            name = hashlib.sha256(merchant_id.encode()).hexdigest()[:32]
            fd = os.open(self._lock_dir / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    yield None
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def __repr__(self) -> str:
        return f"DbTokenStore(dialect={self._dialect!r})"
