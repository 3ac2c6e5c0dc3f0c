"""Our refunds carry our attempt id in ``metadata``; a Clover refund is matched to ours
by it first. Two equal refunds at once, ours in flight and one made in Clover's
dashboard, whose webhook comes first: each ends on its own attempt, the books right."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from cloverpay.sandbox import Sandbox
from cloverpay.service.db import Merchant, Payment, PaymentAttempt
from cloverpay.service.services import Reconciler, ServiceContext
from cloverpay.service.services.clover_calls import lookup_refund, send_refund
from cloverpay.service.services.preauth import void_payment
from cloverpay.service.services.refund_refs import REFERENCE_KEY
from cloverpay.service.services.refunds import (
    create_refund_intent,
    refund_payment,
    settle_refund,
)
from cloverpay.service.services.send import send_then_settle
from cloverpay.service.webhooks import (
    EXTERNAL_REFUND_SOURCE,
    RefundFact,
    RefundWaitsForOurs,
    SyncRefunds,
    apply_refunds,
)

from ..conftest import Clock, assert_invariants, clover
from .conftest import Served, inbox_rows
from .test_refunds import _count, _paid, _refund_at_clover, _refunds, _settle_webhooks
from .test_refunds import connect_app_webhooks as _connect


def _intent(ctx: ServiceContext, merchant: Merchant, payment: Payment, amount: int) -> str:
    """Our refund's intent committed, nothing sent yet (a request in flight)."""
    with ctx.sessions.begin() as s:
        attempt = create_refund_intent(
            s,
            ctx,
            merchant.id,
            payment.id,
            amount=amount,
            reason=None,
            actor="t",
            source_kind="refund",
            now=ctx.now(),
        )
        return attempt.id


def _attempt(ctx: ServiceContext, attempt_id: str) -> PaymentAttempt:
    with ctx.sessions() as s:
        return s.get_one(PaymentAttempt, attempt_id)


def _external(ctx: ServiceContext) -> list[PaymentAttempt]:
    with ctx.sessions() as s:
        return list(
            s.scalars(
                select(PaymentAttempt).where(PaymentAttempt.source_kind == EXTERNAL_REFUND_SOURCE)
            )
        )


def _metadata_at_clover(sandbox: Sandbox, refund_id: str) -> dict[str, object] | None:
    with clover(sandbox) as c:
        return c.refunds.retrieve(refund_id).metadata


def _refund_by_attempt(ctx: ServiceContext) -> dict[str, str]:
    return {r.attempt_id: r.clover_refund_id for r in _refunds(ctx)}


