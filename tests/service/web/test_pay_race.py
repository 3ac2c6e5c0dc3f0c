"""RELIABILITY scenario 6 on the pay page path: the browser's submission and a second
settler of the same attempt (the reconciler, standing in for a webhook, resends with
the attempt's key and settles) race; one charge, one payment row, the invoice paid once.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

from cloverpay.sandbox import Sandbox
from cloverpay.service.db import Merchant, Payment, PaymentAttempt
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.reconciler import Reconciler
from cloverpay.service.web import PaySubmission, submit_payment

from ..conftest import assert_invariants, clover_charges, make_token, open_test_invoice


def test_return_and_second_settler_race_one_payment(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    invoice = open_test_invoice(ctx, merchant)
    token = make_token(sandbox)
    # The other settler sees every attempt as due at once (its clock is an hour ahead).
    later = replace(ctx, now=lambda: ctx.now() + timedelta(hours=1))
    done = threading.Event()
    checked: list[str] = []
    states: list[str] = []

    def settle_loop() -> None:
        while not done.is_set():
            checked.extend(Reconciler(later).run_once().checked)

    other = threading.Thread(target=settle_loop)
    other.start()
    try:
        states.append(submit_payment(ctx, invoice, PaySubmission(invoice.id, "n", token)).state)
    finally:
        done.set()
        other.join(30)
    with ctx.sessions() as s:
        payments = list(s.scalars(select(Payment)))
        attempt = s.scalars(select(PaymentAttempt)).one()
    assert states == ["succeeded"]
    assert len([c for c in clover_charges(sandbox) if c.status == "succeeded"]) == 1
    assert len(payments) == 1
    assert attempt.state == "succeeded"
    assert_invariants(ctx, sandbox)
