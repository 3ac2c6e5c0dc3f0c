"""Processing the inbox: Hosted Checkout payments recorded once from Clover's answer,
forged and stale webhooks (scenario 7), amount mismatches, the sweeper, lost leases,
retries, and an effect that never commits without its "processed" mark."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import func, select

from cloverpay.api import AppEvent, AppEventType, build_app_webhook, build_checkout_webhook
from cloverpay.sandbox import Sandbox
from cloverpay.service.db import (
    AuditLog,
    Invoice,
    Merchant,
    OutboxEvent,
    Payment,
    PaymentAttempt,
)
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.payments import pay_invoice
from cloverpay.service.webhooks import (
    LEASE_S,
    MAX_ATTEMPTS,
    claim_inbox,
    process_inbox_once,
)
from cloverpay.service.webhooks import _process as process_mod

from ..conftest import Clock, assert_invariants, invoice_row, make_token, open_test_invoice
from .conftest import (
    DECLINE,
    Capture,
    Served,
    checkout_receiver,
    drain,
    inbox_rows,
    open_checkout,
    pay_on_clover,
    point_checkout_webhooks,
    use_hosted_checkout,
    wait_rows,
)


def _payments(ctx: ServiceContext) -> list[Payment]:
    with ctx.sessions() as s:
        return list(s.scalars(select(Payment)).all())


def _count(ctx: ServiceContext, action: str) -> int:
    with ctx.sessions() as s:
        return int(s.scalar(select(func.count()).where(AuditLog.action == action)) or 0)


def _transitions(ctx: ServiceContext) -> list[tuple[str, str | None, str | None]]:
    with ctx.sessions() as s:
        rows = s.execute(
            select(AuditLog.entity_type, AuditLog.from_state, AuditLog.to_state).where(
                AuditLog.to_state.is_not(None)
            )
        ).all()
    return sorted((str(a), b, c) for a, b, c in rows)


def _post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    r = httpx.post(url, content=body, headers=headers)
    assert r.status_code in (200, 202), r.text
    return r


def _paid_on_clover(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    served: Served,
    *,
    webhooks_to: str | None = None,
) -> tuple[Invoice, str]:
    """A new invoice paid on Clover's Hosted Checkout page, Clover's webhook going to
    ``webhooks_to`` (our receiver by default): the invoice and our pay link."""
    use_hosted_checkout(ctx, merchant)
    url = webhooks_to or checkout_receiver(served.base_url, merchant)
    point_checkout_webhooks(ctx, sandbox, merchant, url)
    inv = open_test_invoice(ctx, merchant)
    link, checkout = open_checkout(ctx, served, sandbox, inv)
    assert pay_on_clover(sandbox, checkout) in (200, 303)
    return inv, link


def _unknown_charge(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> tuple[Invoice, PaymentAttempt, str]:
    """A new invoice whose payment Clover took and whose answer was lost: the invoice,
    our ``unknown`` attempt, and Clover's charge id."""
    from ..conftest import clover_charges

    inv = open_test_invoice(ctx, merchant)
    sandbox.state.faults.arm("commit_then_drop", method="POST", path="/v1/orders/*/pay")
    attempt = pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    (charge,) = [c for c in clover_charges(sandbox) if c.status == "succeeded"]
    return inv, attempt, charge.id


def test_hosted_checkout_payment_recorded_once_from_signed_webhook(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, served: Served
) -> None:
    inv, link = _paid_on_clover(ctx, merchant, sandbox, served)
    (row,) = wait_rows(ctx, 1)
    assert row.verified
    assert row.status == "received"  # nothing happens at receipt
    assert _payments(ctx) == []
    outcomes = drain(ctx)
    assert len(outcomes) == 1
    assert outcomes[0].startswith("recorded payment")
    (payment,) = _payments(ctx)
    assert payment.amount == inv.total
    assert invoice_row(ctx, inv.id).status == "paid"
    assert _count(ctx, "charge_attempt.recorded") == 1
    assert _count(ctx, "webhook.processed") == 1
    # the payer's return page now says paid, and records nothing more
    back = httpx.get(link, follow_redirects=False)
    assert back.status_code == 200
    assert len(_payments(ctx)) == 1
    assert_invariants(ctx, sandbox)


