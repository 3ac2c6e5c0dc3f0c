"""Scenario 8 with a real crash, for terminal refunds and voids: a ``cloverpay serve``
process owning the terminal takes a sale, then is killed with SIGKILL
(``CLOVERPAY_CRASH_AT=after_terminal_op_answered``) right after the emulated device
voided (or refunded) the payment and answered, before anything was recorded. Another
``cloverpay serve`` takes the terminal once the lease lapses, looks the op up on the v3
payment and settles it, once: never sent again, the void / refund done once at Clover
and recorded once, the invariants hold."""

# ruff: noqa: F811  (the fixture of terminal_crash_helpers is imported by name)
from __future__ import annotations

import signal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from cloverpay.sandbox import Sandbox
from cloverpay.service.db import (
    AuditLog,
    OutboxEvent,
    Payment,
    PaymentAttempt,
    Refund,
    Terminal,
    TerminalOp,
)
from cloverpay.service.services import ServiceContext

from .conftest import clover
from .terminal_crash_helpers import (  # noqa: F401  (fixture)
    WAIT_S,
    World,
    final_sale,
    received,
    start_sale,
    world,
)
from .terminal_helpers import assert_books, v3_payments, wait_for
from .test_crash import ServiceProcess

pytestmark = [pytest.mark.timeout(420), pytest.mark.slow]

AMOUNT = 7300
REFUND = 2500
#: the message the device receives for each kind of op
METHOD = {"void": "VOID_PAYMENT", "refund": "REFUND_REQUEST"}


def clover_payment(sandbox: Sandbox, clover_id: str) -> Any:
    """The v3 payment as the sandbox's REST API shows it (with its refunds)."""
    with clover(sandbox) as c:
        return c.platform.payments.retrieve(clover_id)


def clover_refunds(sandbox: Sandbox, clover_id: str) -> list[dict[str, Any]]:
    elements: list[dict[str, Any]] = (clover_payment(sandbox, clover_id).refunds or {}).get(
        "elements", []
    )
    return elements


def count(s: Any, stmt: Any) -> int:
    return int(s.scalar(select(func.count()).select_from(stmt.subquery())) or 0)


@pytest.mark.parametrize("kind", ["void", "refund"])
def test_sigkill_after_the_device_answered_a_void_or_refund_then_another_process_settles_it(
    world: World, kind: str
) -> None:
    settings, sandbox, secret, terminal_id = world
    headers = {"Authorization": f"Bearer {secret}"}
    first = ServiceProcess(settings, "after_terminal_op_answered")
    try:
        with httpx.Client(base_url=first.base_url, headers=headers, timeout=30) as api:
            invoice_id, sale = start_sale(api, terminal_id, AMOUNT, f"op-crash-sale-{kind}")
            paid = final_sale(api, sale["id"], "the first process to take the sale")
            assert (paid["state"], paid["stage"]) == ("succeeded", "done"), paid
            payment_id, charge_id = paid["payment"]["id"], paid["payment"]["clover_charge_id"]
            if kind == "void":
                path, body = f"/v1/payments/{payment_id}/void", {"reason": "wrong amount"}
            else:
                path, body = f"/v1/payments/{payment_id}/refunds", {"amount": REFUND}
            # wait_s=0: answered (202, queued) before the terminal's owner sends it; the
            # process may die before the answer leaves, so the op is found in the database
            try:
                asked = api.post(
                    path, params={"wait_s": 0}, json=body, headers={"Idempotency-Key": kind}
                )
                assert asked.status_code == 202, asked.text
            except httpx.TransportError:
                pass
        # the device voids / refunds and answers; the process dies before recording it
        assert first.proc.wait(WAIT_S) == -signal.SIGKILL
    finally:
        first.stop()

    ctx = ServiceContext.build(settings, retry=0, rate_limit=False)
    try:
        with ctx.sessions() as s:
            op = s.scalars(select(TerminalOp).where(TerminalOp.payment_id == payment_id)).one()
            op_id, dead_owner = op.attempt_id, op.claimed_by
            attempt = s.get_one(PaymentAttempt, op_id)
            assert (op.kind, op.stage, attempt.state) == (kind, "sending", "pending")
            assert dead_owner is not None
            assert s.get_one(Payment, payment_id).voided_at is None  # nothing recorded
            assert count(s, select(Refund.id)) == 0
        # ... but the money moved, once
        assert received(sandbox, METHOD[kind]) == 1
        if kind == "void":
            assert clover_payment(sandbox, charge_id).result == "VOIDED"
        else:
            assert [r["amount"] for r in clover_refunds(sandbox, charge_id)] == [REFUND]

        second = ServiceProcess(settings, None)
        try:
            with httpx.Client(base_url=second.base_url, headers=headers, timeout=30) as api:

                def final() -> dict[str, Any] | None:
                    got: dict[str, Any] = api.get(f"/v1/attempts/{op_id}").json()
                    return got if got["state"] in ("succeeded", "failed") else None

                # unknown first (its owner is gone), then the lookup settles it
                done = wait_for(
                    final, WAIT_S, "the second process to take the terminal and look it up"
                )
                assert done["state"] == "succeeded", done
                payment = api.get(f"/v1/payments/{payment_id}").json()
                invoice = api.get(f"/v1/invoices/{invoice_id}").json()
                if kind == "void":
                    assert payment["voided_at"] is not None
                    assert invoice["status"] == "open"  # a voided payment no longer counts
                else:
                    assert payment["amount_refunded"] == REFUND
                    assert done["clover_refund_id"] == clover_refunds(sandbox, charge_id)[0]["id"]
                owner = api.get(f"/v1/terminals/{terminal_id}").json()["lease_owner"]
                assert owner not in (None, dead_owner)
        finally:
            second.stop()
        assert second.proc.returncode == 0  # a graceful stop (SIGTERM) ends cleanly

        # never resent: the device received the op once, Clover shows it once
        assert received(sandbox, METHOD[kind]) == 1
        if kind == "void":
            assert [p.result for p in v3_payments(sandbox)] == ["VOIDED"]
        else:
            assert len(clover_refunds(sandbox, charge_id)) == 1
            assert len(sandbox.state.events.list("terminal_refund")) == 1
        with ctx.sessions() as s:
            op = s.get_one(TerminalOp, op_id)
            assert (op.stage, op.claimed_by) == ("done", dead_owner)  # not claimed again
            sent = select(AuditLog.id).where(
                AuditLog.entity_id == op_id, AuditLog.action == f"terminal_{kind}.sent"
            )
            assert count(s, sent) == 1
            recorded = select(Refund.id).where(Refund.payment_id == payment_id)
            assert count(s, recorded) == (1 if kind == "refund" else 0)
            voided = select(AuditLog.id).where(
                AuditLog.entity_id == invoice_id, AuditLog.to_state == "open"
            )
            # opened once by the test; voiding the payment reopens it once more
            assert count(s, voided) == (2 if kind == "void" else 1)
            topics = s.scalars(
                select(OutboxEvent.topic).where(OutboxEvent.topic.like(f"%{kind}%"))
            ).all()
            assert len(topics) == len(set(topics))  # each event emitted once
            assert s.get_one(Terminal, terminal_id).lease_owner is None  # released on exit
        assert_books(ctx, sandbox)
    finally:
        ctx.close()
