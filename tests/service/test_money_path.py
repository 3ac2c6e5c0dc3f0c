"""The online money path against the in-process sandbox, on SQLite and PostgreSQL:
pay, decline, lost answers, crashes around the call, refunds, the reconciler.
The invariant checker runs after each scenario."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from cloverpay.sandbox import Sandbox
from cloverpay.service.db import AuditLog, Merchant, OutboxEvent, Payment, PaymentAttempt
from cloverpay.service.domain import InvalidTransition
from cloverpay.service.errors import AttemptUnresolvedError, ConflictError, InvalidRequest
from cloverpay.service.services import Reconciler, ServiceContext
from cloverpay.service.services import payments as payments_mod
from cloverpay.service.services import send as send_mod
from cloverpay.service.services.invoices import open_invoice
from cloverpay.service.services.payments import pay_invoice
from cloverpay.service.services.refunds import refund_payment

from .conftest import (
    DECLINE,
    Clock,
    assert_invariants,
    clover_charges,
    invoice_row,
    make_token,
    open_test_invoice,
)

PAY_PATH = "/v1/orders/*/pay"


def _payments(ctx: ServiceContext) -> list[Payment]:
    with ctx.sessions() as s:
        return list(s.scalars(select(Payment)).all())


def _succeeded_charges(sandbox: Sandbox) -> list[Any]:
    return [c for c in clover_charges(sandbox) if c.status == "succeeded"]


def test_pay_invoice_records_payment_audit_and_outbox(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    inv = open_test_invoice(ctx, merchant)
    assert inv.number == "INV-000001"
    assert inv.total == 2160
    assert inv.clover_order_id
    attempt = pay_invoice(
        ctx, merchant.id, inv.id, token=make_token(sandbox), tip_amount=300, actor="test"
    )
    assert attempt.state == "succeeded"
    assert attempt.clover_charge_id
    assert invoice_row(ctx, inv.id).status == "paid"
    [payment] = _payments(ctx)
    assert (payment.amount, payment.tip_amount, payment.card_last4) == (2160, 300, "4242")
    with ctx.sessions() as s:
        topics = set(s.scalars(select(OutboxEvent.topic)).all())
        transitions = s.execute(
            select(AuditLog.entity_type, AuditLog.from_state, AuditLog.to_state).where(
                AuditLog.from_state.is_not(None)
            )
        ).all()
    assert {"invoice.opened", "payment.succeeded", "invoice.paid"} <= topics
    assert ("payment_attempt", "pending", "succeeded") in transitions
    assert ("invoice", "open", "paid") in transitions
    with pytest.raises(ConflictError):  # a paid invoice cannot be paid again
        pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="test")
    assert_invariants(ctx, sandbox)


def test_partial_payments_then_paid(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    inv = open_test_invoice(ctx, merchant)
    pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), amount=1000, actor="t")
    assert invoice_row(ctx, inv.id).status == "partially_paid"
    with pytest.raises(InvalidRequest) as exc:
        pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), amount=1161, actor="t")
    assert exc.value.field == "amount"
    pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")  # the rest
    assert invoice_row(ctx, inv.id).status == "paid"
    assert sum(p.amount for p in _payments(ctx)) == 2160
    # opening it again (a late or concurrent open) never moves a paid invoice back
    orders = len(sandbox.state.ecommerce.orders)
    with pytest.raises(InvalidTransition):
        open_invoice(ctx, merchant.id, inv.id, actor="t")
    assert invoice_row(ctx, inv.id).status == "paid"
    assert len(sandbox.state.ecommerce.orders) == orders  # and no Clover order was made for it
    assert_invariants(ctx, sandbox)


def test_an_open_that_loses_the_race_keeps_the_winners_order(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two opens of one draft: the one that records second finds no draft (its UPDATE
    applies to a draft only) and changes nothing; the invoice keeps the first's order."""
    from cloverpay.service.services.invoices import _open, create_invoice
    from cloverpay.service.services.invoices._create import LineItemInput

    inv = create_invoice(ctx, merchant.id, line_items=[LineItemInput("Survey", 1, 900)], actor="t")
    order_items = _open._order_items
    raced: list[Any] = []
    started: list[bool] = []

    def meanwhile_another_open(invoice: Any) -> Any:
        if not started:  # the first open read the draft: a second one runs to the end now
            started.append(True)
            raced.append(open_invoice(ctx, merchant.id, inv.id, actor="other"))
        return order_items(invoice)

    monkeypatch.setattr(_open, "_order_items", meanwhile_another_open)
    orders = len(sandbox.state.ecommerce.orders)
    late = open_invoice(ctx, merchant.id, inv.id, actor="late")
    assert len(sandbox.state.ecommerce.orders) == orders + 2  # both asked Clover
    row = invoice_row(ctx, inv.id)
    assert (row.status, row.clover_order_id) == ("open", raced[0].clover_order_id)
    assert (late.status, late.clover_order_id) == ("open", raced[0].clover_order_id)
    with ctx.sessions() as s:
        opened = s.scalar(
            select(func.count())
            .select_from(AuditLog)
            .where(AuditLog.entity_id == inv.id, AuditLog.to_state == "open")
        )
    assert opened == 1  # one transition recorded, by the winner
    assert_invariants(ctx, sandbox)


