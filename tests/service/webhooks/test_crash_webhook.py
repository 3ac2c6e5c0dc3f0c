"""A real crash in the inbox worker: ``cloverpay serve`` receives an app webhook over a
real socket from the sandbox, applies its effect and is killed with SIGKILL
(``CLOVERPAY_CRASH_AT=webhook_before_processed_commit``) before the commit that would
mark the row processed. After the restart the event is processed exactly once: the
effect and the mark commit together, redeliveries change nothing, invariants hold."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from cloverpay.sandbox import Sandbox, SandboxServer
from cloverpay.service.core.config import Settings
from cloverpay.service.db import AuditLog, Merchant, Payment, Refund, WebhookInbox, utcnow
from cloverpay.service.migrate import upgrade
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.invoices import LineItemInput, create_invoice, open_invoice
from cloverpay.service.services.merchants import connect_merchant
from cloverpay.service.services.payments import pay_invoice
from cloverpay.service.webhooks import LEASE_S, RECORDED_FROM_CLOVER, process_inbox_once

from ..conftest import assert_invariants, clover, make_token
from ..test_crash import ServiceProcess, _free_port


@pytest.fixture
def world(settings: Settings) -> Iterator[tuple[Settings, Sandbox, SandboxServer, Merchant]]:
    upgrade(settings.database_url)  # the migrations, as a real deployment has them
    with Sandbox(seed=11) as sandbox, SandboxServer(sandbox) as server:
        ctx = ServiceContext.build(settings, retry=0, rate_limit=False)
        creds = server.credentials
        merchant = connect_merchant(
            ctx,
            name="Crash Plumbing",
            clover_merchant_id=creds.merchant_id,
            access_token=creds.access_token,
            pakms_key=creds.api_access_key,
            clover_base_url=creds.base_url,
        )
        ctx.close()
        yield settings, sandbox, server, merchant


def _rows(ctx: ServiceContext, model: type) -> list:  # type: ignore[type-arg]
    with ctx.sessions() as s:
        return list(s.scalars(select(model)).all())


def _count(ctx: ServiceContext, model: type, *where: object) -> int:
    with ctx.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@pytest.mark.slow
def test_sigkill_before_the_processed_commit_then_restart_processes_once(
    world: tuple[Settings, Sandbox, SandboxServer, Merchant],
) -> None:
    settings, sandbox, server, merchant = world
    ctx = ServiceContext.build(settings, retry=0, rate_limit=False)
    try:
        inv = create_invoice(
            ctx, merchant.id, line_items=[LineItemInput("Boiler", 1, 9000)], actor="t"
        )
        open_invoice(ctx, merchant.id, inv.id, actor="t")
        attempt = pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
        assert attempt.state == "succeeded"
        with ctx.sessions() as s:
            payment = s.scalars(select(Payment)).one()
    finally:
        ctx.close()

    # Point the app's webhooks at the service (the code pasted back by a person).
    port = _free_port()
    url = f"http://127.0.0.1:{port}/webhooks/clover/app"
    with httpx.Client(base_url=server.base_url, timeout=10) as control:
        assert control.post("/_sandbox/webhooks/settings", json={"batch_window": 0.0}).is_success
        code = control.post("/_sandbox/webhooks", json={"url": url}).json()["verificationCode"]
        confirmed = control.post("/_sandbox/webhooks/verify", json={"verificationCode": code})
        auth_code = confirmed.json()["authCode"]

    service = ServiceProcess(
        settings,
        "webhook_before_processed_commit",
        port=port,
        extra_env={"CLOVERPAY_CLOVER_APP_AUTH_CODE": auth_code},
    )
    try:
        # A refund made in Clover's dashboard: Clover notifies the app (P:<payment>).
        with clover(sandbox) as c:
            refund = c.refunds.create(
                charge=payment.clover_charge_id, amount=2500, idempotency_key=str(uuid.uuid4())
            )
        assert service.proc.wait(20) == -signal.SIGKILL  # died inside the worker
    finally:
        service.stop()

    ctx = ServiceContext.build(settings, retry=0, rate_limit=False)
    try:
        (row,) = _rows(ctx, WebhookInbox)
        assert row.verified
        assert (row.status, row.attempts) == ("processing", 1)  # claimed, never marked
        assert _count(ctx, Refund) == 0  # the effect died with the transaction
        assert _count(ctx, AuditLog, AuditLog.action == "webhook.processed") == 0
    finally:
        ctx.close()

    # Restart: the service is back on its port (its receivers answer Clover again);
    # the worker's pass runs here with the clock past the dead worker's lease, so the
    # sweeper re-queues the row at once instead of in two minutes.
    service = ServiceProcess(
        settings,
        None,
        port=port,
        extra_env={"CLOVERPAY_CLOVER_APP_AUTH_CODE": auth_code},
        extra_args=("--no-webhooks",),
    )
    later = utcnow() + timedelta(seconds=LEASE_S + 1)
    ctx = ServiceContext.build(settings, retry=0, rate_limit=False, now=lambda: later)
    try:
        report = process_inbox_once(ctx)
        assert (report.requeued, report.processed) == (1, 1), report
        assert any(refund.id in o for o in report.outcomes), report.outcomes
        # Clover delivers it again, byte for byte, to the restarted service: the inbox
        # knows it, and a second pass has nothing to do.
        with httpx.Client(base_url=server.base_url, timeout=10) as control:
            deliveries = control.get("/_sandbox/webhooks/deliveries", params={"kind": "app"})
            ids = [d["id"] for d in deliveries.json()["deliveries"]]
            assert len(ids) == 1
            again = control.post(f"/_sandbox/webhooks/deliveries/{ids[0]}/redeliver").json()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                items = control.get("/_sandbox/webhooks/deliveries").json()["deliveries"]
                (copy,) = [d for d in items if d["id"] == again["id"]]
                if copy["state"] != "pending":
                    break
                time.sleep(0.05)
        assert copy["state"] == "delivered"
        assert [a["statusCode"] for a in copy["attempts"]] == [200]
        assert process_inbox_once(ctx).processed == 0
        (row,) = _rows(ctx, WebhookInbox)
        assert (row.status, row.attempts) == ("processed", 2)
        (recorded,) = _rows(ctx, Refund)
        assert (recorded.clover_refund_id, recorded.amount) == (refund.id, 2500)
        assert recorded.reason == RECORDED_FROM_CLOVER
        assert _count(ctx, AuditLog, AuditLog.action == "webhook.processed") == 1
        assert _count(ctx, AuditLog, AuditLog.action == "refund_attempt.recorded") == 1
        assert_invariants(ctx, sandbox)
    finally:
        ctx.close()
        service.stop()
