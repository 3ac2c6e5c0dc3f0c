"""Terminal sales against the sandbox's emulated terminal, over real sockets (RELIABILITY
scenario 8): approved, declined, cancelled, dropped and rebooted mid-sale, the lease
between two owners, refunds. Every test ends with the invariant checker, including
"one successful payment per externalPaymentId" (never a second sale)."""

# ruff: noqa: F811  (the fixtures of terminal_helpers are imported by name)
from __future__ import annotations

import threading
import time

import httpx
import pytest
from sqlalchemy import func, select

from cloverpay.sandbox import Sandbox
from cloverpay.service.db import (
    Merchant,
    Payment,
    Refund,
    Terminal,
)
from cloverpay.service.errors import AttemptUnresolvedError
from cloverpay.service.services import Reconciler, ServiceContext
from cloverpay.service.services.terminal_sales import (
    MAX_SALE_S,
    QUEUE_TTL_S,
    claim_sale,
    external_payment_id_for,
    start_terminal_sale,
)
from cloverpay.service.services.terminals import (
    DbTokenStore,
    acquire_lease,
    release_lease,
)
from cloverpay.service.terminal_runtime import TerminalRuntime

from .conftest import Clock, invoice_row, open_test_invoice
from .terminal_helpers import (  # noqa: F401  (fixtures)
    FAST,
    assert_books,
    attempt_row,
    audit_count,
    control,
    owning,
    paid_on_terminal,
    runtime,
    sale_of_a_new_invoice,
    script,
    settled,
    terminal,
    terminal_server,
    v3_payments,
    wait_for,
    with_external_id,
)

pytestmark = pytest.mark.timeout(120)


# -- sales ---------------------------------------------------------------------------------


def test_external_payment_id_is_derived_and_short() -> None:
    attempt_id = "0123456789abcdef0123456789abcdef"
    ext = external_payment_id_for(attempt_id)
    assert ext == external_payment_id_for(attempt_id)
    assert len(ext) <= 32
    assert ext != external_payment_id_for("f" * 32)


def test_sale_approved_pays_the_invoice_and_pairing_is_stored_encrypted(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
) -> None:
    token = DbTokenStore(ctx, terminal.id).load()
    assert token  # paired on the first connection, through the DB token store

    def row() -> Terminal:
        with ctx.sessions() as s:
            return s.get_one(Terminal, terminal.id)

    wait_for(lambda: row().status == "ready", what="the status recorded")
    enc = row().auth_token_enc
    assert enc
    assert token not in enc
    assert row().lease_owner == "proc-A"

    invoice = open_test_invoice(ctx, merchant)
    attempt = start_terminal_sale(ctx, merchant.id, invoice.id, terminal.id, actor="staff")
    assert attempt.source_kind == "terminal"
    runtime.poke()
    done = settled(ctx, attempt.id)
    assert done.state == "succeeded"
    assert invoice_row(ctx, invoice.id).status == "paid"
    with ctx.sessions() as s:
        payment = s.scalar(select(Payment).where(Payment.attempt_id == attempt.id))
    assert payment is not None
    assert payment.amount == invoice.total
    assert payment.card_brand == "VISA"
    assert payment.clover_order_id  # the device's order, needed to refund
    found = with_external_id(sandbox, attempt.external_payment_id or "")
    assert [p.id for p in found] == [payment.clover_charge_id]
    assert_books(ctx, sandbox)


@pytest.mark.parametrize("outcome", ["decline", "cancel"])
def test_decline_and_customer_cancel_leave_the_invoice_open(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
    control: httpx.Client,
    outcome: str,
) -> None:
    script(control, outcome=outcome)
    invoice, attempt, done = sale_of_a_new_invoice(ctx, merchant, terminal, runtime)
    assert done.state == "failed"
    assert done.failure_code
    assert invoice_row(ctx, invoice.id).status == "open"
    with ctx.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Payment)) == 0
    # the invoice can be charged again, with a new attempt and a new externalPaymentId
    again = start_terminal_sale(ctx, merchant.id, invoice.id, terminal.id, actor="staff")
    assert again.external_payment_id != attempt.external_payment_id
    runtime.poke()
    assert settled(ctx, again.id).state == "succeeded"
    assert_books(ctx, sandbox)


def test_one_open_sale_per_invoice(
    ctx: ServiceContext, merchant: Merchant, terminal: Terminal
) -> None:
    invoice = open_test_invoice(ctx, merchant)
    start_terminal_sale(ctx, merchant.id, invoice.id, terminal.id, actor="staff")
    with pytest.raises(AttemptUnresolvedError):
        start_terminal_sale(ctx, merchant.id, invoice.id, terminal.id, actor="staff")