def test_forged_and_stale_checkout_webhooks_change_nothing_unless_clover_confirms(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    served: Served,
    capture: Capture,
) -> None:
    """Scenario 7."""
    use_hosted_checkout(ctx, merchant)
    secret = point_checkout_webhooks(ctx, sandbox, merchant, capture.url)
    receiver = checkout_receiver(served.base_url, merchant)
    paid_inv, unpaid_inv = open_test_invoice(ctx, merchant), open_test_invoice(ctx, merchant)
    _, paid_checkout = open_checkout(ctx, served, sandbox, paid_inv)
    _, unpaid_checkout = open_checkout(ctx, served, sandbox, unpaid_inv)
    unpaid_session = unpaid_checkout.rsplit("/", 1)[1]
    assert pay_on_clover(sandbox, unpaid_checkout, DECLINE) in (200, 303, 400)
    assert pay_on_clover(sandbox, paid_checkout) in (200, 303)
    declined, approved = (json.loads(h.body) for h in capture.wait_for(2))
    assert declined["status"] == "DECLINED"
    # a token charge of another invoice: real, succeeded, but not any session's
    other = open_test_invoice(ctx, merchant)
    pay_invoice(ctx, merchant.id, other.id, token=make_token(sandbox), actor="t")
    other_charge = _payments(ctx)[0].clover_charge_id
    mid = merchant.clover_merchant_id
    stale = int(ctx.now().timestamp()) - 3600

    def forged(payment_id: str, session: str, *, signing: str, t: int | None = None) -> None:
        body, headers = build_checkout_webhook(
            secret=signing,
            payment_id=payment_id,
            merchant_id=mid,
            checkout_session_id=session,
            timestamp=t,
        )
        assert _post(receiver, body, headers).json()["verified"] is False

    forged("FAKECHARGE001", unpaid_session, signing="not-the-secret-0123456789")
    forged(other_charge, unpaid_session, signing="not-the-secret-0123456789")
    forged(declined["id"], unpaid_session, signing=secret, t=stale)
    outcomes = drain(ctx)
    assert len(outcomes) == 3
    assert all("not confirmed" in o or "is failed" in o for o in outcomes), outcomes
    assert invoice_row(ctx, unpaid_inv.id).status == "open"
    assert len(_payments(ctx)) == 1  # the token payment only
    # a stale copy of the genuine approval: unverified, but Clover confirms it
    forged(approved["id"], approved["data"], signing=secret, t=stale)
    (outcome,) = drain(ctx)
    assert outcome.startswith("recorded payment"), outcome
    assert invoice_row(ctx, paid_inv.id).status == "paid"
    assert len(_payments(ctx)) == 2
    assert_invariants(ctx, sandbox)


def test_amount_mismatch_is_an_alert_for_a_person_not_an_update(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    served: Served,
    capture: Capture,
) -> None:
    receiver = checkout_receiver(served.base_url, merchant)
    inv, _ = _paid_on_clover(ctx, merchant, sandbox, served, webhooks_to=capture.url)
    (hook,) = capture.wait_for(1)
    # meanwhile part of the invoice was paid another way: the session's amount is stale
    pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), amount=500, actor="t")
    for _ in range(2):
        _post(receiver, hook.body, hook.headers)
        drain(ctx)
    _post(receiver, hook.body, {"Clover-Signature": "t=1,v1=00"})  # an unverified copy
    outcomes = drain(ctx)
    assert len(outcomes) == 1
    assert "needs attention" in outcomes[0]
    assert len(_payments(ctx)) == 1
    assert invoice_row(ctx, inv.id).status == "partially_paid"
    assert _count(ctx, "charge.needs_attention") == 1
    with ctx.sessions() as s:
        alerts = s.scalars(select(OutboxEvent).where(OutboxEvent.channel == "alert")).all()
    assert len(alerts) == 1
    assert "not the" in json.loads(alerts[0].payload_json)["problem"]


def _app_hook(ctx: ServiceContext, merchant: Merchant, charge_id: str) -> tuple[bytes, dict]:
    event = AppEvent(merchant.clover_merchant_id, "P", charge_id, AppEventType.CREATE, 1)
    code = "app-auth-code-0123456789"
    from pydantic import SecretStr

    ctx.settings.clover_app_auth_code = SecretStr(code)
    return build_app_webhook(app_id="APP", auth_code=code, events=[event])


def test_app_payment_webhook_settles_an_unknown_attempt_once(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, served: Served
) -> None:
    inv, attempt, charge_id = _unknown_charge(ctx, merchant, sandbox)
    assert attempt.state == "unknown"
    body, headers = _app_hook(ctx, merchant, charge_id)
    for _ in range(3):
        _post(f"{served.base_url}/webhooks/clover/app", body, headers)
    outcomes = drain(ctx)
    assert len(outcomes) == 1
    assert outcomes[0].startswith("settled attempt"), outcomes
    with ctx.sessions() as s:
        assert s.get_one(PaymentAttempt, attempt.id).state == "succeeded"
    assert invoice_row(ctx, inv.id).status == "paid"
    assert len(_payments(ctx)) == 1
    assert_invariants(ctx, sandbox)


