"""A refund of a terminal payment asked for through Clover's REST API at once (``via``
``rest``: the device away or broken, the customer not there), without the terminal:
the intent as for the terminal (same attempt, same reservation under the payment's
lock), its op born claimed for REST (``sending``, ``via='rest'``, never ``queued``) in
the same transaction, then the fallback's one send and settle. A live terminal owner
never sends it; Clover refusing it fails it with nothing moved; a lost answer is looked
up by the reconciler, never sent again; ``Idempotency-Key`` replays; voids stay
device-only. The API, the dashboard and the service functions, over real sockets to
the emulated terminal, on SQLite and PostgreSQL; every test ends with the invariant
checker (v3 payments included)."""

# ruff: noqa: F811  (the fixtures of terminal_helpers are imported by name)
from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from cloverpay.sandbox import Sandbox
from cloverpay.sandbox._faults import FaultRule
from cloverpay.service.api import create_app
from cloverpay.service.db import Merchant, Payment, PaymentAttempt, Refund, Terminal
from cloverpay.service.errors import ServiceError
from cloverpay.service.services import Reconciler, ServiceContext
from cloverpay.service.services.terminal_ops import (
    claim_op,
    orphaned_ops,
    queued_ops,
    refund_via_rest_now,
    request_terminal_refund,
)
from cloverpay.service.services.terminal_queue import MAX_SALE_S
from cloverpay.service.services.terminal_refund_rest import claim_for_rest, refund_via_rest
from cloverpay.service.terminal_runtime import TerminalRuntime

from .conftest import Clock, invoice_row, make_token, open_test_invoice
from .terminal_helpers import (  # noqa: F401  (fixtures)
    assert_books,
    attempt_row,
    audit_count,
    clover_refunds,
    device_refunds,
    error,
    op_row,
    paid_on_terminal,
    runtime,
    terminal,
    terminal_server,
)
from .web.conftest import staff  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(180)

#: the longest wait for a terminal's answer the API accepts (``wait_s``)
LONG_WAIT = {"wait_s": 60}


def refund_amounts(ctx: ServiceContext, payment: Payment) -> list[int]:
    with ctx.sessions() as s:
        return sorted(s.scalars(select(Refund.amount).where(Refund.payment_id == payment.id)))


def attempt_count(ctx: ServiceContext) -> int:
    with ctx.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(PaymentAttempt)) or 0)


def tripwire(sandbox: Sandbox) -> FaultRule:
    """A fault on the next ``POST /v1/refunds``: still armed later = nothing sent one."""
    return sandbox.state.faults.arm("status", method="POST", path="/v1/refunds", status=503)


def still_armed(sandbox: Sandbox, rule: FaultRule) -> bool:
    return any(r.id == rule.id for r in sandbox.state.faults.list())


def rest_refund(api: TestClient, payment_id: str, **body: Any) -> httpx.Response:
    return api.post(f"/v1/payments/{payment_id}/refunds", json={"via": "rest", **body})


# -- the API --------------------------------------------------------------------------------


def test_rest_refund_on_request_with_a_live_owner_never_reaches_the_device(
    api: TestClient,
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
) -> None:
    payment = paid_on_terminal(ctx, merchant, terminal, runtime)
    assert runtime.is_ready(terminal.id)  # its owner is live and polling its queue
    answered = rest_refund(api, payment.id, amount=700, reason="requested_by_customer")
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert (body["kind"], body["state"], body["amount"]) == ("refund", "succeeded", 700)
    assert body["invoice"]["status"] == "paid"  # refunds never change an invoice's status
    assert body["invoice"]["amount_refunded"] == 700
    refund_id = body["id"]
    done = attempt_row(ctx, refund_id)
    assert done.source_kind == "terminal"
    op = op_row(ctx, refund_id)
    assert (op.stage, op.via) == ("done", "rest")
    assert (op.claimed_by or "").startswith("api_key:")  # the request sent it, no owner
    assert clover_refunds(sandbox, payment) == [(done.clover_refund_id, 700)]
    assert refund_amounts(ctx, payment) == [700]
    assert audit_count(ctx, refund_id, "terminal_refund.sent") == 1
    assert api.get(f"/v1/payments/{payment.id}").json()["amount_refunded"] == 700

    # the owner's queue never had it, nobody can claim or adopt it
    assert queued_ops(ctx, terminal.id) == []
    assert not claim_op(ctx, refund_id, runtime.owner)
    assert not claim_for_rest(ctx, refund_id, "reconciler")
    assert refund_via_rest(ctx, refund_id, actor="late") is None
    assert orphaned_ops(ctx, terminal.id, "proc-B") == []
    # the owner keeps working: a refund on the terminal is the device's only one
    on_device = api.post(
        f"/v1/payments/{payment.id}/refunds", params=LONG_WAIT, json={"amount": 300}
    )
    assert on_device.status_code == 200, on_device.text
    assert op_row(ctx, on_device.json()["id"]).via == "device"
    assert device_refunds(sandbox) == 1
    assert sorted(a for _, a in clover_refunds(sandbox, payment)) == [300, 700]
    assert refund_amounts(ctx, payment) == [300, 700]
    assert invoice_row(ctx, payment.invoice_id or "").status == "paid"
    assert_books(ctx, sandbox)


