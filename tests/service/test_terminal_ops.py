"""Voids and refunds of terminal payments (RELIABILITY scenario 8 and rules 1-5), over
real sockets against the sandbox's emulated terminal: a void reopens the invoice; a
void whose answer is lost is recovered, never re-sent; an unprovable one stays unknown
until the reconciler resolves it; refunds and voids asked for in a process that does
not own the terminal go through the database to the owner. Every test ends with the
invariant checker (v3 payments included)."""

# ruff: noqa: F811  (the fixtures of terminal_helpers are imported by name)
from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from cloverpay.sandbox import Sandbox, SandboxServer
from cloverpay.sandbox.terminal import terminal_for
from cloverpay.service.core.config import Settings
from cloverpay.service.db import (
    AuditLog,
    Authorization,
    Merchant,
    OutboxEvent,
    Payment,
    PaymentAttempt,
    Terminal,
    TerminalOp,
)
from cloverpay.service.errors import AttemptUnresolvedError, ConflictError
from cloverpay.service.services import Reconciler, ServiceContext
from cloverpay.service.services.invoices import invoice_paid_key
from cloverpay.service.services.preauth import authorize_invoice, capture_authorization
from cloverpay.service.services.terminal_ops import (
    claim_op,
    request_terminal_refund,
    request_terminal_void,
    wait_settled,
)
from cloverpay.service.services.terminal_sales import QUEUE_TTL_S, start_terminal_sale
from cloverpay.service.services.terminals import acquire_lease, register_terminal
from cloverpay.service.terminal_runtime import TerminalRuntime

from .conftest import Clock, invoice_row, make_token
from .terminal_helpers import (  # noqa: F401  (fixtures)
    WAIT_S,
    assert_books,
    audit_count,
    control,
    owning,
    paid_on_terminal,
    runtime,
    script,
    settled,
    terminal,
    terminal_server,
    v3_payments,
    wait_for,
)
from .web.conftest import staff  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(120)


def clover_result(sandbox: Sandbox, payment: Payment) -> str:
    return next(p.result for p in v3_payments(sandbox) if p.id == payment.clover_charge_id)


def wait_final(ctx: ServiceContext, attempt_id: str, timeout: float) -> PaymentAttempt:
    """The attempt once it is final: a lookup of a lost owner's op first marks it
    unknown (owner_lost), then settles it, so ``wait_settled`` may see the step between."""
    deadline = time.monotonic() + timeout
    while True:
        a = wait_settled(ctx, attempt_id, 0)
        if a.state in ("succeeded", "failed") or time.monotonic() >= deadline:
            return a
        time.sleep(0.1)


def payment_row(ctx: ServiceContext, payment_id: str) -> Payment:
    with ctx.sessions() as s:
        return s.get_one(Payment, payment_id)


def void_claimed_by_a_dead_owner(
    ctx: ServiceContext, merchant: Merchant, terminal: Terminal, runtime: TerminalRuntime
) -> tuple[Payment, PaymentAttempt]:
    """A terminal payment and a void of it that another process took the terminal for,
    claimed, and died with (sent or not: nobody knows)."""
    payment = paid_on_terminal(ctx, merchant, terminal, runtime)
    runtime.stop()  # releases the lease
    void = request_terminal_void(ctx, merchant.id, payment.id, actor="staff")
    assert acquire_lease(ctx, terminal.id, "dead-proc", ttl_s=5)
    assert claim_op(ctx, void.id, "dead-proc")
    return payment, void


# -- voids ---------------------------------------------------------------------------------