def test_sweeper_requeues_a_dead_workers_row_and_a_lost_lease_commits_nothing(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, served: Served, clock: Clock
) -> None:
    _, _, charge_id = _unknown_charge(ctx, merchant, sandbox)
    _post(f"{served.base_url}/webhooks/clover/app", *_app_hook(ctx, merchant, charge_id))
    (dead,) = claim_inbox(ctx)  # this worker "dies" here
    assert process_inbox_once(ctx).processed == 0  # leased: nobody else takes it
    clock.advance(LEASE_S + 1)
    (late,) = claim_inbox(ctx) or [None]  # not claimable before the sweep
    assert late is None
    report = process_inbox_once(ctx)
    assert report.requeued == 1
    assert report.processed == 1
    # the first worker wakes up: its lease is gone, it commits nothing
    assert process_mod.process_claim(ctx, dead) == "lost_lease"
    assert len(_payments(ctx)) == 1
    assert _count(ctx, "webhook.processed") == 1
    assert_invariants(ctx, sandbox)


def test_failure_before_the_processed_mark_loses_nothing_and_applies_once(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    served: Served,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inv, _ = _paid_on_clover(ctx, merchant, sandbox, served)
    wait_rows(ctx, 1)

    def boom(name: str) -> None:
        if name == "webhook_before_processed_commit":
            raise RuntimeError("power cut")

    monkeypatch.setattr(process_mod, "crash_point", boom)
    report = process_inbox_once(ctx)
    assert report.retried == 1
    assert _payments(ctx) == []  # the effect rolled back with the mark
    (row,) = inbox_rows(ctx)
    assert row.status == "received"
    assert "power cut" in (row.last_error or "")
    monkeypatch.undo()
    assert process_inbox_once(ctx).processed == 0  # backing off
    clock.advance(60)
    assert process_inbox_once(ctx).processed == 1
    assert len(_payments(ctx)) == 1
    assert invoice_row(ctx, inv.id).status == "paid"
    assert_invariants(ctx, sandbox)


def test_clover_unreachable_retries_with_backoff_then_alerts(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    served: Served,
    clock: Clock,
) -> None:
    _paid_on_clover(ctx, merchant, sandbox, served)
    wait_rows(ctx, 1)
    sandbox.state.faults.arm("status", method="GET", path="/v1/charges/*", status=503, count=1000)
    for _ in range(MAX_ATTEMPTS):
        report = process_inbox_once(ctx)
        assert report.processed == 0
        clock.advance(3601)
    (row,) = inbox_rows(ctx)
    assert row.status == "failed"
    assert row.attempts == MAX_ATTEMPTS
    assert _count(ctx, "webhook.needs_attention") == 1
    assert _payments(ctx) == []
    sandbox.state.faults.clear()
    assert_invariants(ctx, sandbox)


def test_invariants_catch_an_unrecorded_checkout_charge_and_a_double_processing(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    served: Served,
    capture: Capture,
) -> None:
    from cloverpay.service.invariants import check_invariants
    from cloverpay.service.services.records import add_audit

    from ..conftest import clover_charges

    _paid_on_clover(ctx, merchant, sandbox, served, webhooks_to=capture.url)  # never reaches us
    (hook,) = capture.wait_for(1)
    with ctx.sessions() as s:
        problems = check_invariants(s, clover_charges=clover_charges(sandbox), now=ctx.now())
    assert any("succeeded but not recorded" in p for p in problems), problems
    _post(checkout_receiver(served.base_url, merchant), hook.body, hook.headers)
    drain(ctx)
    assert_invariants(ctx, sandbox)
    (row,) = inbox_rows(ctx)
    with ctx.sessions.begin() as s:  # what a second processing would leave behind
        add_audit(
            s,
            merchant_id=merchant.id,
            actor="t",
            action="webhook.processed",
            entity_type="webhook_inbox",
            entity_id=str(row.id),
        )
    with ctx.sessions() as s:
        problems = check_invariants(s)
    assert problems == [f"webhook inbox row {row.id} processed 2 times"] or (
        f"webhook inbox row {row.id} processed 2 times" in problems
    )
