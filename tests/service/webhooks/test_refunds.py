"""App webhooks about refunds (the sandbox's real deliveries, thin ``P:`` payloads): a
refund of ours whose answer was lost is settled from Clover's word, once, whatever the
request path and the reconciler do; a refund made outside the service is recorded
"from Clover" when it fits, else alerted; redeliveries change nothing."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from cloverpay.api import AppEvent, AppEventType, build_app_webhook
from cloverpay.sandbox import Sandbox
from cloverpay.service.db import AuditLog, Merchant, OutboxEvent, Payment, PaymentAttempt, Refund
from cloverpay.service.services import Reconciler, ServiceContext
from cloverpay.service.services.payments import pay_invoice
from cloverpay.service.services.refunds import refund_payment
from cloverpay.service.webhooks import (
    RECORDED_FROM_CLOVER,
    RefundFact,
    SyncRefunds,
    apply_refunds,
)
from cloverpay.service.webhooks import _effects as effects_mod

from ..conftest import Clock, assert_invariants, clover, make_token, open_test_invoice
from .conftest import Served, control, drain, inbox_rows


def connect_app_webhooks(ctx: ServiceContext, sandbox: Sandbox, served: Served) -> None:
    """The handshake as a person does it: Clover sends a code, it is pasted back."""
    from cloverpay.service.webhooks import latest_verification_code

    with control(sandbox) as c:
        assert c.post("/_sandbox/webhooks/settings", json={"batch_window": 0.0}).is_success
        r = c.post("/_sandbox/webhooks", json={"url": f"{served.base_url}/webhooks/clover/app"})
        assert r.status_code == 200, r.text
        shown = latest_verification_code(ctx)
        assert shown is not None
        r = c.post("/_sandbox/webhooks/verify", json={"verificationCode": shown.code})
        assert r.status_code == 200, r.text
    ctx.settings.clover_app_auth_code = SecretStr(r.json()["authCode"])


def _paid(ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox) -> Payment:
    inv = open_test_invoice(ctx, merchant)
    attempt = pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    assert attempt.state == "succeeded"
    with ctx.sessions() as s:
        return s.scalars(select(Payment).where(Payment.attempt_id == attempt.id)).one()


def _settle_webhooks(ctx: ServiceContext, sandbox: Sandbox) -> list[str]:
    """Wait until the sandbox delivered every event raised so far, then process the
    inbox (a delivery is answered after our commit, so its row is there)."""
    import time

    from cloverpay.sandbox.routes._web import dispatcher_for

    dispatcher = dispatcher_for(sandbox.state)
    deadline = time.monotonic() + 15
    with control(sandbox) as c:
        while time.monotonic() < deadline:
            items = c.get("/_sandbox/webhooks/deliveries").json()["deliveries"]
            idle = not dispatcher.store.pending_events and dispatcher._batch_due is None
            if idle and all(d["state"] != "pending" for d in items):
                break
            c.post("/_sandbox/webhooks/flush")
            time.sleep(0.05)
        else:
            raise AssertionError("the sandbox did not deliver its webhooks")
    return drain(ctx)


def _redeliver_all(sandbox: Sandbox, times: int = 2) -> None:
    with control(sandbox) as c:
        items = c.get("/_sandbox/webhooks/deliveries", params={"kind": "app"}).json()["deliveries"]
        for d in items:
            for _ in range(times):
                assert c.post(f"/_sandbox/webhooks/deliveries/{d['id']}/redeliver").is_success


def _post_app_hook(ctx: ServiceContext, served: Served, merchant: Merchant, pay_id: str) -> None:
    """A new notification about the payment (another body: a new inbox row)."""
    import time

    code = ctx.settings.clover_app_auth_code
    assert code is not None
    event = AppEvent(
        merchant.clover_merchant_id, "P", pay_id, AppEventType.UPDATE, time.time_ns() // 1000
    )
    body, headers = build_app_webhook(
        app_id="APP", auth_code=code.get_secret_value(), events=[event]
    )
    r = httpx.post(f"{served.base_url}/webhooks/clover/app", content=body, headers=headers)
    assert r.status_code == 200, r.text


def _count(ctx: ServiceContext, action: str) -> int:
    with ctx.sessions() as s:
        return int(s.scalar(select(func.count()).where(AuditLog.action == action)) or 0)


def _refunds(ctx: ServiceContext) -> list[Refund]:
    with ctx.sessions() as s:
        return list(s.scalars(select(Refund).order_by(Refund.created_at)).all())


def _refund_at_clover(sandbox: Sandbox, charge_id: str, amount: int) -> str:
    """A refund made in Clover's dashboard: straight at Clover, not through us."""
    with clover(sandbox) as c:
        refund = c.refunds.create(
            charge=charge_id, amount=amount, idempotency_key=str(uuid.uuid4())
        )
    return refund.id


