"""RELIABILITY scenarios 5 and 6 through the webhook inbox, over real sockets:

5. every webhook delivered three times, shuffled, delayed, while a worker processes
   concurrently: the final state equals the in-order run's, with one audit transition
   per real change (two merchants of one database, the same activity each);
6. the payer's return page and the webhook racing: one payment row.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import select

from cloverpay.api import CloverClient
from cloverpay.sandbox import Sandbox
from cloverpay.sandbox._sandbox import SandboxCredentials
from cloverpay.service.db import AuditLog, Invoice, Merchant, Payment, PaymentAttempt
from cloverpay.service.invariants import check_invariants
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.merchants import connect_merchant
from cloverpay.service.services.payments import pay_invoice
from cloverpay.service.webhooks import run_inbox_worker

from ...webhook_capture import Hook
from ..conftest import assert_invariants, clover_charges, open_test_invoice
from .conftest import (
    APPROVE,
    DECLINE,
    Capture,
    Served,
    checkout_receiver,
    control,
    drain,
    open_checkout,
    pay_on_clover,
    point_checkout_webhooks,
    use_hosted_checkout,
)

SEED = 20240605


def _token(sandbox: Sandbox, creds: SandboxCredentials) -> str:
    with CloverClient(
        creds.access_token,
        merchant_id=creds.merchant_id,
        api_access_key=creds.api_access_key,
        base_url=creds.base_url,
        transport=sandbox.sync_transport(),
        client_ip="203.0.113.9",
        rate_limit=None,
        retry=0,
    ) as c:
        card = {"number": APPROVE, "exp_month": "12", "exp_year": "2031", "cvv": "123"}
        return c.tokens.create(card=card).id


def _activity(
    ctx: ServiceContext,
    sandbox: Sandbox,
    served: Served,
    capture: Capture,
    merchant: Merchant,
    creds: SandboxCredentials,
) -> list[Hook]:
    """One merchant's day, its webhooks captured (not yet delivered to us): a Hosted
    Checkout declined then paid, a charge whose answer was lost, a session never paid."""
    before = len(capture.hooks)
    use_hosted_checkout(ctx, merchant)
    point_checkout_webhooks(ctx, sandbox, merchant, capture.url)
    hc_paid = open_test_invoice(ctx, merchant)
    _, checkout = open_checkout(ctx, served, sandbox, hc_paid)
    pay_on_clover(sandbox, checkout, DECLINE)
    pay_on_clover(sandbox, checkout, APPROVE)
    lost = open_test_invoice(ctx, merchant)
    sandbox.state.faults.arm("commit_then_drop", method="POST", path="/v1/orders/*/pay")
    attempt = pay_invoice(ctx, merchant.id, lost.id, token=_token(sandbox, creds), actor="t")
    assert attempt.state == "unknown"
    never = open_test_invoice(ctx, merchant)
    open_checkout(ctx, served, sandbox, never)
    with control(sandbox) as c:
        c.post("/_sandbox/webhooks/flush")
    time.sleep(0.3)  # let the batch go out
    hooks = capture.wait_for(before + 3)[before:]
    assert {json.loads(h.body).get("status") for h in hooks} >= {"APPROVED", "DECLINED"}
    return hooks


def _state(ctx: ServiceContext, merchant: Merchant) -> dict[str, Any]:
    """The merchant's books with ids replaced by positions (comparable across merchants)."""
    with ctx.sessions() as s:
        invoices = s.scalars(
            select(Invoice).where(Invoice.merchant_id == merchant.id).order_by(Invoice.number)
        ).all()
        books = []
        for inv in invoices:
            payments = s.scalars(select(Payment.amount).where(Payment.invoice_id == inv.id))
            attempts = s.execute(
                select(PaymentAttempt.source_kind, PaymentAttempt.state).where(
                    PaymentAttempt.invoice_id == inv.id
                )
            ).all()
            books.append((inv.status, sorted(payments), sorted(map(tuple, attempts))))
        audit = Counter(
            (a, f, t)
            for a, f, t in s.execute(
                select(AuditLog.action, AuditLog.from_state, AuditLog.to_state).where(
                    AuditLog.merchant_id == merchant.id,
                    AuditLog.to_state.is_not(None),
                )
            ).all()
        )
    return {"books": books, "transitions": dict(audit)}


def _post(url: str, hook: Hook) -> None:
    r = httpx.post(url, content=hook.body, headers=hook.headers, timeout=30)
    assert r.status_code in (200, 202), r.text


def _url(served: Served, merchant: Merchant, hook: Hook) -> str:
    if b"verificationCode" in hook.body or b'"merchants"' in hook.body:
        return f"{served.base_url}/webhooks/clover/app"
    return checkout_receiver(served.base_url, merchant)