# -- scenario 8: drops and reboots mid-sale --------------------------------------------------


def test_drop_mid_sale_is_recovered_from_the_device_without_a_second_sale(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
    control: httpx.Client,
) -> None:
    script(control, outcome="drop_socket")
    invoice, attempt, done = sale_of_a_new_invoice(ctx, merchant, terminal, runtime)
    assert done.state == "succeeded"
    assert invoice_row(ctx, invoice.id).status == "paid"
    assert len(with_external_id(sandbox, attempt.external_payment_id or "")) == 1
    with ctx.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Payment)) == 1
    assert_books(ctx, sandbox)


def test_reboot_after_auth_is_found_through_the_rest_api(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
    control: httpx.Client,
) -> None:
    # the rebooted device forgets the sale: only the REST API knows the payment
    control.post("/_sandbox/terminal/settings", json={"retrieve_scope": "boot"}).raise_for_status()
    script(control, outcome="reboot_mid_sale", stage="after_auth")
    invoice, attempt, done = sale_of_a_new_invoice(ctx, merchant, terminal, runtime)
    assert done.state == "succeeded", done.failure_message
    assert invoice_row(ctx, invoice.id).status == "paid"
    assert len(with_external_id(sandbox, attempt.external_payment_id or "")) == 1
    assert_books(ctx, sandbox)


def test_reboot_before_auth_is_proved_unpaid(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
    control: httpx.Client,
) -> None:
    script(control, outcome="reboot_mid_sale", stage="card_read")
    invoice, attempt, done = sale_of_a_new_invoice(ctx, merchant, terminal, runtime)
    # the device does not know it and the REST API has no payment: evidence of none
    assert done.state == "failed"
    assert invoice_row(ctx, invoice.id).status == "open"
    assert with_external_id(sandbox, attempt.external_payment_id or "") == []
    assert_books(ctx, sandbox)


def test_unprovable_outcome_stays_unknown_flagged_then_the_reconciler_resolves_it(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
    control: httpx.Client,
    clock: Clock,
) -> None:
    control.post("/_sandbox/terminal/settings", json={"retrieve_scope": "boot"}).raise_for_status()
    script(control, outcome="reboot_mid_sale", stage="after_auth")
    # and Clover's REST API is down: nothing can prove what happened
    sandbox.state.faults.arm("status", method="GET", path="/v3/merchants/*", status=503, count=1000)
    invoice, attempt, done = sale_of_a_new_invoice(ctx, merchant, terminal, runtime)
    assert done.state == "unknown"
    assert done.alerted_at is not None  # flagged for a person
    assert audit_count(ctx, attempt.id, "attempt.needs_attention") == 1
    # a new sale of the invoice is refused while the outcome is unknown
    with pytest.raises(AttemptUnresolvedError):
        start_terminal_sale(ctx, merchant.id, invoice.id, terminal.id, actor="staff")

    # the reconciler keeps looking: still down, still unknown (never failed)
    reconciler = Reconciler(ctx, terminal_resolver=runtime.resolver())
    clock.advance(ctx.settings.reconciler_steps_s[0] + 1)
    reconciler.run_once()
    assert attempt_row(ctx, attempt.id).state == "unknown"
    # Clover answers again: the books hold meanwhile (an unknown attempt may have a
    # payment at Clover that is not recorded yet), and the REST lookup finds it
    sandbox.state.faults.clear()
    # the money did move, once; nothing was sent again
    assert len(with_external_id(sandbox, attempt.external_payment_id or "")) == 1
    assert_books(ctx, sandbox)
    clock.advance(ctx.settings.reconciler_steps_s[1] + 1)
    report = reconciler.run_once()
    assert report.resolved == {attempt.id: "succeeded"}
    assert invoice_row(ctx, invoice.id).status == "paid"
    assert len(with_external_id(sandbox, attempt.external_payment_id or "")) == 1
    assert_books(ctx, sandbox)