def test_refund_made_in_clover_is_recorded_once_from_clover(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, served: Served
) -> None:
    connect_app_webhooks(ctx, sandbox, served)
    payment = _paid(ctx, merchant, sandbox)
    _settle_webhooks(ctx, sandbox)
    clover_refund = _refund_at_clover(sandbox, payment.clover_charge_id, 700)
    outcomes = _settle_webhooks(ctx, sandbox)
    assert any("recorded refund" in o and clover_refund in o for o in outcomes), outcomes
    _redeliver_all(sandbox, times=3)  # byte for byte: the inbox knows them already
    _post_app_hook(ctx, served, merchant, payment.clover_charge_id)  # a new notice
    _post_app_hook(ctx, served, merchant, payment.clover_charge_id)
    outcomes = _settle_webhooks(ctx, sandbox)
    assert sum("recorded already" in o for o in outcomes) == 2, outcomes
    assert not any("recorded refund" in o for o in outcomes), outcomes
    (refund,) = _refunds(ctx)
    assert (refund.clover_refund_id, refund.amount, refund.payment_id) == (
        clover_refund,
        700,
        payment.id,
    )
    assert refund.reason == RECORDED_FROM_CLOVER
    with ctx.sessions() as s:
        attempt = s.get_one(PaymentAttempt, refund.attempt_id)
        (audit,) = s.scalars(
            select(AuditLog).where(AuditLog.action == "refund_attempt.recorded")
        ).all()
        events = s.scalars(
            select(OutboxEvent.topic).where(OutboxEvent.topic == "payment.refunded")
        ).all()
    assert (attempt.kind, attempt.state, attempt.source_kind) == ("refund", "succeeded", "clover")
    assert audit.reason is not None
    assert RECORDED_FROM_CLOVER in audit.reason
    assert audit.entity_id == attempt.id
    assert len(events) == 1
    # our own refund afterwards knows what is left: 2160 - 700
    with pytest.raises(Exception, match="1460"):
        refund_payment(ctx, merchant.id, payment.id, amount=1461, actor="t")
    ours = refund_payment(ctx, merchant.id, payment.id, amount=1460, actor="t")
    assert ours.state == "succeeded"
    outcomes = _settle_webhooks(ctx, sandbox)
    assert any("recorded already" in o for o in outcomes), outcomes
    assert sum(r.amount for r in _refunds(ctx)) == 2160
    assert all(r.status == "processed" for r in inbox_rows(ctx))
    assert_invariants(ctx, sandbox)