def test_scenario5_redelivered_shuffled_delayed_equals_in_order(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    served: Served,
    capture: Capture,
) -> None:
    rng = random.Random(SEED)
    with control(sandbox) as c:
        assert c.post("/_sandbox/webhooks/settings", json={"batch_window": 0.0}).is_success
        config = c.post("/_sandbox/webhooks", json={"url": capture.url, "autoConfirm": True})
        assert config.status_code == 200, config.text
        ctx.settings.clover_app_auth_code = SecretStr(config.json()["authCode"])
    capture.wait_for(1)  # the handshake
    creds_b = sandbox.add_merchant("Second Plumbing")
    merchant_b = connect_merchant(
        ctx,
        name="Second Plumbing",
        clover_merchant_id=creds_b.merchant_id,
        access_token=creds_b.access_token,
        pakms_key=creds_b.api_access_key,
        clover_base_url=creds_b.base_url,
    )
    hooks_a = _activity(ctx, sandbox, served, capture, merchant, sandbox.credentials)
    hooks_b = _activity(ctx, sandbox, served, capture, merchant_b, creds_b)

    # merchant A: each webhook once, in order, processed after each
    for hook in hooks_a:
        _post(_url(served, merchant, hook), hook)
        drain(ctx)
    in_order = _state(ctx, merchant)
    assert [b[0] for b in in_order["books"]] == ["paid", "paid", "open"], in_order

    # merchant B: each webhook three times, shuffled, delayed, sent from four threads
    # while a worker processes concurrently
    deliveries = [h for h in hooks_b for _ in range(3)]
    rng.shuffle(deliveries)
    delays = [rng.uniform(0, 0.05) for _ in deliveries]
    stop = threading.Event()
    worker = threading.Thread(
        target=run_inbox_worker, args=(ctx, stop), kwargs={"interval_s": 0.01}
    )
    worker.start()

    def deliver(i: int) -> None:
        time.sleep(delays[i])
        _post(_url(served, merchant_b, deliveries[i]), deliveries[i])

    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(deliver, range(len(deliveries))))
        time.sleep(0.2)
    finally:
        stop.set()
        worker.join(10)
    drain(ctx)
    shuffled = _state(ctx, merchant_b)
    assert shuffled == in_order, f"seed {SEED}"
    # one audit transition per real change: no entity went from X to Y twice
    with ctx.sessions() as s:
        per_entity = Counter(
            (e, f, t)
            for e, f, t in s.execute(
                select(AuditLog.entity_id, AuditLog.from_state, AuditLog.to_state).where(
                    AuditLog.to_state.is_not(None)
                )
            ).all()
        )
    assert max(per_entity.values()) == 1, per_entity
    facts = clover_charges(sandbox) + clover_charges_of(sandbox, creds_b)
    with ctx.sessions() as s:
        assert check_invariants(s, clover_charges=facts, now=ctx.now()) == []


def clover_charges_of(sandbox: Sandbox, creds: SandboxCredentials) -> list[Any]:
    from cloverpay.service.invariants import CloverChargeFact

    with CloverClient(
        creds.access_token,
        merchant_id=creds.merchant_id,
        api_access_key=creds.api_access_key,
        base_url=creds.base_url,
        transport=sandbox.sync_transport(),
        rate_limit=None,
        retry=0,
    ) as c:
        return [
            CloverChargeFact(
                id=ch.id,
                status=str(ch.status),
                amount=ch.amount or 0,
                amount_refunded=ch.amount_refunded or 0,
                order=ch.order,
                checkout_session=(ch.metadata or {}).get("checkoutSessionId"),
            )
            for ch in c.charges.list(limit=100)
        ]


def test_scenario6_return_page_and_webhook_race_one_payment(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    served: Served,
    capture: Capture,
) -> None:
    use_hosted_checkout(ctx, merchant)
    point_checkout_webhooks(ctx, sandbox, merchant, capture.url)
    for round_ in range(4):
        inv = open_test_invoice(ctx, merchant)
        link, checkout = open_checkout(ctx, served, sandbox, inv)
        pay_on_clover(sandbox, checkout)
        hook = capture.wait_for(round_ + 1)[round_]
        barrier = threading.Barrier(3)
        answers: list[int] = []

        def return_page(
            barrier: threading.Barrier = barrier, link: str = link, answers: list[int] = answers
        ) -> None:
            barrier.wait()
            answers.append(httpx.get(link, follow_redirects=False, timeout=30).status_code)

        def webhook(barrier: threading.Barrier = barrier, hook: Hook = hook) -> None:
            barrier.wait()
            _post(checkout_receiver(served.base_url, merchant), hook)
            drain(ctx)

        threads = [threading.Thread(target=f) for f in (return_page, return_page, webhook)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        drain(ctx)
        with ctx.sessions() as s:
            payments = s.scalars(select(Payment).where(Payment.invoice_id == inv.id)).all()
            assert len(payments) == 1
            assert s.get_one(Invoice, inv.id).status == "paid"
        assert set(answers) <= {200, 202}
    with ctx.sessions() as s:
        recorded = s.scalars(
            select(AuditLog).where(AuditLog.action == "charge_attempt.recorded")
        ).all()
    assert len(recorded) == 4
    assert_invariants(ctx, sandbox)
