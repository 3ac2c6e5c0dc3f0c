"""Background jobs shared by several processes: outbox claims and reconciler claims
are leased, disjoint under concurrency, and skip rows locked by another worker
(FOR UPDATE SKIP LOCKED on PostgreSQL)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from cloverpay.sandbox import Sandbox
from cloverpay.service.db import Merchant, OutboxEvent
from cloverpay.service.services import Reconciler, ServiceContext
from cloverpay.service.services.outbox import claim_outbox, mark_failed, mark_sent
from cloverpay.service.services.payments import pay_invoice
from cloverpay.service.services.records import add_outbox

from .conftest import Clock, assert_invariants, clover_charges, make_token, open_test_invoice


def _events(ctx: ServiceContext, merchant: Merchant, n: int) -> None:
    with ctx.sessions.begin() as s:
        for i in range(n):
            add_outbox(
                s,
                merchant_id=merchant.id,
                topic="test.event",
                dedupe_key=f"test:{i}",
                payload={"i": i},
                now=ctx.now(),
            )


def test_outbox_claim_lease_sent_and_retry(
    ctx: ServiceContext, merchant: Merchant, clock: Clock
) -> None:
    _events(ctx, merchant, 3)
    claimed = claim_outbox(ctx, lease_s=60)
    assert len(claimed) == 3
    assert claim_outbox(ctx) == []  # leased
    mark_sent(ctx, claimed[0].id)
    mark_failed(ctx, claimed[1].id, "smtp down")
    clock.advance(31)  # the failed one is due again after 30 s; the third is still leased
    assert [e.id for e in claim_outbox(ctx)] == [claimed[1].id]
    mark_sent(ctx, claimed[1].id)
    clock.advance(60)  # the third's lease expired: its worker died
    assert [e.id for e in claim_outbox(ctx)] == [claimed[2].id]
    with ctx.sessions() as s:
        statuses = {i: st for i, st in s.execute(select(OutboxEvent.id, OutboxEvent.status))}
    assert statuses == {claimed[0].id: "sent", claimed[1].id: "sent", claimed[2].id: "pending"}


def test_concurrent_outbox_claims_are_disjoint(ctx: ServiceContext, merchant: Merchant) -> None:
    _events(ctx, merchant, 20)
    barrier = threading.Barrier(4)

    def claim() -> list[int]:
        barrier.wait()
        return [e.id for e in claim_outbox(ctx, limit=5)]

    with ThreadPoolExecutor(4) as pool:
        batches = list(pool.map(lambda _: claim(), range(4)))
    ids = [i for batch in batches for i in batch]
    assert len(ids) == len(set(ids)) == 20


def test_claims_skip_rows_locked_by_another_worker(ctx: ServiceContext, merchant: Merchant) -> None:
    if ctx.dialect != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite serializes claims with BEGIN IMMEDIATE")
    _events(ctx, merchant, 3)
    with ctx.sessions.begin() as holder:
        first = holder.scalars(
            select(OutboxEvent).order_by(OutboxEvent.id).limit(1).with_for_update()
        ).one()
        claimed = claim_outbox(ctx)  # another connection: must not wait for the lock
        assert first.id not in {e.id for e in claimed}
        assert len(claimed) == 2


def test_two_reconcilers_check_each_attempt_once(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, clock: Clock
) -> None:
    attempts = []
    for _ in range(4):
        inv = open_test_invoice(ctx, merchant)
        sandbox.state.faults.arm("commit_then_drop", method="POST", path="/v1/orders/*/pay")
        attempts.append(
            pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t").id
        )
    clock.advance(60)
    barrier = threading.Barrier(2)

    def run() -> list[str]:
        barrier.wait()
        return Reconciler(ctx, batch=2).run_once().checked

    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda _: run(), range(2)))
    checked = reports[0] + reports[1]
    assert len(checked) == len(set(checked))
    Reconciler(ctx).run_once()  # whatever the two left (each took a batch of 2)
    assert len([c for c in clover_charges(sandbox) if c.status == "succeeded"]) == 4
    assert_invariants(ctx, sandbox)
