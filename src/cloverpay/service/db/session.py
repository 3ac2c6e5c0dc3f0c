"""Engines and sessions for SQLite (embedded default) and PostgreSQL (psycopg 3).

SQLite: every transaction starts with ``BEGIN IMMEDIATE`` (a write lock taken up
front), so the read-check-write of a unit of work is serialized between threads and
processes the way ``SELECT ... FOR UPDATE`` serializes it on PostgreSQL; WAL mode,
foreign keys on, a 30 s busy timeout. PostgreSQL: READ COMMITTED plus row locks
(``with_for_update``) and ``SKIP LOCKED`` for job claims.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

__all__ = [
    "READ_ONLY_OPTION",
    "SessionFactory",
    "make_engine",
    "make_session_factory",
    "normalise_url",
    "one_statement",
    "reading",
]

SessionFactory = sessionmaker[Session]
#: The execution option of a :func:`reading` connection on SQLite (a deferred BEGIN).
READ_ONLY_OPTION = "cloverpay_read_only"


def normalise_url(url: str) -> str:
    """``postgresql://`` / ``postgres://`` mean psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY_OPTION):
            conn.exec_driver_sql("BEGIN")  # reads only (:func:`reading`): no write lock
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    pre_ping: bool = True,
    ping_idle_s: float = 1.0,
    echo: bool = False,
) -> Engine:
    """``pre_ping`` (PostgreSQL): test a connection taken from the pool with a round
    trip first, so one dropped by a database restart is replaced before use. Only a
    connection that sat in the pool ``ping_idle_s`` seconds or more is tested (0: every
    check-out, as SQLAlchemy's ``pool_pre_ping``): one given back a moment ago by
    another request was in use then, and a request holds its connection across as
    long a window anyway (see :func:`_ping_idle`)."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(database)), exist_ok=True)
        engine = create_engine(
            url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30}
        )
        _sqlite_setup(engine)
        return engine
    engine = create_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size)
    if pre_ping:
        _ping_idle(engine, ping_idle_s)
    return engine


_USED_AT = "cloverpay_used_at"


def _ping_idle(engine: Engine, idle_s: float) -> None:
    """SQLAlchemy's pre-ping (the same ping, the same handling of a failed one: the
    pool is renewed and the check-out tried again), skipped for a connection given
    back to the pool less than ``idle_s`` seconds ago. Under load every check-out is
    such a one: the ping was a round trip per check-out (up to 9 per paid invoice) for
    a connection that had just answered. A server restart within that second fails
    the one request that meets it, as it would fail a request holding its connection
    at that moment; the pool is renewed by it (SQLAlchemy invalidates the pool on a
    disconnect error)."""
    dialect = engine.dialect

    @event.listens_for(engine.pool, "connect")
    def _fresh(_dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
        record.info[_USED_AT] = time.monotonic()

    @event.listens_for(engine.pool, "checkin")
    def _given_back(_dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
        record.info[_USED_AT] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _ping(dbapi_conn: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        used_at = record.info.get(_USED_AT)
        if used_at is not None and time.monotonic() - used_at < idle_s:
            return
        try:
            alive = dialect.do_ping(dbapi_conn)
        except dialect.loaded_dbapi.Error as err:
            if not dialect.is_disconnect(err, dbapi_conn, None):
                raise
            alive = False
        if not alive:  # the server dropped it (a restart): renew the pool, try again
            raise exc.InvalidatePoolError()


def make_session_factory(engine: Engine) -> SessionFactory:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def one_statement(engine: Engine) -> Iterator[Connection]:
    """A connection for ONE statement that is its own transaction. On PostgreSQL it
    runs in autocommit mode (one round trip instead of BEGIN, the statement, COMMIT:
    the same atomicity, the statement commits or fails as a whole); on SQLite it is a
    ``BEGIN IMMEDIATE`` transaction as usual. Never run two statements in it."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")
        return
    with engine.begin() as conn:
        yield conn


@contextmanager
def reading(engine: Engine) -> Iterator[Session]:
    """A session for reads that need no transaction of their own, nor a write lock:
    on PostgreSQL each statement runs in autocommit mode (no BEGIN, no COMMIT: two round
    trips fewer; every statement sees the latest commits); on SQLite a deferred
    ``BEGIN`` (WAL: readers do not wait for the writer) instead of ``BEGIN IMMEDIATE``.
    Never write in it."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT")
        else:
            conn.execution_options(**{READ_ONLY_OPTION: True})
        with Session(bind=conn, expire_on_commit=False) as session:
            yield session
