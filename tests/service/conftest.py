"""Fixtures of the service tests: a database per test (SQLite file or a PostgreSQL
schema created and dropped per test), an in-process sandbox, a connected merchant."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")

from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloverpay.api import CloverClient
from cloverpay.sandbox import Sandbox
from cloverpay.service.api import create_app
from cloverpay.service.core.config import Settings
from cloverpay.service.db import Base, Invoice, Merchant, make_engine
from cloverpay.service.invariants import CloverChargeFact, check_invariants
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.invoices import (
    LineItemInput,
    create_invoice,
    open_invoice,
)
from cloverpay.service.services.merchants import connect_merchant, create_api_key

PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"
APPROVE = "4242424242424242"
DECLINE = "4005571702222222"


def _pg_problem() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_DSN) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure means "skip", with the reason
        return f"PostgreSQL at 127.0.0.1:5432 (user postgres, db test) not reachable: {exc}"
    return None


_PG_PROBLEM: str | bool | None = False


def pg_problem() -> str | None:
    global _PG_PROBLEM
    if _PG_PROBLEM is False:
        _PG_PROBLEM = _pg_problem()
    return _PG_PROBLEM  # type: ignore[return-value]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/cloverpay.db"
        return
    problem = pg_problem()
    if problem:
        pytest.skip(problem)
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield (
            f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
        )
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(
        database_url=db_url,
        env="test",
        secret_key=Fernet.generate_key().decode(),
        clover_environment="sandbox",
        events_out_allow_networks=("127.0.0.1/32",),  # the tests' receivers
    )


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=7) as sb:
        yield sb


@dataclass
class Clock:
    """A controllable clock for ``ServiceContext.now``."""

    value: Any

    def __call__(self) -> Any:
        return self.value

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self.value = self.value + timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    from cloverpay.service.db import utcnow

    return Clock(utcnow())


def create_schema(url: str) -> None:
    """The models' schema, fast. test_schema.py proves the Alembic migration builds the
    same one; the crash tests run the migration itself."""
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()


@pytest.fixture
def ctx(settings: Settings, sandbox: Sandbox, clock: Clock) -> Iterator[ServiceContext]:
    create_schema(settings.database_url)
    context = ServiceContext.build(
        settings, transport=sandbox.sync_transport(), retry=0, rate_limit=False, now=clock
    )
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def merchant(ctx: ServiceContext, sandbox: Sandbox) -> Merchant:
    creds = sandbox.credentials
    return connect_merchant(
        ctx,
        name="Test Plumbing",
        clover_merchant_id=creds.merchant_id,
        access_token=creds.access_token,
        pakms_key=creds.api_access_key,
        clover_base_url=creds.base_url,
    )


@pytest.fixture
def api(ctx: ServiceContext, merchant: Merchant) -> Iterator[TestClient]:
    """The app in process, authenticated with a new API key of ``merchant``."""
    key = create_api_key(ctx, merchant.id)
    with TestClient(
        create_app(context=ctx), headers={"Authorization": f"Bearer {key.secret}"}
    ) as client:
        yield client


def clover(sandbox: Sandbox) -> CloverClient:
    creds = sandbox.credentials
    return CloverClient(
        creds.access_token,
        merchant_id=creds.merchant_id,
        api_access_key=creds.api_access_key,
        base_url=creds.base_url,
        transport=sandbox.sync_transport(),
        client_ip="203.0.113.9",
        rate_limit=None,
        retry=0,
    )


def make_token(sandbox: Sandbox, number: str = APPROVE) -> str:
    with clover(sandbox) as c:
        token = c.tokens.create(
            card={"number": number, "exp_month": "12", "exp_year": "2031", "cvv": "123"}
        )
    return token.id


def open_test_invoice(
    ctx: ServiceContext, merchant: Merchant, *, unit: int = 1000, qty: int = 2, tax: int = 160
) -> Invoice:
    inv = create_invoice(
        ctx,
        merchant.id,
        line_items=[LineItemInput("Drain repair", qty, unit)],
        tax_amount=tax,
        actor="test",
    )
    return open_invoice(ctx, merchant.id, inv.id, actor="test")


def clover_charges(sandbox: Sandbox) -> list[CloverChargeFact]:
    with clover(sandbox) as c:
        return [
            CloverChargeFact(
                id=ch.id,
                status=str(ch.status),
                amount=ch.amount or 0,
                amount_refunded=ch.amount_refunded or 0,
                order=ch.order,
                checkout_session=(ch.metadata or {}).get("checkoutSessionId"),
                amount_captured=ch.amount_captured,
                captured=ch.captured,
            )
            for ch in c.charges.list(limit=100)
        ]


def assert_invariants(ctx: ServiceContext, sandbox: Sandbox) -> None:
    facts = clover_charges(sandbox)
    with ctx.sessions() as s:
        problems = check_invariants(
            s,
            clover_charges=facts,
            now=ctx.now(),
            first_step_s=ctx.settings.reconciler_steps_s[0],
        )
    assert problems == []


def invoice_row(ctx: ServiceContext, invoice_id: str) -> Invoice:
    with ctx.sessions() as s:
        inv = s.scalar(select(Invoice).where(Invoice.id == invoice_id))
        assert inv is not None
        return inv