def test_void_reopens_the_invoice_and_it_can_be_paid_again(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
) -> None:
    payment = paid_on_terminal(ctx, merchant, terminal, runtime)
    assert invoice_row(ctx, payment.invoice_id or "").status == "paid"
    void = runtime.void(merchant.id, payment.id, actor="staff")
    assert (void.kind, void.state) == ("void", "succeeded"), void.failure_message
    assert clover_result(sandbox, payment) == "VOIDED"
    voided = payment_row(ctx, payment.id)
    assert voided.voided_at is not None
    assert voided.void_attempt_id == void.id
    invoice = invoice_row(ctx, payment.invoice_id or "")
    assert invoice.status == "open"
    with ctx.sessions() as s:
        topics = set(s.scalars(select(OutboxEvent.topic)))
        reopened = s.scalar(
            select(func.count())
            .select_from(AuditLog)
            .where(
                AuditLog.entity_id == invoice.id,
                AuditLog.from_state == "paid",
                AuditLog.to_state == "open",
            )
        )
        op = s.get_one(TerminalOp, void.id)
    assert "payment.voided" in topics
    assert reopened == 1
    assert (op.stage, op.claimed_by) == ("done", "proc-A")
    assert_books(ctx, sandbox)
    # voided: nothing more to refund or void
    with pytest.raises(ConflictError):
        request_terminal_refund(ctx, merchant.id, payment.id, actor="staff")
    with pytest.raises(ConflictError):
        request_terminal_void(ctx, merchant.id, payment.id, actor="staff")
    # the invoice is payable again; the new payment is recorded once
    again = start_terminal_sale(ctx, merchant.id, invoice.id, terminal.id, actor="staff")
    runtime.poke()
    assert settled(ctx, again.id).state == "succeeded"
    assert invoice_row(ctx, invoice.id).status == "paid"
    with ctx.sessions() as s:
        paid_events = s.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.topic == "invoice.paid")
        )
    assert paid_events == 2  # one per payment that paid it
    assert_books(ctx, sandbox)


def test_voided_back_to_open_then_captured_online_emits_invoice_paid_again(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
) -> None:
    """Paid on the terminal, voided back to open, paid again by a capture: one
    ``invoice.paid`` per payment that made it paid, whichever path recorded it."""
    first = paid_on_terminal(ctx, merchant, terminal, runtime)
    invoice_id = first.invoice_id or ""
    void = runtime.void(merchant.id, first.id, actor="staff")
    assert void.state == "succeeded", void.failure_message
    assert invoice_row(ctx, invoice_id).status == "open"
    att = authorize_invoice(ctx, merchant.id, invoice_id, token=make_token(sandbox), actor="t")
    assert att.state == "succeeded"
    with ctx.sessions() as s:
        auth = s.scalar(select(Authorization).where(Authorization.attempt_id == att.id))
        assert auth is not None
    cap = capture_authorization(ctx, merchant.id, auth.id, actor="t")
    assert cap.state == "succeeded"
    assert invoice_row(ctx, invoice_id).status == "paid"
    with ctx.sessions() as s:
        second = s.scalar(select(Payment).where(Payment.attempt_id == cap.id))
        assert second is not None
        keys = set(
            s.scalars(select(OutboxEvent.dedupe_key).where(OutboxEvent.topic == "invoice.paid"))
        )
    assert keys == {invoice_paid_key(invoice_id, first.id), invoice_paid_key(invoice_id, second.id)}
    assert_books(ctx, sandbox)


def test_void_refused_once_refunded_and_refund_refused_while_a_void_is_open(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
) -> None:
    payment = paid_on_terminal(ctx, merchant, terminal, runtime)
    refund = runtime.refund(merchant.id, payment.id, amount=300, actor="staff")
    assert refund.state == "succeeded", refund.failure_message
    with pytest.raises(ConflictError) as refused:
        request_terminal_void(ctx, merchant.id, payment.id, actor="staff")
    assert refused.value.code == "payment_has_refunds"

    other = paid_on_terminal(ctx, merchant, terminal, runtime)
    runtime.stop()  # nobody sends it: the void stays open
    request_terminal_void(ctx, merchant.id, other.id, actor="staff")
    with pytest.raises(AttemptUnresolvedError):
        request_terminal_refund(ctx, merchant.id, other.id, actor="staff")
    with pytest.raises(AttemptUnresolvedError):
        request_terminal_void(ctx, merchant.id, other.id, actor="staff")
    assert_books(ctx, sandbox)


def test_void_whose_answer_is_lost_is_recovered_not_resent(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
    control: httpx.Client,
) -> None:
    payment = paid_on_terminal(ctx, merchant, terminal, runtime)
    # the device voids the payment, then the socket drops before its answer
    script(control, outcome="drop_socket", stage="after_auth")
    void = runtime.void(merchant.id, payment.id, actor="staff")
    assert void.state == "succeeded", (void.failure_code, void.failure_message)
    assert clover_result(sandbox, payment) == "VOIDED"
    assert invoice_row(ctx, payment.invoice_id or "").status == "open"
    assert audit_count(ctx, void.id, "terminal_void.sent") == 1
    assert_books(ctx, sandbox)