def test_sale_claimed_by_a_process_that_died_is_looked_up_never_resent(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    clock: Clock,
) -> None:
    invoice = open_test_invoice(ctx, merchant)
    attempt = start_terminal_sale(ctx, merchant.id, invoice.id, terminal.id, actor="staff")
    # a process took the lease and claimed the sale, then died before (or while) sending
    assert acquire_lease(ctx, terminal.id, "dead-proc", ttl_s=5)
    assert claim_sale(ctx, attempt.id, "dead-proc")
    assert not claim_sale(ctx, attempt.id, "another-proc")  # claimed once, ever
    clock.advance(MAX_SALE_S + 1)
    # a process without the terminal can only ask REST: nothing there proves nothing
    Reconciler(ctx).run_once()
    a = attempt_row(ctx, attempt.id)
    assert a.state == "unknown"
    assert a.next_check_at is not None
    # a process that owns the terminal asks the device too: unknown to both = not paid
    with owning(ctx, terminal.id, "proc-B") as rt:
        clock.advance(ctx.settings.reconciler_steps_s[1] + 1)
        report = Reconciler(ctx, terminal_resolver=rt.resolver()).run_once()
        assert report.resolved == {attempt.id: "failed"}
        # and proc-B never sent it: the sale was not queued any more
        time.sleep(0.3)
    assert with_external_id(sandbox, attempt.external_payment_id or "") == []
    assert invoice_row(ctx, invoice.id).status == "open"
    assert_books(ctx, sandbox)


def test_queued_sale_nobody_takes_expires_unsent(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, terminal: Terminal, clock: Clock
) -> None:
    invoice = open_test_invoice(ctx, merchant)
    attempt = start_terminal_sale(ctx, merchant.id, invoice.id, terminal.id, actor="staff")
    Reconciler(ctx).run_once()
    assert attempt_row(ctx, attempt.id).state == "pending"
    clock.advance(QUEUE_TTL_S + 1)
    Reconciler(ctx).run_once()
    a = attempt_row(ctx, attempt.id)
    assert (a.state, a.failure_code) == ("failed", "terminal_unavailable")
    assert not claim_sale(ctx, attempt.id, "late-proc")  # it can never be sent now
    assert_books(ctx, sandbox)


# -- the lease -----------------------------------------------------------------------------


def test_lease_two_owners_only_one_wins(
    ctx: ServiceContext, terminal: Terminal, clock: Clock
) -> None:
    results: dict[str, bool] = {}
    barrier = threading.Barrier(2)

    def take(owner: str) -> None:
        barrier.wait()
        results[owner] = acquire_lease(ctx, terminal.id, owner, ttl_s=30)

    threads = [threading.Thread(target=take, args=(o,)) for o in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == [False, True]
    winner = next(o for o, won in results.items() if won)
    loser = "B" if winner == "A" else "A"
    assert acquire_lease(ctx, terminal.id, winner, ttl_s=30)  # renews
    assert not acquire_lease(ctx, terminal.id, loser, ttl_s=30)
    assert not release_lease(ctx, terminal.id, loser)
    clock.advance(31)  # the winner stopped renewing
    assert acquire_lease(ctx, terminal.id, loser, ttl_s=30)
    assert not acquire_lease(ctx, terminal.id, winner, ttl_s=30)


def test_two_service_processes_one_terminal_one_sale(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
) -> None:
    a = TerminalRuntime(ctx, owner="proc-A", options=FAST).start()
    b = TerminalRuntime(ctx, owner="proc-B", options=FAST).start()
    try:
        wait_for(lambda: a.is_ready(terminal.id) or b.is_ready(terminal.id), what="an owner")
        time.sleep(0.3)
        assert a.owns(terminal.id) != b.owns(terminal.id)
        invoice = open_test_invoice(ctx, merchant)
        attempt = start_terminal_sale(ctx, merchant.id, invoice.id, terminal.id, actor="staff")
        a.poke()
        b.poke()
        assert settled(ctx, attempt.id).state == "succeeded"
    finally:
        a.stop()
        b.stop()
    assert len(with_external_id(sandbox, attempt.external_payment_id or "")) == 1
    assert_books(ctx, sandbox)


# -- refunds -------------------------------------------------------------------------------


def test_refund_a_terminal_payment_through_the_terminal(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
) -> None:
    payment = paid_on_terminal(ctx, merchant, terminal, runtime)
    first = runtime.refund(merchant.id, payment.id, amount=500, actor="staff")
    assert first.state == "succeeded", (first.failure_code, first.failure_message)
    assert_books(ctx, sandbox)
    rest = runtime.refund(merchant.id, payment.id, actor="staff")
    assert (rest.state, rest.amount) == ("succeeded", payment.amount - 500)
    with ctx.sessions() as s:
        refunds = list(s.scalars(select(Refund).where(Refund.payment_id == payment.id)))
    assert sum(r.amount for r in refunds) == payment.amount
    facts = [p for p in v3_payments(sandbox) if p.id == payment.clover_charge_id]
    assert facts[0].amount_refunded == payment.amount
    assert_books(ctx, sandbox)
