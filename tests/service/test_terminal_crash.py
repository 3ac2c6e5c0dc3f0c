"""Scenario 8 with a real crash: a ``cloverpay serve`` process owning the terminal is
killed with SIGKILL (``CLOVERPAY_CRASH_AT=after_terminal_sale_answered``) right after
the emulated device charged the card and answered, before anything was recorded.
Another ``cloverpay serve`` takes the terminal once the lease lapses (lease times from
``CLOVERPAY_TERMINAL_LEASE_S``), looks the sale up by its externalPaymentId and
records it: never sent again, exactly one payment, the invariants hold."""

# ruff: noqa: F811  (the fixture of terminal_crash_helpers is imported by name)
from __future__ import annotations

import signal

import httpx
import pytest
from sqlalchemy import func, select

from cloverpay.service.db import AuditLog, Payment, PaymentAttempt, Terminal, TerminalSale
from cloverpay.service.invariants import check_invariants
from cloverpay.service.services import ServiceContext

from .conftest import clover_charges
from .terminal_crash_helpers import (  # noqa: F401  (fixture)
    WAIT_S,
    World,
    final_sale,
    received,
    start_sale,
    world,
)
from .terminal_helpers import v3_payments
from .test_crash import ServiceProcess

pytestmark = [pytest.mark.timeout(420), pytest.mark.slow]


def test_sigkill_after_the_device_charged_then_another_process_looks_it_up(
    world: World,
) -> None:
    settings, sandbox, secret, terminal_id = world
    headers = {"Authorization": f"Bearer {secret}"}
    first = ServiceProcess(settings, "after_terminal_sale_answered")
    try:
        with httpx.Client(base_url=first.base_url, headers=headers, timeout=30) as api:
            invoice_id, sale = start_sale(api, terminal_id, 7300, "sale-crash-1")
            sale_id, external_id = sale["id"], sale["external_payment_id"]
        # the device charges the card and answers; the process dies before recording it
        assert first.proc.wait(WAIT_S) == -signal.SIGKILL
    finally:
        first.stop()

    ctx = ServiceContext.build(settings, retry=0, rate_limit=False)
    try:
        with ctx.sessions() as s:
            attempt = s.get_one(PaymentAttempt, sale_id)
            row = s.get_one(TerminalSale, sale_id)
            dead_owner = row.claimed_by
            assert (attempt.state, row.stage) == ("pending", "sending")
            assert s.scalar(select(func.count()).select_from(Payment)) == 0
        charged = [p for p in v3_payments(sandbox) if p.external_payment_id == external_id]
        assert [p.result for p in charged] == ["SUCCESS"]  # the money moved, once

        second = ServiceProcess(settings, None)
        try:
            with httpx.Client(base_url=second.base_url, headers=headers, timeout=30) as api:
                # unknown first (its owner is gone), then the lookup settles it
                done = final_sale(
                    api, sale_id, "the second process to take the terminal and look the sale up"
                )
                assert (done["state"], done["stage"]) == ("succeeded", "done"), done
                assert done["payment"]["clover_charge_id"] == charged[0].id
                assert api.get(f"/v1/invoices/{invoice_id}").json()["status"] == "paid"
                owner = api.get(f"/v1/terminals/{terminal_id}").json()["lease_owner"]
                assert owner not in (None, dead_owner)
        finally:
            second.stop()
        assert second.proc.returncode == 0  # a graceful stop (SIGTERM) ends cleanly

        # never resent: one sale reached the device, one v3 payment carries the id
        assert [p.id for p in v3_payments(sandbox) if p.external_payment_id == external_id] == [
            charged[0].id
        ]
        assert received(sandbox, "TX_START") == 1
        assert len(sandbox.state.events.list("terminal_payment")) == 1
        with ctx.sessions() as s:
            assert s.scalar(select(func.count()).select_from(Payment)) == 1
            sent = s.scalar(
                select(func.count())
                .select_from(AuditLog)
                .where(AuditLog.entity_id == sale_id, AuditLog.action == "terminal_sale.sent")
            )
            assert sent == 1
            paid = s.scalar(
                select(func.count())
                .select_from(AuditLog)
                .where(AuditLog.entity_id == invoice_id, AuditLog.to_state == "paid")
            )
            assert paid == 1
            assert s.get_one(Terminal, terminal_id).lease_owner is None  # released on exit
            problems = check_invariants(
                s,
                clover_charges=clover_charges(sandbox),
                clover_payments=v3_payments(sandbox),
                now=ctx.now(),
            )
        assert problems == []
    finally:
        ctx.close()
