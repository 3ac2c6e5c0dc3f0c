"""Subscriptions billed by our own scheduler (RELIABILITY.md scenario 10), on SQLite and
PostgreSQL: one invoice per period, at most one charge per dunning step, the dunning
schedule under a controlled clock, deactivation after five failures, emails never
duplicated, unknown outcomes left to the reconciler. Invariants after each."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from cloverpay.sandbox import Sandbox
from cloverpay.service.db import (
    Invoice,
    Merchant,
    OutboxEvent,
    Payment,
    PaymentAttempt,
    Plan,
    Subscription,
)
from cloverpay.service.outbox_email import deliver_due
from cloverpay.service.services import Reconciler, ServiceContext
from cloverpay.service.services.customers import CardInput, add_card, create_customer
from cloverpay.service.services.subscriptions import (
    BillingRun,
    billing_attempt_id,
    cancel_subscription,
    create_plan,
    create_subscription,
)
from cloverpay.service.web import EmailDelivery, WebSettings

from .conftest import DECLINE, Clock, assert_invariants, make_token

DAY = 86400
PAY_PATH = "/v1/orders/*/pay"


def subscribe(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    *,
    card: str = "4242424242424242",
    email: str | None = "sub@example.com",
    interval: str = "month",
    plan: Plan | None = None,
    billing_mode: str | None = None,
) -> Subscription:
    customer = create_customer(ctx, merchant.id, name="Sam", email=email, actor="test")
    saved = add_card(
        ctx,
        merchant.id,
        customer.id,
        CardInput(token=make_token(sandbox, card), brand="VISA", last4=card[-4:]),
        actor="test",
    )
    plan = plan or create_plan(
        ctx, merchant.id, name="Maintenance", amount=2500, interval=interval, actor="test"
    )
    return create_subscription(
        ctx,
        merchant.id,
        customer_id=customer.id,
        card_on_file_id=saved.id,
        plan_id=plan.id,
        billing_mode=billing_mode,
        actor="test",
    )


def sub_row(ctx: ServiceContext, sub_id: str) -> Subscription:
    with ctx.sessions() as s:
        return s.get_one(Subscription, sub_id)


def invoices_of(ctx: ServiceContext, sub_id: str) -> list[Invoice]:
    with ctx.sessions() as s:
        return list(
            s.scalars(
                select(Invoice)
                .where(Invoice.subscription_id == sub_id)
                .order_by(Invoice.period_start)
            )
        )


def charges(sandbox: Sandbox) -> list[Any]:
    return list(sandbox.state.ecommerce.charges.objects.values())


def emails(ctx: ServiceContext) -> list[OutboxEvent]:
    with ctx.sessions() as s:
        return list(
            s.scalars(
                select(OutboxEvent).where(OutboxEvent.channel == "email").order_by(OutboxEvent.id)
            )
        )


def test_billing_run_charges_each_period_once_with_merchant_scheduled_flags(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, clock: Clock
) -> None:
    sub = subscribe(ctx, merchant, sandbox)
    report = BillingRun(ctx).run_once()
    assert report.claimed == [sub.id]
    [inv] = invoices_of(ctx, sub.id)
    assert (inv.status, inv.total, inv.period_start) == ("paid", 2500, sub.anchor_at)
    row = sub_row(ctx, sub.id)
    assert (row.status, row.period_index) == ("active", 1)
    assert row.next_billing_at == row.current_period_start > sub.anchor_at
    # nothing more is due this month, however often it runs
    for _ in range(3):
        assert BillingRun(ctx).run_once().claimed == []
    clock.advance(31 * DAY)
    BillingRun(ctx).run_once()
    invs = invoices_of(ctx, sub.id)
    assert [i.status for i in invs] == ["paid", "paid"]
    assert len({i.number for i in invs}) == 2
    made = [c for c in charges(sandbox) if c.status == "succeeded"]
    assert len(made) == 2
    flags = [c.stored_credentials for c in made]
    assert all(f["initiator"] == "MERCHANT" and f["is_scheduled"] is True for f in flags)
    # FIRST until a charge on the card succeeded (the money path's rule), then SUBSEQUENT
    assert [f["sequence"] for f in flags] == ["FIRST", "SUBSEQUENT"]
    assert_invariants(ctx, sandbox)


def test_catching_up_after_downtime_bills_every_missed_period_once(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, clock: Clock
) -> None:
    sub = subscribe(ctx, merchant, sandbox, interval="week")
    clock.advance(3 * 7 * DAY + 60)  # the service was down three weeks
    BillingRun(ctx).run_once()
    starts = [i.period_start for i in invoices_of(ctx, sub.id)]
    assert starts == [sub.anchor_at + timedelta(weeks=k) for k in range(4)]
    assert len([c for c in charges(sandbox) if c.status == "succeeded"]) == 4
    assert_invariants(ctx, sandbox)


def test_concurrent_billing_runs_in_threads_make_one_invoice_and_one_charge_per_period(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    subs = [subscribe(ctx, merchant, sandbox) for _ in range(4)]
    subs.append(subscribe(ctx, merchant, sandbox, card=DECLINE))
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            BillingRun(ctx).run_once()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    for sub in subs:
        assert len(invoices_of(ctx, sub.id)) == 1
    statuses = Counter(c.status for c in charges(sandbox))
    assert statuses == {"succeeded": 4, "failed": 1}
    assert_invariants(ctx, sandbox)


def test_claims_bypassed_the_database_still_decides(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    """Several runs work on the same subscription at once (as if every lease had
    expired): the invoice insert and the attempt's primary key decide, not the claim."""
    ok = subscribe(ctx, merchant, sandbox)
    bad = subscribe(ctx, merchant, sandbox, card=DECLINE)
    now = ctx.now()
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def run(sub_id: str) -> None:
        try:
            barrier.wait()
            BillingRun(ctx).bill(sub_id, now, report=_report())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s.id,)) for s in (ok, bad, ok, bad, ok, bad)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert [len(invoices_of(ctx, s.id)) for s in (ok, bad)] == [1, 1]
    assert Counter(c.status for c in charges(sandbox)) == {"succeeded": 1, "failed": 1}
    assert sub_row(ctx, bad.id).consecutive_failures == 1
    # one failure notice, and the receipt of the one payment
    assert Counter(e.topic for e in emails(ctx)) == {
        "email.subscription_payment_failed": 1,
        "email.payment_receipt": 1,
    }
    assert_invariants(ctx, sandbox)


