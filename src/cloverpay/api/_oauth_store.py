"""Where OAuth tokens live between requests, and how a refresh is kept single.

Clover's refresh tokens are single-use: spending one twice loses the grant (the
second call fails, and the merchant must authorize again). Every refresh therefore
runs as one critical section per merchant::

    with store.lock(merchant_id):                 # 1. exclusive, across processes
        current = store.get(merchant_id)          # 2. re-read under the lock
        if current is not the token we saw:       #    someone else refreshed: use theirs
            return current
        new = POST /oauth/v2/refresh(current.refresh_token)      # 3. spend it once
        store.save(merchant_id, new, replaces=current.refresh_token)   # 4. CAS

The protocol has both halves:

* ``lock(merchant_id)`` is the *lock hook*: a context manager held across the
  refresh call. A database store implements it with ``SELECT … FOR UPDATE`` on the
  merchant's token row in its own transaction, or ``pg_advisory_lock``; a store
  shared by processes on one host can use ``flock`` (as :class:`FileTokenStore` does).
* ``save(..., replaces=spent_refresh_token)`` is *compare-and-swap*: it stores the new
  pair only if the stored refresh token is still the one that was spent, and
  returns whether it did (a database store: ``UPDATE … WHERE merchant_id = :m AND
  refresh_token = :spent``, row count 1). ``replaces=None`` saves unconditionally
  (a fresh authorization replaces whatever was there).

``SqliteTokenStore`` in ``tests/api/test_oauth_store.py`` is a worked example over a
database (a write transaction as the lock, the CAS ``UPDATE`` inside it).

A store that cannot lock across processes may make ``lock`` a process-local lock and
rely on the CAS alone: the loser of a race then learns it lost (``save`` returns
False) instead of silently overwriting the winner, but one of the two refresh calls
will already have been refused by Clover.

Stores hold tokens in the clear in memory; at rest they must be protected
(:class:`FileTokenStore` writes mode 0600 and accepts a ``codec`` such as
``cryptography.fernet.Fernet`` to encrypt the file; a database store should encrypt
the token columns).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ._oauth import OAuthError, OAuthToken

__all__ = [
    "AsyncTokenStore",
    "FileTokenStore",
    "InMemoryTokenStore",
    "TokenCodec",
    "TokenStore",
]


@runtime_checkable
class TokenStore(Protocol):
    """A synchronous token store (see the module docstring for the contract)."""

    def get(self, merchant_id: str) -> OAuthToken | None:
        """The current token pair for the merchant, or None."""
        ...

    def save(self, merchant_id: str, token: OAuthToken, *, replaces: str | None = None) -> bool:
        """Store ``token``; if ``replaces`` is given, only while the stored refresh token
        equals it. Returns whether the token was stored."""
        ...

    def lock(self, merchant_id: str) -> AbstractContextManager[object]:
        """An exclusive lock on the merchant's token, held across a refresh."""
        ...


class AsyncTokenStore(Protocol):
    """The same contract as :class:`TokenStore` for async storage (e.g. asyncpg)."""

    async def get(self, merchant_id: str) -> OAuthToken | None: ...

    async def save(
        self, merchant_id: str, token: OAuthToken, *, replaces: str | None = None
    ) -> bool: ...

    def lock(self, merchant_id: str) -> AbstractAsyncContextManager[object]: ...


class TokenCodec(Protocol):
    """Encrypts the token file at rest; ``cryptography.fernet.Fernet`` fits."""

    def encrypt(self, data: bytes) -> bytes: ...

    def decrypt(self, token: bytes) -> bytes: ...


def _current_refresh(token: OAuthToken | None) -> str | None:
    if token is None or token.refresh_token is None:
        return None
    return token.refresh_token.get_secret_value()


class InMemoryTokenStore:
    """Tokens in a dict, one ``threading.Lock`` per merchant: one process only."""

    def __init__(self, tokens: dict[str, OAuthToken] | None = None) -> None:
        self._tokens: dict[str, OAuthToken] = dict(tokens or {})
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, merchant_id: str) -> OAuthToken | None:
        return self._tokens.get(merchant_id)

    def save(self, merchant_id: str, token: OAuthToken, *, replaces: str | None = None) -> bool:
        with self._guard:
            if replaces is not None and _current_refresh(self._tokens.get(merchant_id)) != replaces:
                return False
            self._tokens[merchant_id] = token
            return True

    def lock(self, merchant_id: str) -> AbstractContextManager[object]:
        with self._guard:
            return self._locks.setdefault(merchant_id, threading.Lock())

    def __repr__(self) -> str:
        return f"InMemoryTokenStore(merchants={sorted(self._tokens)!r})"