def test_lost_refund_answer_settled_by_webhook_then_request_and_reconciler_change_nothing(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, served: Served, clock: Clock
) -> None:
    connect_app_webhooks(ctx, sandbox, served)
    payment = _paid(ctx, merchant, sandbox)
    _settle_webhooks(ctx, sandbox)
    sandbox.state.faults.arm("commit_then_drop", method="POST", path="/v1/refunds")
    attempt = refund_payment(ctx, merchant.id, payment.id, amount=500, actor="t")
    assert attempt.state == "unknown"
    outcomes = _settle_webhooks(ctx, sandbox)
    assert any(o.startswith(f"settled refund attempt {attempt.id}") for o in outcomes), outcomes
    with ctx.sessions() as s:
        row = s.get_one(PaymentAttempt, attempt.id)
    assert row.state == "succeeded"
    assert row.clover_refund_id is not None
    # the reconciler comes by: Clover replays the same key; nothing changes
    clock.advance(3600)
    report = Reconciler(ctx).run_once()
    assert attempt.id not in report.checked
    from cloverpay.service.services.clover_calls import CallOutcome
    from cloverpay.service.services.refunds import settle_refund

    # the request path's late settle (with Clover's answer) is a no-op too
    again = settle_refund(
        ctx, attempt.id, CallOutcome("succeeded", clover_id=row.clover_refund_id), actor="t"
    )
    assert again.state == "succeeded"
    _post_app_hook(ctx, served, merchant, payment.clover_charge_id)
    assert any("recorded already" in o for o in _settle_webhooks(ctx, sandbox))
    (refund,) = _refunds(ctx)
    assert refund.attempt_id == attempt.id
    assert refund.reason != RECORDED_FROM_CLOVER
    assert _count(ctx, "refund_attempt.succeeded") == 1  # one audit transition
    assert _count(ctx, "refund_attempt.unknown") == 1
    assert _count(ctx, "refund_attempt.recorded") == 0
    assert_invariants(ctx, sandbox)


def test_reconciler_first_then_webhook_changes_nothing(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, served: Served, clock: Clock
) -> None:
    connect_app_webhooks(ctx, sandbox, served)
    payment = _paid(ctx, merchant, sandbox)
    _settle_webhooks(ctx, sandbox)
    sandbox.state.faults.arm("commit_then_drop", method="POST", path="/v1/refunds")
    attempt = refund_payment(ctx, merchant.id, payment.id, amount=500, actor="t")
    assert attempt.state == "unknown"
    clock.advance(120)
    assert Reconciler(ctx).run_once().resolved == {attempt.id: "succeeded"}
    outcomes = _settle_webhooks(ctx, sandbox)
    assert any("recorded already" in o for o in outcomes), outcomes
    (refund,) = _refunds(ctx)
    assert refund.attempt_id == attempt.id
    assert _count(ctx, "refund_attempt.succeeded") == 1
    assert_invariants(ctx, sandbox)


def test_refund_from_clover_waits_while_ours_is_unresolved_then_is_recorded(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, served: Served, clock: Clock
) -> None:
    connect_app_webhooks(ctx, sandbox, served)
    payment = _paid(ctx, merchant, sandbox)  # 2160
    _settle_webhooks(ctx, sandbox)
    # ours never reached Clover (dropped before commit): unknown, 1500 reserved
    sandbox.state.faults.arm("drop_before_commit", method="POST", path="/v1/refunds")
    ours = refund_payment(ctx, merchant.id, payment.id, amount=1500, actor="t")
    assert ours.state == "unknown"
    # meanwhile someone refunds 1000 in Clover's dashboard: it fits only if ours failed
    external = _refund_at_clover(sandbox, payment.clover_charge_id, 1000)
    _settle_webhooks(ctx, sandbox)
    assert _refunds(ctx) == []
    (row,) = [r for r in inbox_rows(ctx) if r.status != "processed"]
    assert row.status == "received"
    assert "waiting" in (row.last_error or "")
    # the reconciler resends ours with its key: Clover refuses (1500 > 1160 left), the
    # lookup finds no such refund: failed, on Clover's word
    clock.advance(120)
    assert Reconciler(ctx).run_once().resolved == {ours.id: "failed"}
    clock.advance(600)
    outcomes = drain(ctx)
    assert any("recorded refund" in o and external in o for o in outcomes), outcomes
    (refund,) = _refunds(ctx)
    assert (refund.clover_refund_id, refund.amount) == (external, 1000)
    assert_invariants(ctx, sandbox)


