"""A terminal refund nobody could send on the device goes through Clover's REST API:
queued while no process owns the terminal, at its expiry the reconciler claims it
(``queued -> sending``, ``via='rest'``) and sends it once (``POST /v1/refunds`` with the
v3 payment id, the attempt's idempotency key); a lost answer is looked up on the v3
payment, never sent again. Voids stay device-only. Every test ends with the invariant
checker (v3 payments included)."""

# ruff: noqa: F811  (the fixtures of terminal_helpers are imported by name)
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from cloverpay.sandbox import Sandbox
from cloverpay.service.db import Merchant, Payment, Refund, Terminal
from cloverpay.service.services import Reconciler, ServiceContext
from cloverpay.service.services.refund_refs import REFERENCE_KEY
from cloverpay.service.services.terminal_ops import (
    claim_op,
    request_terminal_refund,
    request_terminal_void,
)
from cloverpay.service.services.terminal_queue import MAX_SALE_S, QUEUE_TTL_S
from cloverpay.service.services.terminal_refund_rest import claim_for_rest, refund_via_rest
from cloverpay.service.services.terminals import acquire_lease
from cloverpay.service.terminal_runtime import TerminalRuntime
from cloverpay.service.webhooks import apply_refunds, plan_refunds

from .conftest import Clock, clover
from .terminal_helpers import (  # noqa: F401  (fixtures)
    assert_books,
    attempt_row,
    audit_count,
    clover_refunds,
    device_refunds,
    op_row,
    owning,
    paid_on_terminal,
    runtime,
    terminal,
    terminal_server,
    v3_payments,
)

pytestmark = pytest.mark.timeout(180)


def paid_then_nobody_owns(
    ctx: ServiceContext, merchant: Merchant, terminal: Terminal, runtime: TerminalRuntime
) -> Payment:
    """A terminal payment, then its terminal's owner stops (the lease released)."""
    payment = paid_on_terminal(ctx, merchant, terminal, runtime)
    runtime.stop()
    return payment


def refund_rows(ctx: ServiceContext, payment: Payment) -> list[Refund]:
    with ctx.sessions() as s:
        return list(s.scalars(select(Refund).where(Refund.payment_id == payment.id)))


def test_refund_expiring_with_no_owner_is_sent_once_through_rest(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
    clock: Clock,
) -> None:
    payment = paid_then_nobody_owns(ctx, merchant, terminal, runtime)
    refund = request_terminal_refund(ctx, merchant.id, payment.id, amount=700, actor="staff")
    reconciler = Reconciler(ctx)
    reconciler.run_once()  # not expired yet: it waits for the terminal
    assert (attempt_row(ctx, refund.id).state, op_row(ctx, refund.id).stage) == (
        "pending",
        "queued",
    )
    clock.advance(QUEUE_TTL_S + 1)
    report = reconciler.run_once()
    assert report.resolved == {refund.id: "succeeded"}
    done = attempt_row(ctx, refund.id)
    op = op_row(ctx, refund.id)
    assert (op.stage, op.via, op.claimed_by) == ("done", "rest", "reconciler")
    assert clover_refunds(sandbox, payment) == [(done.clover_refund_id, 700)]
    assert [r.clover_refund_id for r in refund_rows(ctx, payment)] == [done.clover_refund_id]
    assert audit_count(ctx, refund.id, "terminal_refund.sent") == 1
    assert device_refunds(sandbox) == 0  # never on the device
    # the REST view of the refund knows it too
    with clover(sandbox) as c:
        listed = list(c.refunds.list(charge=payment.clover_charge_id))
    assert [(r.id, r.amount) for r in listed] == [(done.clover_refund_id, 700)]
    # nothing can send it again
    assert not claim_op(ctx, refund.id, "late-proc")
    assert refund_via_rest(ctx, refund.id, actor="late") is None
    assert_books(ctx, sandbox)


