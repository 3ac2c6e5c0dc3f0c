"""How many statements paying an invoice sends (a regression guard, not a timing): the
intent and the settle each stay at their count, the settle's audit and outbox rows are
written together (one INSERT per table), and a taken outbox key still fails the
transaction it was added in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from cloverpay.sandbox import Sandbox
from cloverpay.service.db import AuditLog, Merchant, OutboxEvent
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.records import add_audit, add_outbox, written_together

from .conftest import assert_invariants, make_token
from .receipt_helpers import customer_invoice

#: The intent: the request's Idempotency-Key claimed, the invoice locked with its
#: merchant, what deciding the charge needs, the attempt, its audit row.
INTENT = 5
#: The settle: the attempt and its invoice locked (with the answer's line items), the
#: sums and the receipt's recipient, the invoice's status, the payment, the attempt,
#: the stored answer, the audit rows, the outbox rows.
SETTLE = 8


class Transactions:
    """The statements sent on the context's engine, one list per transaction begun."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []

    def begin(self, *_a: Any) -> None:
        self.groups.append([])

    def statement(self, _conn: Any, _cur: Any, statement: str, *_a: Any) -> None:
        if statement.startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE, ours
            return
        if not self.groups:
            self.groups.append([])
        self.groups[-1].append(" ".join(statement.split())[:70])


@pytest.fixture
def transactions(ctx: ServiceContext) -> Iterator[Transactions]:
    seen = Transactions()
    event.listen(ctx.engine, "begin", seen.begin)
    event.listen(ctx.engine, "before_cursor_execute", seen.statement)
    try:
        yield seen
    finally:
        event.remove(ctx.engine, "before_cursor_execute", seen.statement)
        event.remove(ctx.engine, "begin", seen.begin)


def _counts(ctx: ServiceContext, model: Any) -> int:
    with ctx.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_pay_sends_the_intent_and_the_settle_in_their_statements(
    api: TestClient,
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    transactions: Transactions,
) -> None:
    inv = customer_invoice(ctx, merchant)  # a receipt is queued: three outbox rows
    token = make_token(sandbox)
    audit_before, outbox_before = _counts(ctx, AuditLog), _counts(ctx, OutboxEvent)
    transactions.groups.clear()
    paid = api.post(
        f"/v1/invoices/{inv.id}/pay", json={"token": token}, headers={"Idempotency-Key": "pay-1"}
    )
    assert paid.status_code == 200, paid.text
    body = paid.json()
    assert body["invoice"]["status"] == "paid"
    assert body["invoice"]["line_items"][0]["description"] == "Drain repair"
    groups = [g for g in transactions.groups if g]
    intent, settle = groups[-2], groups[-1]
    assert len(intent) == INTENT, intent
    assert len(settle) == SETTLE, settle
    assert sum(s.startswith("INSERT INTO audit_log") for s in settle) == 1, settle
    assert sum(s.startswith("INSERT INTO outbox") for s in settle) == 1, settle
    # the rows themselves: the attempt's and the invoice's transitions; the payment,
    # its receipt and the invoice paid
    assert _counts(ctx, AuditLog) - audit_before == 3  # the intent's, and the settle's two
    assert _counts(ctx, OutboxEvent) - outbox_before == 3
    with ctx.sessions() as s:
        topics = s.scalars(
            select(OutboxEvent.topic).order_by(OutboxEvent.id).offset(outbox_before)
        ).all()
    assert topics == ["payment.succeeded", "email.payment_receipt", "invoice.paid"]
    assert_invariants(ctx, sandbox)


def test_rows_written_together_keep_their_order_and_a_taken_key_fails(
    ctx: ServiceContext, merchant: Merchant
) -> None:
    with ctx.sessions.begin() as s, written_together(s):
        for n in range(2):
            add_audit(
                s,
                merchant_id=merchant.id,
                actor="test",
                action=f"test.{n}",
                entity_type="test",
                entity_id="t",
            )
            assert (
                add_outbox(s, merchant_id=merchant.id, topic="t", dedupe_key=f"t:{n}", payload={})
                == 0
            )
        # nothing sent before the block's end (the transaction itself does not see them)
        assert s.scalar(select(OutboxEvent.id).where(OutboxEvent.topic == "t")) is None
        assert s.scalar(select(AuditLog.id).where(AuditLog.entity_type == "test")) is None
    with ctx.sessions() as s:
        assert s.scalars(
            select(AuditLog.action).where(AuditLog.entity_type == "test").order_by(AuditLog.id)
        ).all() == ["test.0", "test.1"]
        assert s.scalars(
            select(OutboxEvent.dedupe_key).where(OutboxEvent.topic == "t").order_by(OutboxEvent.id)
        ).all() == ["t:0", "t:1"]
    audit_before = _counts(ctx, AuditLog)

    def taken_key() -> None:
        with ctx.sessions.begin() as s, written_together(s):
            add_audit(
                s,
                merchant_id=merchant.id,
                actor="test",
                action="x",
                entity_type="test",
                entity_id="u",
            )
            add_outbox(s, merchant_id=merchant.id, topic="t", dedupe_key="t:2", payload={})
            add_outbox(s, merchant_id=merchant.id, topic="t", dedupe_key="t:1", payload={})

    with pytest.raises(IntegrityError):
        taken_key()
    assert _counts(ctx, AuditLog) == audit_before  # the whole transaction rolled back
    with ctx.sessions() as s:
        keys = s.scalars(select(OutboxEvent.dedupe_key).where(OutboxEvent.topic == "t")).all()
    assert sorted(keys) == ["t:0", "t:1"]