def test_void_dropped_before_the_device_acted_is_proved_not_done(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
    control: httpx.Client,
) -> None:
    payment = paid_on_terminal(ctx, merchant, terminal, runtime)
    script(control, outcome="drop_socket", stage="card_read")
    void = runtime.void(merchant.id, payment.id, actor="staff")
    assert void.state == "failed", (void.failure_code, void.failure_message)
    assert clover_result(sandbox, payment) == "SUCCESS"
    assert payment_row(ctx, payment.id).voided_at is None
    assert invoice_row(ctx, payment.invoice_id or "").status == "paid"
    assert_books(ctx, sandbox)


def test_void_of_a_dead_owner_stays_unknown_until_the_reconciler_can_look(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
    clock: Clock,
) -> None:
    payment, void = void_claimed_by_a_dead_owner(ctx, merchant, terminal, runtime)
    assert not claim_op(ctx, void.id, "other-proc")  # sent at most once, ever
    sandbox.state.faults.arm("status", method="GET", path="/v3/merchants/*", status=503, count=1000)
    reconciler = Reconciler(ctx)
    clock.advance(QUEUE_TTL_S + 1)
    reconciler.run_once()  # the owner still holds its lease: not looked at
    assert wait_settled(ctx, void.id, 0).state == "pending"
    clock.advance(400)  # the lease lapsed long ago; Clover's REST API is down
    reconciler.run_once()
    a = wait_settled(ctx, void.id, 0)
    assert (a.state, a.failure_code) == ("unknown", "owner_lost")
    assert a.next_check_at is not None
    with ctx.sessions() as s:
        looked = s.scalar(
            select(AuditLog.reason).where(
                AuditLog.entity_id == void.id, AuditLog.action == "attempt.check_unresolved"
            )
        )
    assert looked == "lookup_failed"
    with pytest.raises(AttemptUnresolvedError):
        request_terminal_refund(ctx, merchant.id, payment.id, actor="staff")
    # Clover answers again: the books hold while the void is unknown ...
    sandbox.state.faults.clear()
    assert_books(ctx, sandbox)
    # ... and the payment is still SUCCESS: the void did not happen
    clock.advance(ctx.settings.reconciler_steps_s[1] + 1)
    report = reconciler.run_once()
    assert report.resolved == {void.id: "failed"}
    assert payment_row(ctx, payment.id).voided_at is None
    assert invoice_row(ctx, payment.invoice_id or "").status == "paid"
    assert_books(ctx, sandbox)


def test_new_owner_looks_up_a_void_its_dead_predecessor_claimed_and_never_resends_it(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
    clock: Clock,
) -> None:
    payment, void = void_claimed_by_a_dead_owner(ctx, merchant, terminal, runtime)
    clock.advance(6)  # its lease lapses
    with owning(ctx, terminal.id, "proc-B", what="proc-B to take the terminal") as rt:
        a = wait_final(ctx, void.id, WAIT_S)
        # looked up on the v3 payment (still SUCCESS, the device idle): not voided
        assert (a.state, a.failure_code) == ("failed", "lookup_not_voided")
        with ctx.sessions() as s:
            assert s.get_one(TerminalOp, void.id).claimed_by == "dead-proc"  # not re-claimed
        assert clover_result(sandbox, payment) == "SUCCESS"
        # a new void is sent by the new owner
        again = rt.void(merchant.id, payment.id, actor="staff")
        assert again.state == "succeeded", again.failure_message
    assert clover_result(sandbox, payment) == "VOIDED"
    assert_books(ctx, sandbox)


def test_queued_void_nobody_takes_expires_unsent(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
    clock: Clock,
) -> None:
    payment = paid_on_terminal(ctx, merchant, terminal, runtime)
    runtime.stop()
    void = request_terminal_void(ctx, merchant.id, payment.id, actor="staff")
    clock.advance(QUEUE_TTL_S + 1)
    Reconciler(ctx).run_once()
    a = wait_settled(ctx, void.id, 0)
    assert (a.state, a.failure_code) == ("failed", "terminal_unavailable")
    assert not claim_op(ctx, void.id, "late-proc")
    assert clover_result(sandbox, payment) == "SUCCESS"
    assert_books(ctx, sandbox)


# -- from a process that does not own the terminal --------------------------------------------


@pytest.fixture
def other_ctx(settings: Settings, sandbox: Sandbox, clock: Clock) -> Iterator[ServiceContext]:
    """A second service process's context on the same database (no terminal runtime)."""
    context = ServiceContext.build(
        settings, transport=sandbox.sync_transport(), retry=0, rate_limit=False, now=clock
    )
    try:
        yield context
    finally:
        context.close()