def test_lost_rest_answer_is_looked_up_and_never_resent(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
    clock: Clock,
) -> None:
    payment = paid_then_nobody_owns(ctx, merchant, terminal, runtime)
    refund = request_terminal_refund(ctx, merchant.id, payment.id, amount=500, actor="staff")
    # Clover refunds it and the answer is lost on the way back
    sandbox.state.faults.arm("commit_then_drop", method="POST", path="/v1/refunds", count=1)
    reconciler = Reconciler(ctx)
    clock.advance(QUEUE_TTL_S + 1)
    reconciler.run_once()
    lost = attempt_row(ctx, refund.id)
    assert lost.state == "unknown"
    assert lost.next_check_at is not None  # the reconciler looks it up on its first step
    assert op_row(ctx, refund.id).stage == "unknown"
    assert [amount for _, amount in clover_refunds(sandbox, payment)] == [500]
    assert refund_rows(ctx, payment) == []
    assert_books(ctx, sandbox)  # an unknown refund may be at Clover, not recorded yet
    # another refund meanwhile is refused: the first one's outcome is unknown
    with pytest.raises(Exception, match="unknown outcome"):
        request_terminal_refund(ctx, merchant.id, payment.id, amount=100, actor="staff")

    clock.advance(ctx.settings.reconciler_steps_s[0] + 1)
    report = reconciler.run_once()
    assert report.resolved == {refund.id: "succeeded"}
    done = attempt_row(ctx, refund.id)
    assert clover_refunds(sandbox, payment) == [(done.clover_refund_id, 500)]  # sent once
    assert [r.amount for r in refund_rows(ctx, payment)] == [500]
    assert audit_count(ctx, refund.id, "terminal_refund.sent") == 1
    assert op_row(ctx, refund.id).stage == "done"
    assert_books(ctx, sandbox)


def test_rest_send_of_a_process_that_died_is_looked_up_not_resent(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
    clock: Clock,
) -> None:
    """A process claimed the REST send and died before (or while) sending: a new owner
    of the terminal does not adopt it as a device op; the reconciler gives it up after
    MAX_SALE_S and looks it up (nothing at Clover: not refunded)."""
    payment = paid_then_nobody_owns(ctx, merchant, terminal, runtime)
    refund = request_terminal_refund(ctx, merchant.id, payment.id, amount=300, actor="staff")
    clock.advance(QUEUE_TTL_S + 1)
    assert claim_for_rest(ctx, refund.id, "dead-reconciler")
    Reconciler(ctx).run_once()  # not due: the sender may still be waiting for Clover
    assert attempt_row(ctx, refund.id).state == "pending"
    with owning(ctx, terminal.id, "proc-B"):
        clock.advance(MAX_SALE_S + 1)
        report = Reconciler(ctx).run_once()
    assert report.resolved == {refund.id: "failed"}
    failed = attempt_row(ctx, refund.id)
    assert failed.failure_code == "lookup_no_refund"
    assert clover_refunds(sandbox, payment) == []
    assert op_row(ctx, refund.id).claimed_by == "dead-reconciler"  # never re-claimed
    assert device_refunds(sandbox) == 0
    assert_books(ctx, sandbox)


def test_void_and_a_refund_with_a_live_owner_expire_unsent(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
    clock: Clock,
) -> None:
    first = paid_on_terminal(ctx, merchant, terminal, runtime)
    second = paid_then_nobody_owns(ctx, merchant, terminal, runtime)
    # voids are device-only, owner or not
    void = request_terminal_void(ctx, merchant.id, first.id, actor="staff")
    # a process holds the terminal (its device busy or away): the refund waits for it
    refund = request_terminal_refund(ctx, merchant.id, second.id, amount=200, actor="staff")
    assert acquire_lease(ctx, terminal.id, "busy-proc", ttl_s=3600)
    clock.advance(QUEUE_TTL_S + 1)
    Reconciler(ctx).run_once()
    for attempt_id in (void.id, refund.id):
        a = attempt_row(ctx, attempt_id)
        assert (a.state, a.failure_code) == ("failed", "terminal_unavailable")
        op = op_row(ctx, attempt_id)
        assert (op.stage, op.via) == ("expired", "device")
    assert clover_refunds(sandbox, second) == []
    assert {p.result for p in v3_payments(sandbox)} == {"SUCCESS"}
    assert_books(ctx, sandbox)


def test_fallback_switched_off_or_refused_by_clover(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = paid_on_terminal(ctx, merchant, terminal, runtime)
    second = paid_then_nobody_owns(ctx, merchant, terminal, runtime)
    # the service's switch off: it expires unsent, as before
    monkeypatch.setattr(ctx.settings, "terminal_refund_via_rest", False)
    off = request_terminal_refund(ctx, merchant.id, first.id, actor="staff")
    clock.advance(QUEUE_TTL_S + 1)
    Reconciler(ctx).run_once()
    a = attempt_row(ctx, off.id)
    assert (a.state, a.failure_code) == ("failed", "terminal_unavailable")
    # on, but Clover does not take a card-present payment there (the guess is wrong):
    # its refusal is an answer, nothing moved
    monkeypatch.setattr(ctx.settings, "terminal_refund_via_rest", True)
    sandbox.state.config.refunds_of_terminal_payments = False
    refused = request_terminal_refund(ctx, merchant.id, second.id, actor="staff")
    clock.advance(QUEUE_TTL_S + 1)
    Reconciler(ctx).run_once()
    b = attempt_row(ctx, refused.id)
    assert b.state == "failed"
    assert b.failure_code == "resource_missing"
    assert op_row(ctx, refused.id).via == "rest"
    assert clover_refunds(sandbox, first) == clover_refunds(sandbox, second) == []
    with ctx.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Refund)) == 0
    assert_books(ctx, sandbox)