def test_refund_above_what_is_left_is_an_alert_for_a_person(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    served: Served,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connect_app_webhooks(ctx, sandbox, served)
    payment = _paid(ctx, merchant, sandbox)
    _settle_webhooks(ctx, sandbox)
    ours = refund_payment(ctx, merchant.id, payment.id, amount=2000, actor="t")
    assert ours.state == "succeeded"
    _settle_webhooks(ctx, sandbox)
    # Clover reports a refund our books cannot hold (160 left): e.g. a payment whose
    # amount Clover and we disagree on. Clover's own checks make this hard to stage at
    # the sandbox, so its answer is replaced here.
    real = effects_mod.plan_refunds

    def more(*args: object, **kwargs: object) -> SyncRefunds | None:
        return SyncRefunds(merchant.id, payment.id, (RefundFact("EXTRA0REFUND1", 300),))

    monkeypatch.setattr(effects_mod, "plan_refunds", more)
    for _ in range(3):
        _post_app_hook(ctx, served, merchant, payment.clover_charge_id)
    outcomes = _settle_webhooks(ctx, sandbox)
    assert any("needs attention" in o and "160 left" in o for o in outcomes), outcomes
    monkeypatch.setattr(effects_mod, "plan_refunds", real)
    assert len(_refunds(ctx)) == 1
    assert _count(ctx, "refund.needs_attention") == 1  # once, however often reported
    with ctx.sessions() as s:
        alerts = s.scalars(select(OutboxEvent).where(OutboxEvent.channel == "alert")).all()
    assert [a.topic for a in alerts] == ["refund.needs_attention"]
    assert_invariants(ctx, sandbox)


def test_apply_refunds_is_idempotent_inside_one_transaction(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    payment = _paid(ctx, merchant, sandbox)
    rid = _refund_at_clover(sandbox, payment.clover_charge_id, 300)
    effect = SyncRefunds(merchant.id, payment.id, (RefundFact(rid, 300, "succeeded"),) * 2)
    with ctx.sessions.begin() as s:
        what = apply_refunds(s, effect, actor="t", now=ctx.now())
    assert what.count("recorded refund") == 1
    assert "recorded already" in what
    with ctx.sessions.begin() as s:
        assert "recorded already" in apply_refunds(s, effect, actor="t", now=ctx.now())
    assert len(_refunds(ctx)) == 1
    assert_invariants(ctx, sandbox)


def test_unverified_app_webhook_still_only_applies_what_clover_says(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, served: Served
) -> None:
    payment = _paid(ctx, merchant, sandbox)
    body = json.dumps(
        {
            "appId": "X",
            "merchants": {
                merchant.clover_merchant_id: [
                    {"objectId": f"P:{payment.clover_charge_id}", "type": "UPDATE", "ts": 1}
                ]
            },
        }
    ).encode()
    r = httpx.post(f"{served.base_url}/webhooks/clover/app", content=body)
    assert r.status_code == 202  # no auth code: stored unverified
    assert drain(ctx) == [f"payment {payment.clover_charge_id} recorded already; no new refund"]
    assert _refunds(ctx) == []
    assert_invariants(ctx, sandbox)


def test_refunds_racing_the_worker_settle_once_each(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, served: Served
) -> None:
    """Our refunds while the inbox worker runs flat out on the sandbox's notices: each
    attempt is settled once (by the request or by the webhook, whichever is first), no
    refund of ours is taken for one made outside, no deadlock between the two paths."""
    import threading

    from cloverpay.service.webhooks import run_inbox_worker

    connect_app_webhooks(ctx, sandbox, served)
    payment = _paid(ctx, merchant, sandbox)
    stop = threading.Event()
    worker = threading.Thread(
        target=run_inbox_worker, args=(ctx, stop), kwargs={"interval_s": 0.005}, daemon=True
    )
    worker.start()
    try:
        attempts = [
            refund_payment(ctx, merchant.id, payment.id, amount=200, actor="t") for _ in range(8)
        ]
    finally:
        stop.set()
        worker.join(10)
    assert [a.state for a in attempts] == ["succeeded"] * 8
    _settle_webhooks(ctx, sandbox)
    refunds = _refunds(ctx)
    assert sorted(r.attempt_id for r in refunds) == sorted(a.id for a in attempts)
    assert _count(ctx, "refund_attempt.succeeded") == 8
    assert _count(ctx, "refund_attempt.recorded") == 0
    rows = inbox_rows(ctx)
    assert all(r.status == "processed" for r in rows)
    assert [r.attempts for r in rows] == [1] * len(rows)  # no try lost to a race
    assert_invariants(ctx, sandbox)