def _report() -> Any:
    from cloverpay.service.services.subscriptions import BillingReport

    return BillingReport()


def test_dunning_schedule_deactivation_and_emails_once(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, clock: Clock
) -> None:
    sub = subscribe(ctx, merchant, sandbox, card=DECLINE)
    t0 = ctx.now()
    web = WebSettings()
    expected_gaps = [1, 3, 5, 7]  # days after each failure (the default setting)
    for failure in range(1, 6):
        report = BillingRun(ctx).run_once()
        assert len(report.charged) == 1, failure
        row = sub_row(ctx, sub.id)
        assert row.consecutive_failures == failure
        if failure < 5:
            assert row.status == "past_due"
            gap = expected_gaps[failure - 1]
            assert row.next_billing_at == ctx.now() + timedelta(days=gap)
            # retries are not early: nothing happens until the step is due, however
            # often the run goes and the email worker delivers
            for _ in range(2):
                assert BillingRun(ctx).run_once().charged == []
                deliver_due(ctx, web)
            clock.advance(gap * DAY - 60)
            assert BillingRun(ctx).run_once().charged == []
            clock.advance(60)
        assert_invariants(ctx, sandbox)
    row = sub_row(ctx, sub.id)
    assert (row.status, row.next_billing_at) == ("deactivated", None)
    assert ctx.now() - t0 == timedelta(days=16)
    # nothing more, ever
    clock.advance(40 * DAY)
    assert BillingRun(ctx).run_once().claimed == []
    deliver_due(ctx, web)
    [inv] = invoices_of(ctx, sub.id)
    assert inv.status == "open"
    assert Counter(c.status for c in charges(sandbox)) == {"failed": 5}
    with ctx.sessions() as s:
        ids = set(s.scalars(select(PaymentAttempt.id).where(PaymentAttempt.invoice_id == inv.id)))
        delivered = s.scalar(select(func.count()).select_from(EmailDelivery))
    assert ids == {billing_attempt_id(inv.id, k) for k in range(5)}
    topics = Counter(e.topic for e in emails(ctx))
    assert topics == {"email.subscription_payment_failed": 5, "email.subscription_deactivated": 1}
    assert all(e.status == "sent" for e in emails(ctx))
    assert delivered == 6
    assert_invariants(ctx, sandbox)