def test_refund_request_carries_our_attempt_id_and_a_resend_the_same(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    payment = _paid(ctx, merchant, sandbox)
    attempt = refund_payment(ctx, merchant.id, payment.id, amount=300, actor="t")
    assert attempt.clover_refund_id is not None
    assert _metadata_at_clover(sandbox, attempt.clover_refund_id) == {REFERENCE_KEY: attempt.id}
    # a resend with the attempt's key sends the same body: Clover replays, no 2nd refund
    again = send_refund(ctx, merchant, _attempt(ctx, attempt.id))
    assert (again.status, again.clover_id) == ("succeeded", attempt.clover_refund_id)
    with clover(sandbox) as c:
        assert len(list(c.refunds.list(charge=payment.clover_charge_id))) == 1
    assert_invariants(ctx, sandbox)


def test_equal_refund_made_in_clover_while_ours_is_in_flight_webhook_first(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, served: Served, clock: Clock
) -> None:
    _connect(ctx, sandbox, served)
    payment = _paid(ctx, merchant, sandbox)
    _settle_webhooks(ctx, sandbox)
    ours = _intent(ctx, merchant, payment, 500)
    # staff refund 500 in Clover's dashboard; its webhook comes while ours is in flight
    theirs = _refund_at_clover(sandbox, payment.clover_charge_id, 500)
    _settle_webhooks(ctx, sandbox)
    assert _attempt(ctx, ours).state == "pending"  # not taken for theirs
    assert _refunds(ctx) == []
    (waiting,) = [r for r in inbox_rows(ctx) if r.status != "processed"]
    assert "waiting for its own answer" in (waiting.last_error or "")
    # ours now reaches Clover and its answer is settled
    with ctx.sessions() as s:
        merchant_row = s.get_one(Merchant, merchant.id)
    done = send_then_settle(
        ctx,
        merchant_row,
        _attempt(ctx, ours),
        kind="refund",
        send=send_refund,
        settle=settle_refund,
        actor="t",
    )
    assert done.state == "succeeded"
    mine = _attempt(ctx, ours).clover_refund_id
    assert mine is not None
    assert mine != theirs
    clock.advance(600)
    outcomes = _settle_webhooks(ctx, sandbox)
    assert any("recorded refund" in o and theirs in o for o in outcomes), outcomes
    (external,) = _external(ctx)
    assert _refund_by_attempt(ctx) == {ours: mine, external.id: theirs}
    assert sum(r.amount for r in _refunds(ctx)) == 1000
    assert all(r.status == "processed" for r in inbox_rows(ctx))
    assert _count(ctx, "refund_attempt.succeeded") == 1
    assert _count(ctx, "refund_attempt.recorded") == 1
    assert_invariants(ctx, sandbox)


def test_equal_refunds_both_at_clover_ours_answer_lost_webhook_of_theirs_first(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, served: Served, clock: Clock
) -> None:
    _connect(ctx, sandbox, served)
    payment = _paid(ctx, merchant, sandbox)
    _settle_webhooks(ctx, sandbox)
    theirs = _refund_at_clover(sandbox, payment.clover_charge_id, 500)  # older: listed first
    sandbox.state.faults.arm("commit_then_drop", method="POST", path="/v1/refunds")
    ours = refund_payment(ctx, merchant.id, payment.id, amount=500, actor="t")
    assert ours.state == "unknown"
    outcomes = _settle_webhooks(ctx, sandbox)
    assert any(f"settled refund attempt {ours.id}" in o for o in outcomes), outcomes
    mine = _attempt(ctx, ours.id).clover_refund_id
    assert mine is not None
    assert mine != theirs
    assert _metadata_at_clover(sandbox, mine) == {REFERENCE_KEY: ours.id}
    (external,) = _external(ctx)
    assert _refund_by_attempt(ctx) == {ours.id: mine, external.id: theirs}
    clock.advance(3600)
    assert ours.id not in Reconciler(ctx).run_once().checked
    assert sum(r.amount for r in _refunds(ctx)) == 1000
    assert _count(ctx, "refund_attempt.succeeded") == 1
    assert_invariants(ctx, sandbox)


def test_apply_refunds_takes_the_referenced_one_first_whatever_the_order(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    payment = _paid(ctx, merchant, sandbox)
    ours = _intent(ctx, merchant, payment, 400)
    effect = SyncRefunds(
        merchant.id,
        payment.id,
        (
            RefundFact("THEIRS0000001", 400, created=1),
            RefundFact("MINE000000001", 400, created=2, reference=ours),
        ),
    )
    with ctx.sessions.begin() as s:
        what = apply_refunds(s, effect, actor="t", now=ctx.now())
    assert f"settled refund attempt {ours} with refund MINE000000001 (by reference)" in what
    assert "recorded refund" in what
    assert "THEIRS0000001" in what
    (external,) = _external(ctx)
    assert _refund_by_attempt(ctx) == {ours: "MINE000000001", external.id: "THEIRS0000001"}


def test_unreferenced_refund_waits_for_ours_of_that_amount_but_not_for_another_amount(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    payment = _paid(ctx, merchant, sandbox)  # 2160
    ours = _intent(ctx, merchant, payment, 400)
    equal = SyncRefunds(merchant.id, payment.id, (RefundFact("THEIRS0000001", 400),))
    with pytest.raises(RefundWaitsForOurs, match=ours), ctx.sessions.begin() as s:
        apply_refunds(s, equal, actor="t", now=ctx.now())
    other = SyncRefunds(merchant.id, payment.id, (RefundFact("THEIRS0000002", 300),))
    with ctx.sessions.begin() as s:
        assert "recorded refund" in apply_refunds(s, other, actor="t", now=ctx.now())
    assert _attempt(ctx, ours).state == "pending"


def test_attempt_without_reference_is_still_matched_by_charge_and_amount(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    """An attempt sent before references existed (its request has none): the older rule."""
    payment = _paid(ctx, merchant, sandbox)
    ours = _intent(ctx, merchant, payment, 400)
    with ctx.sessions.begin() as s:
        row = s.get_one(PaymentAttempt, ours)
        req = json.loads(row.request_json)
        del req["metadata"]
        row.request_json = json.dumps(req, sort_keys=True)
    effect = SyncRefunds(merchant.id, payment.id, (RefundFact("OLDSTYLE00001", 400),))
    with ctx.sessions.begin() as s:
        what = apply_refunds(s, effect, actor="t", now=ctx.now())
    assert what == f"settled refund attempt {ours} with refund OLDSTYLE00001"
    assert _external(ctx) == []


def test_reference_to_a_settled_attempt_or_of_another_amount_is_for_a_person(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    payment = _paid(ctx, merchant, sandbox)
    done = refund_payment(ctx, merchant.id, payment.id, amount=300, actor="t")
    ours = _intent(ctx, merchant, payment, 400)
    effect = SyncRefunds(
        merchant.id,
        payment.id,
        (
            RefundFact("ODD0000000001", 300, reference=done.id),
            RefundFact("ODD0000000002", 401, reference=ours),
        ),
    )
    with ctx.sessions.begin() as s:
        what = apply_refunds(s, effect, actor="t", now=ctx.now())
    assert what.count("needs attention") == 2, what
    assert f"attempt {done.id}, which is succeeded" in what
    assert "of 401 carries the reference" in what
    assert _attempt(ctx, ours).state == "pending"
    assert len(_refunds(ctx)) == 1
    assert _count(ctx, "refund.needs_attention") == 2


def test_lookup_takes_the_refund_carrying_the_reference_among_equal_ones(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    """The reconciler's lookup (after Clover refused a resend): equal refunds made in
    Clover before and after ours do not stand in for it, whatever the list's order."""
    payment = _paid(ctx, merchant, sandbox)
    before = _refund_at_clover(sandbox, payment.clover_charge_id, 200)
    sandbox.state.faults.arm("commit_then_drop", method="POST", path="/v1/refunds")
    ours = refund_payment(ctx, merchant.id, payment.id, amount=200, actor="t")
    assert ours.state == "unknown"
    after = _refund_at_clover(sandbox, payment.clover_charge_id, 200)
    with ctx.sessions() as s:
        merchant_row = s.get_one(Merchant, merchant.id)
    found = lookup_refund(ctx, merchant_row, _attempt(ctx, ours.id))
    assert found.status == "succeeded"
    assert found.clover_id not in (before, after)
    assert _metadata_at_clover(sandbox, found.clover_id or "") == {REFERENCE_KEY: ours.id}


def test_void_of_a_payment_with_a_lost_answer_is_settled_by_its_reference(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, served: Served
) -> None:
    """A void of an online payment is a refund of all of it at Clover: the webhook
    settles the void attempt it names, not a refund "made outside the service"."""
    _connect(ctx, sandbox, served)
    payment = _paid(ctx, merchant, sandbox)
    _settle_webhooks(ctx, sandbox)
    sandbox.state.faults.arm("commit_then_drop", method="POST", path="/v1/refunds")
    void = void_payment(ctx, merchant.id, payment.id, actor="t")
    assert void.state == "unknown"
    outcomes = _settle_webhooks(ctx, sandbox)
    assert any(f"settled void attempt {void.id}" in o for o in outcomes), outcomes
    settled = _attempt(ctx, void.id)
    assert settled.state == "succeeded"
    assert _external(ctx) == []
    assert _refund_by_attempt(ctx) == {void.id: settled.clover_refund_id}
    assert_invariants(ctx, sandbox)