def test_decline_is_failed_with_clovers_code(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    inv = open_test_invoice(ctx, merchant)
    attempt = pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox, DECLINE), actor="t")
    assert attempt.state == "failed"
    assert attempt.failure_code  # Clover's decline code
    assert invoice_row(ctx, inv.id).status == "open"
    # a failed attempt does not block a new one
    again = pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    assert again.state == "succeeded"
    assert_invariants(ctx, sandbox)


def test_lost_answer_is_unknown_then_reconciled_without_second_charge(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, clock: Clock
) -> None:
    """Scenario 3: Clover commits and drops the response."""
    inv = open_test_invoice(ctx, merchant)
    sandbox.state.faults.arm("commit_then_drop", method="POST", path=PAY_PATH)
    attempt = pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    assert attempt.state == "unknown"
    assert len(_succeeded_charges(sandbox)) == 1
    assert _payments(ctx) == []
    # a user retry meanwhile is refused, not sent with a new key
    with pytest.raises(AttemptUnresolvedError):
        pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    assert_invariants(ctx, sandbox)
    assert Reconciler(ctx).run_once().checked == []  # not due yet
    clock.advance(60)
    report = Reconciler(ctx).run_once()
    assert report.resolved == {attempt.id: "succeeded"}
    assert len(_succeeded_charges(sandbox)) == 1
    assert len(_payments(ctx)) == 1
    assert invoice_row(ctx, inv.id).status == "paid"
    assert_invariants(ctx, sandbox)


class Crash(BaseException):
    """Stands in for the process dying at a crash point (in-process)."""


def _crash_at(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    def crash_point(point: str) -> None:
        if point == name:
            raise Crash(point)

    monkeypatch.setattr(send_mod, "crash_point", crash_point)


def test_crash_before_send_reconciler_sends_once(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Scenario 2: the intent committed, nothing sent; the reconciler sends it."""
    inv = open_test_invoice(ctx, merchant)
    _crash_at(monkeypatch, "after_intent_committed")
    with pytest.raises(Crash):
        pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    monkeypatch.undo()
    assert clover_charges(sandbox) == []
    clock.advance(61)
    assert_invariants(ctx, sandbox)  # the pending attempt has its check scheduled
    report = Reconciler(ctx).run_once()
    assert list(report.resolved.values()) == ["succeeded"]
    assert len(_succeeded_charges(sandbox)) == 1
    assert len(_payments(ctx)) == 1
    assert Reconciler(ctx).run_once().checked == []
    assert_invariants(ctx, sandbox)


def test_crash_after_send_reconciler_records_once(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Scenario 1 in-process: Clover charged, we died before recording."""
    inv = open_test_invoice(ctx, merchant)
    _crash_at(monkeypatch, "after_charge_sent")
    with pytest.raises(Crash):
        pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    monkeypatch.undo()
    assert len(_succeeded_charges(sandbox)) == 1
    assert _payments(ctx) == []
    clock.advance(60)
    Reconciler(ctx).run_once()
    assert len(_succeeded_charges(sandbox)) == 1
    assert len(_payments(ctx)) == 1
    with ctx.sessions() as s:
        paid_transitions = s.scalar(
            select(func.count()).select_from(AuditLog).where(AuditLog.to_state == "paid")
        )
    assert paid_transitions == 1
    assert_invariants(ctx, sandbox)


def test_reconciler_schedule_under_a_clock(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, clock: Clock
) -> None:
    """Scenario 11: looks at 1 min, +5 min, +1 h, then daily; alerts once; never
    fails without evidence; resolves when Clover answers."""
    inv = open_test_invoice(ctx, merchant)
    sandbox.state.faults.arm("commit_then_drop", method="POST", path=PAY_PATH)
    attempt = pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    assert attempt.state == "unknown"
    rec = Reconciler(ctx)
    sandbox.state.faults.arm("status", method="POST", path=PAY_PATH, status=503, count=100)
    for wait, step in ((60, 1), (300, 2), (3600, 3), (86400, 4), (86400, 5)):
        clock.advance(wait - 1)
        assert rec.run_once().checked == [], f"checked early before step {step}"
        clock.advance(1)
        report = rec.run_once()
        assert report.checked == [attempt.id]
        assert report.resolved == {}
        with ctx.sessions() as s:
            row = s.get_one(PaymentAttempt, attempt.id)
            assert (row.state, row.check_step) == ("unknown", step)
            alerts = s.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.topic == "attempt.needs_attention")
            )
        assert alerts == (1 if step >= 4 else 0)
        assert_invariants(ctx, sandbox)
    sandbox.state.faults.clear()
    clock.advance(86400)
    assert rec.run_once().resolved == {attempt.id: "succeeded"}
    assert len(_succeeded_charges(sandbox)) == 1
    assert_invariants(ctx, sandbox)


