"""Fixtures and helpers of the terminal tests (sales, refunds and voids, the REST API):
the sandbox's emulated terminal over a real socket, a service process owning it, and
the checks every test ends with. Fixtures are imported by name into the test modules."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from cloverpay.sandbox import Sandbox, SandboxServer
from cloverpay.service.db import (
    AuditLog,
    Invoice,
    Merchant,
    Payment,
    PaymentAttempt,
    Terminal,
    TerminalOp,
    TerminalSale,
)
from cloverpay.service.invariants import CloverPaymentFact, check_invariants
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.terminal_sales import start_terminal_sale
from cloverpay.service.services.terminals import register_terminal
from cloverpay.service.terminal_runtime import RuntimeOptions, TerminalRuntime

from .conftest import clover, clover_charges, open_test_invoice

#: Quick ticks, and budgets a loaded machine cannot overrun: the device's answer and
#: the recovery after a lost one end as soon as they can, so a generous budget costs
#: nothing when all is well (the clock of ``ctx`` is the tests' own, so the lease
#: never lapses in real seconds).
FAST = RuntimeOptions(
    lease_s=5,
    tick_s=0.05,
    sale_timeout_s=60,
    recovery_timeout_s=30,
    reconnect_delay_s=0.05,
    heartbeat_interval_s=None,
)

#: How long a test waits for something the service does in the background (a
#: deadline for a hang, not a timing: on a quiet machine it takes well under a second).
WAIT_S = 90.0


@pytest.fixture
def terminal_server(sandbox: Sandbox) -> Iterator[SandboxServer]:
    server = SandboxServer(sandbox, terminal_port=0).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def control(terminal_server: SandboxServer) -> Iterator[httpx.Client]:
    """The sandbox's control API (scripts, settings, faults)."""
    with httpx.Client(base_url=terminal_server.base_url, timeout=WAIT_S) as client:
        yield client


@pytest.fixture
def terminal(ctx: ServiceContext, merchant: Merchant, terminal_server: SandboxServer) -> Terminal:
    assert terminal_server.terminal_url is not None
    return register_terminal(
        ctx, merchant.id, name="Front desk", url=terminal_server.terminal_url, actor="test"
    )


def wait_for(check: Callable[[], Any], timeout: float = WAIT_S, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def owning(
    ctx: ServiceContext, terminal_id: str, owner: str, what: str = "the terminal to be ready"
) -> Iterator[TerminalRuntime]:
    """A service process ``owner`` with the terminal connected and ready, stopped after."""
    rt = TerminalRuntime(ctx, owner=owner, options=FAST).start()
    try:
        wait_for(lambda: rt.is_ready(terminal_id), what=what)
        yield rt
    finally:
        rt.stop()


@pytest.fixture
def runtime(ctx: ServiceContext, terminal: Terminal) -> Iterator[TerminalRuntime]:
    with owning(ctx, terminal.id, "proc-A") as rt:
        yield rt


def attempt_row(ctx: ServiceContext, attempt_id: str) -> PaymentAttempt:
    with ctx.sessions() as s:
        return s.get_one(PaymentAttempt, attempt_id)


def settled(ctx: ServiceContext, attempt_id: str, timeout: float = WAIT_S) -> PaymentAttempt:
    def done() -> PaymentAttempt | None:
        with ctx.sessions() as s:
            # the sale first: once its stage is final, the attempt (settled in the same
            # transaction) read after it is too, even under READ COMMITTED
            sale = s.get_one(TerminalSale, attempt_id)
            a = s.get_one(PaymentAttempt, attempt_id)
        return a if sale.stage in ("done", "unknown", "expired") else None

    result: PaymentAttempt = wait_for(done, timeout, "the sale to settle")
    return result


def v3_payments(sandbox: Sandbox) -> list[CloverPaymentFact]:
    with clover(sandbox) as c:
        return [
            CloverPaymentFact(
                id=p.id,
                result=str(p.result),
                amount=p.amount or 0,
                amount_refunded=sum(
                    int(r.get("amount") or 0) for r in (p.refunds or {}).get("elements", [])
                ),
                external_payment_id=p.external_payment_id,
            )
            for p in c.platform.payments.list().to_list()
        ]


def with_external_id(sandbox: Sandbox, external_id: str) -> list[CloverPaymentFact]:
    return [p for p in v3_payments(sandbox) if p.external_payment_id == external_id]


def assert_books(ctx: ServiceContext, sandbox: Sandbox) -> None:
    charges = clover_charges(sandbox)
    payments = v3_payments(sandbox)
    with ctx.sessions() as s:
        problems = check_invariants(
            s,
            clover_charges=charges,
            clover_payments=payments,
            now=ctx.now(),
            first_step_s=ctx.settings.reconciler_steps_s[0],
        )
    assert problems == []


def script(control: httpx.Client, **body: Any) -> None:
    control.post("/_sandbox/terminal/script", json=body).raise_for_status()


def sale_of_a_new_invoice(
    ctx: ServiceContext, merchant: Merchant, terminal: Terminal, runtime: TerminalRuntime
) -> tuple[Invoice, PaymentAttempt, PaymentAttempt]:
    """A sale of all of a new invoice on ``terminal``, run by ``runtime`` until it
    settles: the invoice, the attempt as it started, and as it settled."""
    invoice = open_test_invoice(ctx, merchant)
    attempt = start_terminal_sale(ctx, merchant.id, invoice.id, terminal.id, actor="staff")
    runtime.poke()
    return invoice, attempt, settled(ctx, attempt.id)


def paid_on_terminal(
    ctx: ServiceContext, merchant: Merchant, terminal: Terminal, runtime: TerminalRuntime
) -> Payment:
    """A new invoice paid in full by a sale on ``terminal``: its payment row."""
    _, attempt, done = sale_of_a_new_invoice(ctx, merchant, terminal, runtime)
    assert done.state == "succeeded"
    with ctx.sessions() as s:
        payment = s.scalar(select(Payment).where(Payment.attempt_id == attempt.id))
    assert payment is not None
    return payment


def audit_count(ctx: ServiceContext, entity_id: str, action: str) -> int:
    """How many ``action`` audit rows the entity has."""
    with ctx.sessions() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(AuditLog)
                .where(AuditLog.entity_id == entity_id, AuditLog.action == action)
            )
            or 0
        )


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    """The answer's error, checked to be ``status`` and the one error shape."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body["error"]) >= {"type", "code", "message", "field"}
    return dict(body["error"])


def op_row(ctx: ServiceContext, attempt_id: str) -> TerminalOp:
    with ctx.sessions() as s:
        return s.get_one(TerminalOp, attempt_id)


def clover_refunds(sandbox: Sandbox, payment: Payment) -> list[tuple[str, int]]:
    """The refunds the v3 payment lists (id, amount)."""
    with clover(sandbox) as c:
        found = c.platform.payments.retrieve(payment.clover_charge_id)
    return [(r["id"], r["amount"]) for r in (found.refunds or {}).get("elements", [])]


def device_refunds(sandbox: Sandbox) -> int:
    """How many refunds the emulated terminal received."""
    return len(sandbox.state.events.list("terminal_refund"))