def test_refund_and_void_from_a_process_without_the_terminal_go_to_its_owner(
    ctx: ServiceContext,
    other_ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
) -> None:
    payment = paid_on_terminal(ctx, merchant, terminal, runtime)
    # concurrent partial refunds from the other process: never above the payment
    results: list[object] = []
    barrier = threading.Barrier(3)

    def refund() -> None:
        barrier.wait()
        try:
            results.append(
                request_terminal_refund(other_ctx, merchant.id, payment.id, amount=900, actor="b")
            )
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=refund) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queued = [r for r in results if isinstance(r, PaymentAttempt)]
    refused = [r for r in results if not isinstance(r, PaymentAttempt)]
    assert len(queued) == 2  # 2 x 900 of 2160; the third is refused
    assert len(refused) == 1
    assert getattr(refused[0], "code", None) == "amount_too_large"
    for a in queued:  # the owner (proc-A) sends them; nothing in other_ctx polls a device
        done = wait_final(other_ctx, a.id, WAIT_S)
        assert done.state == "succeeded", done.failure_message
    with other_ctx.sessions() as s:
        ops = list(s.scalars(select(TerminalOp)))
    assert {op.claimed_by for op in ops} == {"proc-A"}
    assert_books(ctx, sandbox)

    second = paid_on_terminal(ctx, merchant, terminal, runtime)
    void = request_terminal_void(other_ctx, merchant.id, second.id, actor="b")
    assert wait_final(other_ctx, void.id, WAIT_S).state == "succeeded"
    assert invoice_row(other_ctx, second.invoice_id or "").status == "open"
    assert_books(ctx, sandbox)


# -- Cloud Pay Display -----------------------------------------------------------------------


def test_cloud_terminal_sale_and_void_through_the_sandbox_cloud(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal_server: SandboxServer,
) -> None:
    """A terminal reached through Clover's cloud (the sandbox's emulation: the notify
    call, the proxy websocket with the merchant's OAuth token, no pairing)."""
    device_id = terminal_for(sandbox.state).settings.device_id
    cloud = register_terminal(
        ctx,
        merchant.id,
        name="Cloud counter",
        url=terminal_server.base_url,
        connection_kind="cloud",
        device_id=device_id,
        actor="test",
    )
    with owning(ctx, cloud.id, "proc-C", what="the cloud terminal to connect") as rt:
        # the runtime records what the device says through its writer thread, after
        # the connector is ready: wait for the row, never read it at once
        def recorded() -> Terminal | None:
            with ctx.sessions() as s:
                found = s.get_one(Terminal, cloud.id)
            return found if found.status == "ready" else None

        row: Terminal = wait_for(recorded, what="the cloud terminal's status recorded")
        assert row.pairing_code is None
        assert row.auth_token_enc is None  # no pairing through the cloud
        payment = paid_on_terminal(ctx, merchant, cloud, rt)
        assert clover_result(sandbox, payment) == "SUCCESS"
        void = rt.void(merchant.id, payment.id, actor="staff")
        assert void.state == "succeeded", void.failure_message
    assert clover_result(sandbox, payment) == "VOIDED"
    assert invoice_row(ctx, payment.invoice_id or "").status == "open"
    assert_books(ctx, sandbox)


# -- the dashboard --------------------------------------------------------------------------


def test_dashboard_void_button_voids_a_terminal_payment(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
    staff: str,
) -> None:
    from fastapi.testclient import TestClient

    from cloverpay.service.api import create_app

    from .web.conftest import login

    payment = paid_on_terminal(ctx, merchant, terminal, runtime)
    with TestClient(create_app(context=ctx), follow_redirects=False) as client:
        csrf = login(client)
        page = client.get("/dashboard/payments").text
        assert f"/dashboard/payments/{payment.id}/void" in page
        r = client.post(f"/dashboard/payments/{payment.id}/void", data={"csrf_token": csrf})
        assert r.status_code == 303
        assert "voided" in client.get(r.headers["location"]).text.lower()
        assert 'badge">voided' in client.get("/dashboard/payments").text
    assert payment_row(ctx, payment.id).voided_at is not None
    assert invoice_row(ctx, payment.invoice_id or "").status == "open"
    assert_books(ctx, sandbox)
