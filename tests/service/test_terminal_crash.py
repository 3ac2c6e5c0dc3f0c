"""Scenario 8 with a real crash: a ``cloverpay serve`` process owning the terminal is
killed with SIGKILL (``CLOVERPAY_CRASH_AT=after_terminal_sale_answered``) right after
the emulated device charged the card and answered, before anything was recorded.
Another ``cloverpay serve`` takes the terminal once the lease lapses (lease times from
``CLOVERPAY_TERMINAL_LEASE_S``), looks the sale up by its externalPaymentId and
records it: never sent again, exactly one payment, the invariants hold."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from cloverpay.sandbox import Sandbox, SandboxServer
from cloverpay.service.core.config import Settings
from cloverpay.service.db import AuditLog, Payment, PaymentAttempt, Terminal, TerminalSale
from cloverpay.service.invariants import check_invariants
from cloverpay.service.migrate import upgrade
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.merchants import connect_merchant, create_api_key
from cloverpay.service.services.terminals import register_terminal

from .conftest import clover_charges
from .terminal_helpers import v3_payments
from .test_crash import ServiceProcess

pytestmark = [pytest.mark.timeout(420), pytest.mark.slow]

LEASE_S = 2.0
#: a deadline for what the processes do in the background (a hang, not a timing)
WAIT_S = 120.0


@pytest.fixture
def world(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Settings, Sandbox, str, str]]:
    # every service process started here renews its leases every 0.2 s for 2 s
    monkeypatch.setenv("CLOVERPAY_TERMINAL_LEASE_S", str(LEASE_S))
    monkeypatch.setenv("CLOVERPAY_TERMINAL_TICK_S", "0.2")
    upgrade(settings.database_url)
    with Sandbox(seed=11) as sandbox, SandboxServer(sandbox, terminal_port=0) as server:
        assert server.terminal_url is not None
        ctx = ServiceContext.build(settings, retry=0, rate_limit=False)
        creds = server.credentials
        merchant = connect_merchant(
            ctx,
            name="Crash Counter",
            clover_merchant_id=creds.merchant_id,
            access_token=creds.access_token,
            pakms_key=creds.api_access_key,
            clover_base_url=creds.base_url,
        )
        key = create_api_key(ctx, merchant.id)
        terminal = register_terminal(
            ctx, merchant.id, name="Counter", url=server.terminal_url, actor="test"
        )
        ctx.close()
        yield settings, sandbox, key.secret, terminal.id


def wait_until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigkill_after_the_device_charged_then_another_process_looks_it_up(
    world: tuple[Settings, Sandbox, str, str],
) -> None:
    settings, sandbox, secret, terminal_id = world
    headers = {"Authorization": f"Bearer {secret}"}
    first = ServiceProcess(settings, "after_terminal_sale_answered")
    try:
        with httpx.Client(base_url=first.base_url, headers=headers, timeout=30) as api:
            wait_until(
                lambda: api.get(f"/v1/terminals/{terminal_id}").json()["status"] == "ready",
                WAIT_S,
                "the first process to pair with the terminal",
            )
            inv = api.post(
                "/v1/invoices",
                json={"line_items": [{"description": "Repair", "unit_amount": 7300}]},
            ).json()
            assert api.post(f"/v1/invoices/{inv['id']}/open").status_code == 200
            sale = api.post(
                "/v1/terminal_sales",
                json={"invoice_id": inv["id"], "terminal_id": terminal_id},
                headers={"Idempotency-Key": "sale-crash-1"},
            )
            assert sale.status_code == 202, sale.text
            sale_id = sale.json()["id"]
            external_id = sale.json()["external_payment_id"]
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
                done = wait_until(
                    lambda: (
                        # unknown first (its owner is gone), then the lookup settles it
                        (got := api.get(f"/v1/terminal_sales/{sale_id}").json())["state"]
                        in ("succeeded", "failed")
                        and got
                    ),
                    WAIT_S,
                    "the second process to take the terminal and look the sale up",
                )
                assert (done["state"], done["stage"]) == ("succeeded", "done"), done
                assert done["payment"]["clover_charge_id"] == charged[0].id
                assert api.get(f"/v1/invoices/{inv['id']}").json()["status"] == "paid"
                owner = api.get(f"/v1/terminals/{terminal_id}").json()["lease_owner"]
                assert owner not in (None, dead_owner)
        finally:
            second.stop()
        assert second.proc.returncode == 0  # a graceful stop (SIGTERM) ends cleanly

        # never resent: one sale reached the device, one v3 payment carries the id
        assert [p.id for p in v3_payments(sandbox) if p.external_payment_id == external_id] == [
            charged[0].id
        ]
        events = sandbox.state.events
        tx_starts = [e for e in events.list("terminal_received") if e["method"] == "TX_START"]
        assert len(tx_starts) == 1
        assert len(events.list("terminal_payment")) == 1
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
                .where(AuditLog.entity_id == inv["id"], AuditLog.to_state == "paid")
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
