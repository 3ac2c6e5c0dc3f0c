"""Scenario 10 with real processes: ``cloverpay billing run`` killed with SIGKILL at a
named crash point and run again, and two billing runs started at once against one
database. One invoice per period, at most one charge per attempt; invariants after."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from cloverpay.sandbox import Sandbox, SandboxServer
from cloverpay.service.core.config import Settings
from cloverpay.service.db import Invoice, Merchant, OutboxEvent, Payment, Subscription, utcnow
from cloverpay.service.migrate import upgrade
from cloverpay.service.services import Reconciler, ServiceContext
from cloverpay.service.services.merchants import connect_merchant
from cloverpay.service.services.subscriptions import BillingRun

from .conftest import DECLINE, Clock, assert_invariants
from .test_subscriptions import subscribe

pytestmark = pytest.mark.slow


def billing_process(settings: Settings, crash_at: str | None = None) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "CLOVERPAY_SECRET_KEY": settings.fernet_key().decode(),
        "CLOVERPAY_CLOVER_MAX_RETRIES": "0",
        "CLOVERPAY_ENV": "test",
    }
    env.pop("CLOVERPAY_CRASH_AT", None)
    if crash_at:
        env["CLOVERPAY_CRASH_AT"] = crash_at
    code = "from cloverpay.cli import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, "billing", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.fixture
def world(settings: Settings) -> Iterator[tuple[ServiceContext, Sandbox, Merchant, Clock]]:
    upgrade(settings.database_url)
    clock = Clock(utcnow())
    with Sandbox(seed=11) as sandbox, SandboxServer(sandbox) as server:
        ctx = ServiceContext.build(settings, retry=0, rate_limit=False, now=clock)
        creds = server.credentials
        merchant = connect_merchant(
            ctx,
            name="Crash Lawn Care",
            clover_merchant_id=creds.merchant_id,
            access_token=creds.access_token,
            pakms_key=creds.api_access_key,
            clover_base_url=creds.base_url,
        )
        try:
            yield ctx, sandbox, merchant, clock
        finally:
            ctx.close()


def _check_one_invoice_and_charge_per_period(
    ctx: ServiceContext, sandbox: Sandbox, subs: list[Subscription]
) -> None:
    with ctx.sessions() as s:
        per_sub = Counter(
            s.scalars(select(Invoice.subscription_id).where(Invoice.subscription_id.is_not(None)))
        )
    assert per_sub == {sub.id: 1 for sub in subs}
    per_order = Counter(c.order for c in sandbox.state.ecommerce.charges.objects.values())
    assert max(per_order.values()) == 1  # at most one charge per attempt (= per order here)


@pytest.mark.parametrize(
    "crash_at",
    [
        "billing_after_invoice_created",
        "after_intent_committed",
        "after_charge_sent",
        "billing_after_charge_settled",
    ],
)
def test_sigkill_mid_run_then_run_again(
    world: tuple[ServiceContext, Sandbox, Merchant, Clock], crash_at: str
) -> None:
    ctx, sandbox, merchant, clock = world
    subs = [subscribe(ctx, merchant, sandbox) for _ in range(3)]
    proc = billing_process(ctx.settings, crash_at)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    crashed_charges = len(sandbox.state.ecommerce.charges.objects)
    assert crashed_charges == (
        0 if crash_at in {"billing_after_invoice_created", "after_intent_committed"} else 1
    )

    # Restart: runs and the reconciler until nothing is left to do. The crashed run's
    # claim holds its subscription until the lease ends.
    for _ in range(4):
        clock.advance(ctx.settings.subscription_lease_s + 1)
        BillingRun(ctx).run_once()
        Reconciler(ctx).run_once()
        assert_invariants(ctx, sandbox)
    with ctx.sessions() as s:
        statuses = [
            s.get_one(Invoice, i).status
            for i in s.scalars(select(Invoice.id).where(Invoice.subscription_id.is_not(None)))
        ]
        assert s.scalar(select(func.count()).select_from(Payment)) == 3
        rows = [s.get_one(Subscription, sub.id) for sub in subs]
    assert statuses == ["paid"] * 3
    assert [(r.status, r.period_index) for r in rows] == [("active", 1)] * 3
    assert [c.status for c in sandbox.state.ecommerce.charges.objects.values()] == ["succeeded"] * 3
    _check_one_invoice_and_charge_per_period(ctx, sandbox, subs)
    assert_invariants(ctx, sandbox)


def test_two_billing_processes_at_once(
    world: tuple[ServiceContext, Sandbox, Merchant, Clock],
) -> None:
    ctx, sandbox, merchant, clock = world
    subs = [subscribe(ctx, merchant, sandbox) for _ in range(4)]
    subs += [subscribe(ctx, merchant, sandbox, card=DECLINE) for _ in range(2)]
    procs = [billing_process(ctx.settings) for _ in range(2)]
    for proc in procs:
        _out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err.decode()[-2000:]
    _check_one_invoice_and_charge_per_period(ctx, sandbox, subs)
    statuses = Counter(c.status for c in sandbox.state.ecommerce.charges.objects.values())
    assert statuses == {"succeeded": 4, "failed": 2}
    with ctx.sessions() as s:
        failed_emails = s.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.topic == "email.subscription_payment_failed")
        )
    assert failed_emails == 2
    # and a third run a day later retries the two declines once each (the processes
    # ran on the real clock, a little after this test's clock)
    clock.value = utcnow() + timedelta(days=1, minutes=1)
    BillingRun(ctx).run_once()
    statuses = Counter(c.status for c in sandbox.state.ecommerce.charges.objects.values())
    assert statuses == {"succeeded": 4, "failed": 4}
    assert_invariants(ctx, sandbox)