def test_a_payment_ends_dunning_and_resets_failures(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, clock: Clock
) -> None:
    sub = subscribe(ctx, merchant, sandbox, card=DECLINE)
    BillingRun(ctx).run_once()
    BillingRun(ctx).run_once()
    assert sub_row(ctx, sub.id).status == "past_due"
    [inv] = invoices_of(ctx, sub.id)
    # the customer pays the open invoice another way (e.g. the pay link)
    from cloverpay.service.services.payments import pay_invoice

    pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="customer")
    clock.advance(DAY)
    BillingRun(ctx).run_once()
    row = sub_row(ctx, sub.id)
    assert (row.status, row.consecutive_failures, row.period_index) == ("active", 0, 1)
    assert Counter(c.status for c in charges(sandbox)) == {"failed": 1, "succeeded": 1}
    assert_invariants(ctx, sandbox)


def test_unknown_outcome_is_not_a_failure_and_is_never_charged_again(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, clock: Clock
) -> None:
    sub = subscribe(ctx, merchant, sandbox)
    sandbox.state.faults.arm("commit_then_drop", method="POST", path=PAY_PATH)
    report = BillingRun(ctx).run_once()
    assert len(report.charged) == 1
    row = sub_row(ctx, sub.id)
    assert (row.status, row.consecutive_failures, row.period_index) == ("active", 0, 0)
    assert emails(ctx) == []
    for _ in range(3):  # each re-check while unresolved charges nothing
        clock.advance(ctx.settings.subscription_recheck_s)
        again = BillingRun(ctx).run_once()
        assert again.charged == []
        assert again.waiting == [sub.id]
    assert len(charges(sandbox)) == 1
    assert_invariants(ctx, sandbox)
    assert Reconciler(ctx).run_once().resolved == {report.charged[0]: "succeeded"}
    clock.advance(ctx.settings.subscription_recheck_s)
    BillingRun(ctx).run_once()
    row = sub_row(ctx, sub.id)
    assert (row.status, row.period_index) == ("active", 1)
    assert [c.status for c in charges(sandbox)] == ["succeeded"]
    with ctx.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Payment)) == 1
    assert_invariants(ctx, sandbox)


