"""The Alembic migration builds the models' schema on SQLite and PostgreSQL, and the
database itself enforces the uniqueness rules."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from cloverpay.service.db import PaymentAttempt, make_engine
from cloverpay.service.migrate import alembic_config, downgrade, upgrade
from cloverpay.service.services import ServiceContext

from .conftest import open_test_invoice


def test_migration_matches_models_and_downgrades(db_url: str) -> None:
    upgrade(db_url)
    command.check(alembic_config(db_url))  # raises if the models and the schema differ
    engine = make_engine(db_url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {
        "merchants",
        "api_keys",
        "customers",
        "cards_on_file",
        "invoices",
        "invoice_line_items",
        "payment_attempts",
        "payments",
        "refunds",
        "audit_log",
        "outbox",
        "idempotency_keys",
        "webhook_inbox",
        "plans",
        "subscriptions",
        "merchant_billing_settings",
        "merchant_webhook_secrets",
        "terminals",
        "terminal_sales",
        "oauth_connect_states",
        "merchant_event_settings",
        "event_deliveries",
        "authorizations",
        "terminal_ops",
    } <= tables
    downgrade(db_url, "base")
    engine = make_engine(db_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


def _attempt(merchant_id: str, invoice_id: str, key: str, state: str) -> PaymentAttempt:
    return PaymentAttempt(
        merchant_id=merchant_id,
        kind="charge",
        state=state,
        invoice_id=invoice_id,
        amount=100,
        currency="usd",
        idempotency_key=key,
        source_kind="token",
    )


def test_one_open_charge_attempt_per_invoice(ctx: ServiceContext, merchant: object) -> None:
    inv = open_test_invoice(ctx, merchant)  # type: ignore[arg-type]
    mid = inv.merchant_id
    with ctx.sessions.begin() as s:
        s.add(_attempt(mid, inv.id, "k1", "failed"))
        s.add(_attempt(mid, inv.id, "k2", "pending"))
    with pytest.raises(IntegrityError), ctx.sessions.begin() as s:
        s.add(_attempt(mid, inv.id, "k3", "unknown"))
    with pytest.raises(IntegrityError), ctx.sessions.begin() as s:
        s.add(_attempt(mid, inv.id, "k1", "failed"))  # same idempotency key
    with ctx.sessions.begin() as s:  # finished attempts do not block
        s.add(_attempt(mid, inv.id, "k4", "succeeded"))