def test_idempotency_key_replays_the_answer_and_refunds_once(
    api: TestClient,
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
) -> None:
    payment = paid_on_terminal(ctx, merchant, terminal, runtime)
    key = {"Idempotency-Key": "rest-refund-1"}
    url = f"/v1/payments/{payment.id}/refunds"
    first = api.post(url, json={"amount": 400, "via": "rest"}, headers=key)
    assert first.status_code == 200, first.text
    sentinel = tripwire(sandbox)
    again = api.post(url, json={"amount": 400, "via": "rest"}, headers=key)
    assert again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    assert still_armed(sandbox, sentinel)  # the replay sent nothing
    sandbox.state.faults.clear()
    other = error(api.post(url, json={"amount": 400, "via": "terminal"}, headers=key), 409)
    assert (other["code"], other["field"]) == ("idempotency_key_reused", "Idempotency-Key")
    assert [a for _, a in clover_refunds(sandbox, payment)] == [400]
    assert refund_amounts(ctx, payment) == [400]
    assert audit_count(ctx, first.json()["id"], "terminal_refund.sent") == 1
    assert device_refunds(sandbox) == 0
    assert_books(ctx, sandbox)


def test_clover_refusing_fails_it_nothing_moved_and_the_amount_is_released(
    api: TestClient,
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    payment = paid_on_terminal(ctx, merchant, terminal, runtime)
    # a Clover account that does not refund card-present payments through REST
    sandbox.state.config.refunds_of_terminal_payments = False
    refused = error(rest_refund(api, payment.id), 402)
    attempt = refused["attempt"]
    assert attempt["state"] == "failed"
    assert attempt["amount"] == payment.amount
    assert refused["code"] == "resource_missing"
    assert refused["message"]
    assert refused["message"] == attempt["failure_message"]
    assert op_row(ctx, attempt["id"]).stage == "done"
    assert clover_refunds(sandbox, payment) == []
    assert refund_amounts(ctx, payment) == []
    assert_books(ctx, sandbox)

    # the amount it reserved is free again; the automatic fallback's switch does not
    # govern an explicit request (the staff's own choice)
    sandbox.state.config.refunds_of_terminal_payments = True
    monkeypatch.setattr(ctx.settings, "terminal_refund_via_rest", False)
    whole = rest_refund(api, payment.id)
    assert whole.status_code == 200, whole.text
    assert whole.json()["amount"] == payment.amount
    assert [a for _, a in clover_refunds(sandbox, payment)] == [payment.amount]
    gone = error(rest_refund(api, payment.id, amount=1), 409)
    assert gone["code"] == "charge_already_refunded"
    assert device_refunds(sandbox) == 0
    assert_books(ctx, sandbox)


def test_lost_answer_is_unknown_then_looked_up_once_never_resent(
    api: TestClient,
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
    clock: Clock,
) -> None:
    payment = paid_on_terminal(ctx, merchant, terminal, runtime)
    # Clover refunds it and the answer is lost on the way back
    sandbox.state.faults.arm("commit_then_drop", method="POST", path="/v1/refunds", count=1)
    lost = rest_refund(api, payment.id, amount=600)
    assert lost.status_code == 202, lost.text
    assert lost.json()["state"] == "unknown"
    refund_id = lost.json()["id"]
    assert op_row(ctx, refund_id).stage == "unknown"
    assert [a for _, a in clover_refunds(sandbox, payment)] == [600]
    assert refund_amounts(ctx, payment) == []
    # more refunds wait for it, on the terminal or not
    for via in ("rest", "terminal"):
        held = error(api.post(f"/v1/payments/{payment.id}/refunds", json={"via": via}), 409)
        assert held["code"] == "attempt_unresolved"
    assert_books(ctx, sandbox)

    sentinel = tripwire(sandbox)
    clock.advance(ctx.settings.reconciler_steps_s[0] + 1)
    report = Reconciler(ctx).run_once()
    assert report.resolved == {refund_id: "succeeded"}
    assert still_armed(sandbox, sentinel)  # looked up, never sent again
    sandbox.state.faults.clear()
    done = attempt_row(ctx, refund_id)
    assert clover_refunds(sandbox, payment) == [(done.clover_refund_id, 600)]
    assert refund_amounts(ctx, payment) == [600]
    assert audit_count(ctx, refund_id, "terminal_refund.sent") == 1
    assert op_row(ctx, refund_id).stage == "done"
    assert api.get(f"/v1/attempts/{refund_id}").json()["state"] == "succeeded"
    assert device_refunds(sandbox) == 0
    assert_books(ctx, sandbox)


def test_partial_rest_refunds_never_exceed_the_captured_amount(
    api: TestClient,
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
) -> None:
    payment = paid_on_terminal(ctx, merchant, terminal, runtime)
    assert rest_refund(api, payment.id, amount=500).status_code == 200
    assert rest_refund(api, payment.id, amount=1000).status_code == 200
    left = payment.amount - 1500
    sentinel = tripwire(sandbox)
    too_much = error(rest_refund(api, payment.id, amount=left + 1), 400)
    assert (too_much["code"], too_much["field"]) == ("amount_too_large", "amount")
    assert still_armed(sandbox, sentinel)  # refused before anything was sent
    sandbox.state.faults.clear()
    rest = rest_refund(api, payment.id)  # what is left
    assert (rest.status_code, rest.json()["amount"]) == (200, left)
    assert error(rest_refund(api, payment.id, amount=1), 409)["code"] == "charge_already_refunded"
    assert sum(a for _, a in clover_refunds(sandbox, payment)) == payment.amount
    assert refund_amounts(ctx, payment) == sorted([500, 1000, left])
    assert device_refunds(sandbox) == 0
    assert_books(ctx, sandbox)


def test_concurrent_rest_refunds_reserve_their_amount(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
) -> None:
    payment = paid_on_terminal(ctx, merchant, terminal, runtime)
    share = payment.amount * 2 // 5  # three of these are more than the payment
    results: list[object] = []
    barrier = threading.Barrier(3)

    def refund() -> None:
        barrier.wait()
        try:
            results.append(
                refund_via_rest_now(ctx, merchant.id, payment.id, amount=share, actor="staff")
            )
        except ServiceError as exc:
            results.append(exc)

    threads = [threading.Thread(target=refund) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = [r for r in results if isinstance(r, PaymentAttempt)]
    refused = [r for r in results if isinstance(r, ServiceError)]
    assert sorted(a.state for a in done) == ["succeeded", "succeeded"]
    assert [r.code for r in refused] == ["amount_too_large"]
    assert [a for _, a in clover_refunds(sandbox, payment)] == [share, share]
    assert refund_amounts(ctx, payment) == [share, share]
    assert_books(ctx, sandbox)


def test_via_errors_name_the_field_and_write_nothing(
    api: TestClient,
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
) -> None:
    payment = paid_on_terminal(ctx, merchant, terminal, runtime)
    before = attempt_count(ctx)
    # voids are device-only
    void = error(api.post(f"/v1/payments/{payment.id}/void", json={"via": "rest"}), 400)
    assert (void["field"], void["code"]) == ("via", "void_needs_terminal")
    assert "terminal" in void["message"]
    # a value that is neither
    for url in (f"/v1/payments/{payment.id}/refunds", f"/v1/payments/{payment.id}/void"):
        bad = error(api.post(url, json={"via": "device"}), 422)
        assert bad["field"] == "via"
    missing = error(rest_refund(api, "nope"), 404)
    assert missing["field"] == "payment_id"
    missing = error(api.post("/v1/payments/nope/refunds", json={"via": "terminal"}), 404)
    assert missing["field"] == "payment_id"
    assert attempt_count(ctx) == before
    assert payment.id in {p["id"] for p in api.get("/v1/payments").json() if p["voided_at"] is None}
    schema = api.get("/openapi.json").json()["components"]["schemas"]
    assert set(schema["RefundIn"]["properties"]["via"]["anyOf"][0]["enum"]) == {"terminal", "rest"}
    assert clover_refunds(sandbox, payment) == []
    # a payment taken online: only REST reaches it
    invoice = open_test_invoice(ctx, merchant)
    paid = api.post(f"/v1/invoices/{invoice.id}/pay", json={"token": make_token(sandbox)})
    assert paid.status_code == 200, paid.text
    online = paid.json()["payment"]["id"]
    for url in (f"/v1/payments/{online}/refunds", f"/v1/payments/{online}/void"):
        wrong = error(api.post(url, json={"via": "terminal"}), 409)
        assert (wrong["code"], wrong["field"]) == ("not_a_terminal_payment", "via")
    assert attempt_count(ctx) == before + 1  # the online charge only
    refunded = rest_refund(api, online, amount=100)
    assert refunded.status_code == 200, refunded.text
    assert attempt_row(ctx, refunded.json()["id"]).source_kind != "terminal"
    assert_books(ctx, sandbox)


# -- the service ----------------------------------------------------------------------------


def test_a_sender_that_died_after_the_commit_is_looked_up_never_resent(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
    clock: Clock,
) -> None:
    """The request committed its intent (born claimed for REST) and died before it sent
    anything: the live owner never takes it; the reconciler waits MAX_SALE_S for the
    sender, then looks it up (nothing at Clover: not refunded) and the amount is free."""
    payment = paid_on_terminal(ctx, merchant, terminal, runtime)
    refund = request_terminal_refund(
        ctx, merchant.id, payment.id, amount=800, actor="dead-request", via="rest"
    )
    op = op_row(ctx, refund.id)
    assert (op.stage, op.via, op.claimed_by) == ("sending", "rest", "dead-request")
    assert audit_count(ctx, refund.id, "terminal_refund.sent") == 1
    runtime.poke()
    assert not claim_op(ctx, refund.id, runtime.owner)
    sentinel = tripwire(sandbox)
    Reconciler(ctx).run_once()  # not due: the sender may still be waiting for Clover
    assert attempt_row(ctx, refund.id).state == "pending"
    clock.advance(MAX_SALE_S + 1)
    report = Reconciler(ctx).run_once()
    assert report.resolved == {refund.id: "failed"}
    assert attempt_row(ctx, refund.id).failure_code == "lookup_no_refund"
    assert still_armed(sandbox, sentinel)
    sandbox.state.faults.clear()
    assert op_row(ctx, refund.id).claimed_by == "dead-request"
    assert clover_refunds(sandbox, payment) == []
    assert device_refunds(sandbox) == 0
    again = refund_via_rest_now(ctx, merchant.id, payment.id, actor="staff")
    assert (again.state, again.amount) == ("succeeded", payment.amount)
    assert_books(ctx, sandbox)


def test_a_disabled_terminal_refunds_through_rest_only(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
) -> None:
    payment = paid_on_terminal(ctx, merchant, terminal, runtime)
    with ctx.sessions.begin() as s:
        s.execute(update(Terminal).where(Terminal.id == terminal.id).values(status="disabled"))
    with pytest.raises(ServiceError) as refused:
        request_terminal_refund(ctx, merchant.id, payment.id, amount=100, actor="staff")
    assert (refused.value.code, refused.value.field) == ("terminal_unavailable", "payment_id")
    with pytest.raises(ServiceError) as bad:
        request_terminal_refund(
            ctx,
            merchant.id,
            payment.id,
            actor="staff",
            via="device",  # type: ignore[arg-type]
        )
    assert bad.value.field == "via"
    done = refund_via_rest_now(ctx, merchant.id, payment.id, amount=100, actor="staff")
    assert done.state == "succeeded", done.failure_message
    assert [a for _, a in clover_refunds(sandbox, payment)] == [100]
    assert device_refunds(sandbox) == 0
    assert_books(ctx, sandbox)


# -- the dashboard --------------------------------------------------------------------------


def test_dashboard_refund_without_the_terminal(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal: Terminal,
    runtime: TerminalRuntime,
    staff: str,
) -> None:
    from .web.conftest import login

    payment = paid_on_terminal(ctx, merchant, terminal, runtime)
    label = "Refund without the terminal (through Clover)"
    with TestClient(create_app(context=ctx), follow_redirects=False) as client:
        csrf = login(client)
        for where in ("/dashboard/payments", f"/dashboard/invoices/{payment.invoice_id}"):
            page = client.get(where).text
            assert label in page, where
            assert 'name="via" value="rest"' in page
            assert "Refund on the terminal" in page
        url = f"/dashboard/payments/{payment.id}/refund"
        r = client.post(url, data={"csrf_token": csrf, "amount": "5.00", "via": "rest"})
        assert r.status_code == 303
        shown = client.get(r.headers["location"]).text
        assert "Refunded $5.00 through Clover, without the terminal." in shown
        # Clover refusing: shown as a refusal with its message, nothing moved
        sandbox.state.config.refunds_of_terminal_payments = False
        r = client.post(url, data={"csrf_token": csrf, "amount": "1.00", "via": "rest"})
        assert "Clover refused the refund" in client.get(r.headers["location"]).text
        sandbox.state.config.refunds_of_terminal_payments = True
        r = client.post(url, data={"csrf_token": csrf, "amount": "1.00", "via": "nope"})
        assert "via must be" in client.get(r.headers["location"]).text
    assert [a for _, a in clover_refunds(sandbox, payment)] == [500]
    assert refund_amounts(ctx, payment) == [500]
    assert device_refunds(sandbox) == 0
    assert_books(ctx, sandbox)