def test_merchant_reconnect_required_is_not_the_cards_failure(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A charge never sent because the merchant's Clover grant is gone: no dunning, no
    email to the customer; the subscription is looked at again later and then charged."""
    from cloverpay.service.services import payments
    from cloverpay.service.services.clover_calls import RECONNECT_REQUIRED, CallOutcome

    def not_sent(*_: Any) -> CallOutcome:
        return CallOutcome("rejected", code=RECONNECT_REQUIRED, message="reconnect")

    sub = subscribe(ctx, merchant, sandbox)
    monkeypatch.setattr(payments, "send_charge", not_sent)
    report = BillingRun(ctx).run_once()
    assert len(report.charged) == 1
    row = sub_row(ctx, sub.id)
    assert (row.status, row.consecutive_failures, row.period_index) == ("active", 0, 0)
    assert row.next_billing_at == ctx.now() + timedelta(seconds=ctx.settings.subscription_recheck_s)
    assert (row.last_error or "").startswith(RECONNECT_REQUIRED)
    assert emails(ctx) == []
    assert BillingRun(ctx).run_once().charged == []  # not before the re-check
    monkeypatch.undo()  # the merchant reconnected
    clock.advance(ctx.settings.subscription_recheck_s)
    again = BillingRun(ctx).run_once()
    [inv] = invoices_of(ctx, sub.id)
    assert again.charged == [billing_attempt_id(inv.id, 1)]
    row = sub_row(ctx, sub.id)
    assert (row.status, row.consecutive_failures, row.period_index) == ("active", 0, 1)
    assert [c.status for c in charges(sandbox)] == ["succeeded"]
    # no failure notice ever: the only email is the receipt of the payment
    assert [e.topic for e in emails(ctx)] == ["email.payment_receipt"]
    assert_invariants(ctx, sandbox)


def test_canceled_subscription_is_not_billed(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, clock: Clock
) -> None:
    sub = subscribe(ctx, merchant, sandbox)
    BillingRun(ctx).run_once()
    cancel_subscription(ctx, merchant.id, sub.id, actor="test")
    cancel_subscription(ctx, merchant.id, sub.id, actor="test")  # a no-op
    clock.advance(62 * DAY)
    assert BillingRun(ctx).run_once().claimed == []
    assert sub_row(ctx, sub.id).status == "canceled"
    assert len(charges(sandbox)) == 1
    assert_invariants(ctx, sandbox)


def test_clover_recurring_mode_records_what_clover_charged(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, clock: Clock
) -> None:
    from cloverpay.service.services.subscriptions import set_billing_mode

    set_billing_mode(ctx, merchant.id, "clover_recurring", actor="test")
    sub = subscribe(ctx, merchant, sandbox)
    assert sub.billing_mode == "clover_recurring"
    assert sub.clover_subscription_id  # created at Clover, which billed period 1 at once
    assert len(charges(sandbox)) == 1
    for _ in range(2):  # a second poll records nothing twice
        report = BillingRun(ctx).run_once()
        clock.advance(ctx.settings.subscription_poll_s)
    [inv] = invoices_of(ctx, sub.id)
    assert (inv.status, inv.total, inv.period_start) == ("paid", 2500, sub.anchor_at)
    assert report.recorded == []
    sandbox.state.advance_clock(31 * DAY)  # Clover bills the next month
    clock.advance(31 * DAY)
    BillingRun(ctx).run_once()
    assert [i.status for i in invoices_of(ctx, sub.id)] == ["paid", "paid"]
    row = sub_row(ctx, sub.id)
    assert (row.status, row.period_index) == ("active", 2)
    # our own scheduler never charged it: every charge is Clover's
    assert len(charges(sandbox)) == 2
    with ctx.sessions() as s:
        kinds = set(s.scalars(select(PaymentAttempt.source_kind)))
    assert kinds == {"clover_recurring"}
    cancel_subscription(ctx, merchant.id, sub.id, actor="test")
    sandbox.state.advance_clock(31 * DAY)
    assert len(charges(sandbox)) == 2
    assert_invariants(ctx, sandbox)


def test_clover_recurring_failures_email_once_and_deactivation_follows_clover(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, clock: Clock
) -> None:
    sub = subscribe(ctx, merchant, sandbox, card=DECLINE, billing_mode="clover_recurring")
    for day in range(5):
        for _ in range(2):  # each poll twice: emails stay one per failed charge
            BillingRun(ctx).run_once()
            clock.advance(ctx.settings.subscription_poll_s)
        assert sub_row(ctx, sub.id).consecutive_failures == day + 1
        sandbox.state.advance_clock(DAY)  # Clover retries daily [G], 5 times
        clock.advance(DAY)
    BillingRun(ctx).run_once()
    row = sub_row(ctx, sub.id)
    assert (row.status, row.consecutive_failures) == ("deactivated", 5)
    assert Counter(c.status for c in charges(sandbox)) == {"failed": 5}
    clock.advance(ctx.settings.subscription_poll_s)
    BillingRun(ctx).run_once()
    topics = Counter(e.topic for e in emails(ctx))
    assert topics == {"email.subscription_payment_failed": 5, "email.subscription_deactivated": 1}
    assert invoices_of(ctx, sub.id) == []
    assert_invariants(ctx, sandbox)