def _lost_next_to_an_equal_one(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
    clock: Clock,
) -> tuple[Payment, str, str]:
    """A refund of 500 made in Clover, then ours of 500 sent over REST, its answer lost:
    (payment, our attempt id, their refund id)."""
    payment = paid_then_nobody_owns(ctx, merchant, terminal, runtime)
    refund = request_terminal_refund(ctx, merchant.id, payment.id, amount=500, actor="staff")
    with clover(sandbox) as c:  # older than ours: listed first on the v3 payment
        theirs = c.refunds.create(
            charge=payment.clover_charge_id, amount=500, idempotency_key=str(uuid.uuid4())
        ).id
    sandbox.state.faults.arm("commit_then_drop", method="POST", path="/v1/refunds", count=1)
    clock.advance(QUEUE_TTL_S + 1)
    Reconciler(ctx).run_once()
    assert attempt_row(ctx, refund.id).state == "unknown"
    return payment, refund.id, theirs


def _apply_webhook(
    ctx: ServiceContext, merchant: Merchant, payment: Payment, unreferenced: str | None = None
) -> str:
    """What a webhook about the payment does: fetch its refunds, apply them."""
    with ctx.sessions() as s:
        merchant_row = s.get_one(Merchant, merchant.id)
        payment_row = s.get_one(Payment, payment.id)
    effect = plan_refunds(ctx, merchant_row, payment_row, terminal=True)
    assert effect is not None
    if unreferenced is not None:
        assert {f.id: f.reference for f in effect.refunds}[unreferenced] is None
    with ctx.sessions.begin() as s:
        return apply_refunds(s, effect, actor="webhook", now=ctx.now())


def _ours_at_clover(sandbox: Sandbox, attempt_id: str, theirs: str, mine: str | None) -> None:
    assert mine is not None
    assert mine != theirs
    with clover(sandbox) as c:
        assert c.refunds.retrieve(mine).metadata == {REFERENCE_KEY: attempt_id}


def test_lost_rest_answer_lookup_takes_ours_by_reference_not_an_equal_one(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
    clock: Clock,
) -> None:
    payment, attempt_id, theirs = _lost_next_to_an_equal_one(
        ctx, merchant, sandbox, terminal, runtime, clock
    )
    clock.advance(ctx.settings.reconciler_steps_s[0] + 1)
    assert Reconciler(ctx).run_once().resolved == {attempt_id: "succeeded"}
    mine = attempt_row(ctx, attempt_id).clover_refund_id
    _ours_at_clover(sandbox, attempt_id, theirs, mine)
    assert [(r.clover_refund_id, r.amount) for r in refund_rows(ctx, payment)] == [(mine, 500)]
    # the payment's webhook then records theirs, made outside the service
    assert "recorded refund" in _apply_webhook(ctx, merchant, payment)
    assert len(refund_rows(ctx, payment)) == 2
    assert_books(ctx, sandbox)


def test_webhook_on_the_payment_settles_ours_by_reference_and_records_theirs(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
    clock: Clock,
) -> None:
    """The v3 payment's refunds carry no metadata: our reference is read from
    ``/v1/refunds`` of the payment while a refund of ours carrying one is open."""
    payment, attempt_id, theirs = _lost_next_to_an_equal_one(
        ctx, merchant, sandbox, terminal, runtime, clock
    )
    what = _apply_webhook(ctx, merchant, payment, unreferenced=theirs)
    assert f"settled refund attempt {attempt_id}" in what
    mine = attempt_row(ctx, attempt_id).clover_refund_id
    _ours_at_clover(sandbox, attempt_id, theirs, mine)
    assert sorted(
        (r.clover_refund_id or "", r.amount) for r in refund_rows(ctx, payment)
    ) == sorted([(mine or "", 500), (theirs, 500)])
    assert_books(ctx, sandbox)
