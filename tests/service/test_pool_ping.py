"""PostgreSQL pool: a connection dropped by the server is replaced before use when it
sat idle in the pool; one given back a moment ago is not tested again."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text

from cloverpay.service.db import make_engine
from tests.service.conftest import PG_DSN, pg_problem

pytestmark = pytest.mark.postgres

URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(autouse=True)
def _needs_pg() -> None:
    problem = pg_problem()
    if problem:
        pytest.skip(problem)


def _pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = engine.dialect.do_ping

    def counted(dbapi_conn: Any) -> bool:
        calls.append(1)
        return real(dbapi_conn)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return calls


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(pid: int) -> None:
    with psycopg.connect(PG_DSN, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_an_idle_connection_dropped_by_the_server_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = make_engine(URL, pool_size=1, ping_idle_s=0)  # every check-out tested
    try:
        pings = _pings(engine, monkeypatch)
        pid = _backend_pid(engine)
        _terminate(pid)
        assert _backend_pid(engine) != pid  # the ping failed, a new connection served
        assert pings
    finally:
        engine.dispose()


def test_a_connection_just_given_back_is_not_pinged(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(URL, pool_size=1, ping_idle_s=3600)
    try:
        pings = _pings(engine, monkeypatch)
        first = _backend_pid(engine)
        for _ in range(5):
            assert _backend_pid(engine) == first
        assert pings == []
    finally:
        engine.dispose()


def test_pre_ping_off_tests_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(URL, pool_size=1, pre_ping=False, ping_idle_s=0)
    try:
        pings = _pings(engine, monkeypatch)
        _backend_pid(engine)
        _backend_pid(engine)
        assert pings == []
    finally:
        engine.dispose()