class FileTokenStore:
    """Tokens of any number of merchants in one JSON file.

    The file is written with mode 0600 through a temporary file and an atomic
    ``os.replace``. Locks are ``flock`` on files under ``<path>.locks/`` (one per
    merchant for refreshes, one for writes), so processes on one host share the
    store safely; where ``fcntl`` is missing (Windows) the locks are process-local.
    Pass ``codec`` (e.g. ``Fernet(key)``) to encrypt the file at rest.
    """

    def __init__(self, path: str | os.PathLike[str], *, codec: TokenCodec | None = None) -> None:
        self.path = Path(path)
        self._codec = codec
        self._lock_dir = self.path.with_name(self.path.name + ".locks")
        self._local_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, merchant_id: str) -> OAuthToken | None:
        data = self._read().get(merchant_id)
        if data is None:
            return None
        if not isinstance(data, dict):
            raise OAuthError(f"{self.path}: entry for merchant {merchant_id!r} is not an object")
        return OAuthToken.from_storage_dict(data)

    def save(self, merchant_id: str, token: OAuthToken, *, replaces: str | None = None) -> bool:
        with self._flock("_file"):
            data = self._read()
            if replaces is not None:
                current = data.get(merchant_id)
                stored = current.get("refresh_token") if isinstance(current, dict) else None
                if stored != replaces:
                    return False
            data[merchant_id] = token.to_storage_dict()
            self._write(data)
            return True

    def lock(self, merchant_id: str) -> AbstractContextManager[object]:
        return self._flock("m-" + _safe_name(merchant_id))

    def merchants(self) -> list[str]:
        """The merchant ids with a stored token."""
        return sorted(self._read())

    @contextlib.contextmanager
    def _flock(self, name: str) -> Iterator[object]:
        with self._guard:
            local = self._local_locks.setdefault(name, threading.Lock())
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            with local:
                yield None
            return
        self._lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self._lock_dir / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield None
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _read(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        if self._codec is not None:
            try:
                raw = self._codec.decrypt(raw)
            except Exception as exc:  # e.g. cryptography.fernet.InvalidToken
                raise OAuthError(
                    f"{self.path}: cannot decrypt the token file ({type(exc).__name__}); "
                    "wrong key, or the file was not written with this codec"
                ) from None
        try:
            data = json.loads(raw)
        except ValueError:
            raise OAuthError(f"{self.path}: token file is not valid JSON") from None
        if not isinstance(data, dict):
            raise OAuthError(f"{self.path}: token file is not a JSON object")
        return data

    def _write(self, data: dict[str, Any]) -> None:
        raw = json.dumps(data, sort_keys=True).encode()
        if self._codec is not None:
            raw = self._codec.encrypt(raw)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            os.chmod(tmp, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(raw)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"


def _safe_name(merchant_id: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", merchant_id):
        return merchant_id
    return hashlib.sha256(merchant_id.encode()).hexdigest()[:32]


class ThreadedStore:
    """Presents a synchronous :class:`TokenStore` as an :class:`AsyncTokenStore` by
    running its calls in worker threads (so a blocking lock or file read never stalls
    the event loop). A lock acquired for a task that is cancelled while waiting is
    released as soon as the worker gets it."""

    def __init__(self, store: TokenStore, run: Callable[..., Awaitable[Any]] | None = None) -> None:
        if run is None:
            import asyncio

            run = asyncio.to_thread
        self.store = store
        self._run = run

    async def get(self, merchant_id: str) -> OAuthToken | None:
        result: OAuthToken | None = await self._run(self.store.get, merchant_id)
        return result

    async def save(
        self, merchant_id: str, token: OAuthToken, *, replaces: str | None = None
    ) -> bool:
        def call() -> bool:
            return self.store.save(merchant_id, token, replaces=replaces)

        result: bool = await self._run(call)
        return result

    @contextlib.asynccontextmanager
    async def lock(self, merchant_id: str) -> Any:
        import asyncio

        cm = self.store.lock(merchant_id)
        acquiring = asyncio.ensure_future(self._run(cm.__enter__))
        try:
            await asyncio.shield(acquiring)
        except asyncio.CancelledError:

            def release(fut: asyncio.Future[Any]) -> None:
                if not fut.cancelled() and fut.exception() is None:
                    cm.__exit__(None, None, None)

            acquiring.add_done_callback(release)
            raise
        try:
            yield None
        finally:
            cm.__exit__(None, None, None)