def test_refunds_full_partial_and_never_above_captured(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    inv = open_test_invoice(ctx, merchant)
    pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    [payment] = _payments(ctx)
    r1 = refund_payment(ctx, merchant.id, payment.id, amount=500, actor="t")
    assert r1.state == "succeeded"
    assert r1.clover_refund_id
    with pytest.raises(InvalidRequest) as exc:
        refund_payment(ctx, merchant.id, payment.id, amount=1661, actor="t")
    assert exc.value.field == "amount"
    r2 = refund_payment(ctx, merchant.id, payment.id, actor="t")  # the rest
    assert r2.amount == 1660
    with pytest.raises(ConflictError):
        refund_payment(ctx, merchant.id, payment.id, amount=1, actor="t")
    assert_invariants(ctx, sandbox)


def test_concurrent_partial_refunds_refuse_exactly_the_excess(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    """Scenario 9: 7 concurrent refunds of 500 on 2160 captured: 4 pass, 3 refused."""
    inv = open_test_invoice(ctx, merchant)
    pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    [payment] = _payments(ctx)
    results: list[str] = []
    barrier = threading.Barrier(7)

    def refund() -> None:
        barrier.wait()
        try:
            results.append(
                refund_payment(ctx, merchant.id, payment.id, amount=500, actor="t").state
            )
        except InvalidRequest as exc:
            results.append(exc.code)
        except Exception as exc:  # recorded so a failure says what happened
            results.append(f"unexpected {exc!r}")

    threads = [threading.Thread(target=refund) for _ in range(7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not [t for t in threads if t.is_alive()], "a refund thread is still running"
    assert sorted(results) == ["amount_too_large"] * 3 + ["succeeded"] * 4
    [fact] = [c for c in clover_charges(sandbox) if c.id == payment.clover_charge_id]
    assert fact.amount_refunded == 2000
    assert_invariants(ctx, sandbox)


def test_refund_lost_answer_blocks_then_reconciles(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, clock: Clock
) -> None:
    inv = open_test_invoice(ctx, merchant)
    pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    [payment] = _payments(ctx)
    sandbox.state.faults.arm("commit_then_drop", method="POST", path="/v1/refunds")
    r = refund_payment(ctx, merchant.id, payment.id, amount=700, actor="t")
    assert r.state == "unknown"
    with pytest.raises(AttemptUnresolvedError):
        refund_payment(ctx, merchant.id, payment.id, amount=100, actor="t")
    clock.advance(60)
    assert Reconciler(ctx).run_once().resolved == {r.id: "succeeded"}
    [fact] = [c for c in clover_charges(sandbox) if c.id == payment.clover_charge_id]
    assert fact.amount_refunded == 700
    assert_invariants(ctx, sandbox)


def test_amount_or_currency_mismatch_is_for_a_person(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rule 7: what Clover reports is compared with ours; a mismatch alerts and
    changes nothing until a person fixes it."""
    inv = open_test_invoice(ctx, merchant)
    _crash_at(monkeypatch, "after_charge_sent")
    with pytest.raises(Crash):
        pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    monkeypatch.undo()
    with ctx.sessions.begin() as s:
        attempt = s.scalars(select(PaymentAttempt)).one()
        attempt.currency = "cad"  # our record disagrees with Clover's charge
    clock.advance(60)
    report = Reconciler(ctx).run_once()
    assert report.resolved == {}
    assert report.alerted == [attempt.id]
    assert _payments(ctx) == []
    with ctx.sessions.begin() as s:
        row = s.get_one(PaymentAttempt, attempt.id)
        assert (row.state, row.failure_code) == ("unknown", "amount_mismatch")
        row.currency = "usd"  # the person corrects it
    assert_invariants(ctx, sandbox)
    clock.advance(300)
    assert Reconciler(ctx).run_once().resolved == {attempt.id: "succeeded"}
    assert_invariants(ctx, sandbox)


def test_a_failed_settle_leaves_its_audit_row_and_the_reconciler_records(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rule 5: the settle transaction fails after Clover charged; its audit row is written
    in its own transaction, the attempt stays pending and is recorded later, once."""
    inv = open_test_invoice(ctx, merchant)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(payments_mod, "_record_payment", broken)
    with pytest.raises(RuntimeError):
        pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    monkeypatch.undo()
    with ctx.sessions() as s:
        actions = set(s.scalars(select(AuditLog.action)).all())
        attempt = s.scalars(select(PaymentAttempt)).one()
    assert "charge_attempt.settle_failed" in actions
    assert attempt.state == "pending"
    assert _payments(ctx) == []
    clock.advance(60)
    assert Reconciler(ctx).run_once().resolved == {attempt.id: "succeeded"}
    assert len(_payments(ctx)) == 1
    assert_invariants(ctx, sandbox)
