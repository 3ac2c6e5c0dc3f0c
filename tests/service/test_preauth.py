"""Pre-authorize, capture (full, partial, lost answer), void an authorization, void a
payment: each through the money path, on SQLite and PostgreSQL, the invariants checked
after every scenario."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cloverpay.sandbox import Sandbox
from cloverpay.service.db import (
    Authorization,
    Invoice,
    Merchant,
    OutboxEvent,
    Payment,
    PaymentAttempt,
    Refund,
)
from cloverpay.service.errors import AttemptUnresolvedError, ConflictError, InvalidRequest
from cloverpay.service.services import Reconciler, ServiceContext
from cloverpay.service.services.clover_calls import CallOutcome
from cloverpay.service.services.invoices import invoice_paid_key, void_invoice
from cloverpay.service.services.payments import pay_invoice
from cloverpay.service.services.preauth import (
    authorize_invoice,
    capture_authorization,
    void_authorization,
    void_payment,
)
from cloverpay.service.services.preauth_settle import settle_capture
from cloverpay.service.services.refunds import refund_payment

from .conftest import DECLINE, Clock, assert_invariants, invoice_row, make_token, open_test_invoice

TOTAL = 2160  # open_test_invoice: 2 x 10.00 + 1.60 tax
CAPTURE_PATH = "/v1/charges/*/capture"


@pytest.fixture(autouse=True)
def _releasing_sandbox(sandbox: Sandbox) -> None:
    # Clover documents no void call for an Ecommerce authorization; the service sends a
    # refund of the uncaptured charge, which this sandbox switch makes release it.
    sandbox.state.config.refund_releases_authorization = True


def _auth(ctx: ServiceContext, attempt: PaymentAttempt) -> Authorization:
    with ctx.sessions() as s:
        row = s.scalar(select(Authorization).where(Authorization.attempt_id == attempt.id))
        assert row is not None
        return row


def _count(ctx: ServiceContext, model: Any) -> int:
    with ctx.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _charge(sandbox: Sandbox, charge_id: str) -> Any:
    return sandbox.state.ecommerce.charges.objects[charge_id]


def _authorized(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> tuple[Invoice, PaymentAttempt, Authorization]:
    """A new invoice, all of it authorized: the invoice, the attempt, the authorization."""
    inv = open_test_invoice(ctx, merchant)
    att = authorize_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    return inv, att, _auth(ctx, att)


def _paid(ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox) -> Payment:
    """A new invoice paid online in full: its payment row."""
    inv = open_test_invoice(ctx, merchant)
    paid = pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    with ctx.sessions() as s:
        payment = s.scalar(select(Payment).where(Payment.attempt_id == paid.id))
        assert payment is not None
        return payment


def test_authorize_then_capture_in_full_keeps_the_tip_apart(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    inv = open_test_invoice(ctx, merchant)
    att = authorize_invoice(
        ctx, merchant.id, inv.id, token=make_token(sandbox), tip_amount=300, actor="t"
    )
    assert (att.state, att.kind, att.capture, att.amount, att.tip_amount) == (
        "succeeded",
        "charge",
        False,
        TOTAL,
        300,
    )
    auth = _auth(ctx, att)
    assert (auth.status, auth.amount, auth.tip_amount) == ("authorized", TOTAL, 300)
    charge = _charge(sandbox, auth.clover_charge_id)
    assert (charge.captured, charge.amount, charge.tip_amount) == (False, TOTAL, 300)
    assert invoice_row(ctx, inv.id).status == "open"
    assert _count(ctx, Payment) == 0
    assert_invariants(ctx, sandbox)
    # the held amount is not due a second time
    with pytest.raises(ConflictError) as held:
        pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    assert held.value.code == "invoice_authorized"
    with pytest.raises(ConflictError):
        void_invoice(ctx, merchant.id, inv.id, actor="t")

    cap = capture_authorization(ctx, merchant.id, auth.id, actor="t")
    assert (cap.kind, cap.state, cap.amount) == ("capture", "succeeded", TOTAL)
    auth = _auth(ctx, att)
    assert (auth.status, auth.amount_captured) == ("captured", TOTAL)
    with ctx.sessions() as s:
        payment = s.scalar(select(Payment).where(Payment.attempt_id == cap.id))
        assert payment is not None
        assert (payment.amount, payment.tip_amount) == (TOTAL, 300)
        assert payment.clover_charge_id == auth.clover_charge_id
    assert _charge(sandbox, auth.clover_charge_id).captured is True
    assert invoice_row(ctx, inv.id).status == "paid"
    # captured is final: no second capture, no void of the authorization
    with pytest.raises(ConflictError):
        capture_authorization(ctx, merchant.id, auth.id, actor="t")
    with pytest.raises(ConflictError):
        void_authorization(ctx, merchant.id, auth.id, actor="t")
    assert_invariants(ctx, sandbox)


def _paid_events(ctx: ServiceContext) -> list[str]:
    with ctx.sessions() as s:
        return list(
            s.scalars(select(OutboxEvent.dedupe_key).where(OutboxEvent.topic == "invoice.paid"))
        )


def test_capture_emits_invoice_paid_once_per_payment_and_a_replay_adds_nothing(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    inv, _, auth = _authorized(ctx, merchant, sandbox)
    cap = capture_authorization(ctx, merchant.id, auth.id, actor="t")
    assert cap.state == "succeeded"
    with ctx.sessions() as s:
        payment = s.scalar(select(Payment).where(Payment.attempt_id == cap.id))
        assert payment is not None
    # the same rule as a charge's: the invoice and the payment that made it paid
    assert _paid_events(ctx) == [invoice_paid_key(inv.id, payment.id)]
    # Clover's answer applied a second time (a reconciler replay): nothing new
    replay = CallOutcome("succeeded", clover_id=auth.clover_charge_id)
    assert settle_capture(ctx, cap.id, replay, actor="t").state == "succeeded"
    assert _paid_events(ctx) == [invoice_paid_key(inv.id, payment.id)]
    assert _count(ctx, Payment) == 1
    assert_invariants(ctx, sandbox)


def test_partial_capture_then_the_rest_is_paid_another_way(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    inv, att, auth = _authorized(ctx, merchant, sandbox)
    with pytest.raises(InvalidRequest):
        capture_authorization(ctx, merchant.id, auth.id, amount=TOTAL + 1, actor="t")
    cap = capture_authorization(ctx, merchant.id, auth.id, amount=1500, actor="t")
    assert cap.state == "succeeded"
    assert _auth(ctx, att).amount_captured == 1500
    assert _charge(sandbox, auth.clover_charge_id).amount_captured == 1500
    assert invoice_row(ctx, inv.id).status == "partially_paid"
    assert_invariants(ctx, sandbox)
    # the rest was released: it is due again, and payable
    rest = pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    assert (rest.state, rest.amount) == ("succeeded", TOTAL - 1500)
    assert invoice_row(ctx, inv.id).status == "paid"
    assert_invariants(ctx, sandbox)


def test_void_an_authorization_then_pay(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    inv, att, auth = _authorized(ctx, merchant, sandbox)
    void = void_authorization(ctx, merchant.id, auth.id, actor="t")
    assert (void.kind, void.state, void.clover_refund_id is not None) == ("void", "succeeded", True)
    assert _auth(ctx, att).status == "voided"
    charge = _charge(sandbox, auth.clover_charge_id)
    assert (charge.captured, charge.amount_refunded) == (False, TOTAL)
    assert (_count(ctx, Payment), _count(ctx, Refund)) == (0, 0)
    assert invoice_row(ctx, inv.id).status == "open"
    with pytest.raises(ConflictError):
        capture_authorization(ctx, merchant.id, auth.id, actor="t")
    assert_invariants(ctx, sandbox)
    paid = pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    assert paid.state == "succeeded"
    assert invoice_row(ctx, inv.id).status == "paid"
    assert_invariants(ctx, sandbox)


def test_declined_authorization_holds_nothing(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    inv = open_test_invoice(ctx, merchant)
    att = authorize_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox, DECLINE), actor="t")
    assert att.state == "failed"
    assert _count(ctx, Authorization) == 0
    assert pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t").state == (
        "succeeded"
    )
    assert_invariants(ctx, sandbox)


def test_capture_answer_lost_is_unknown_then_reconciled_with_one_capture(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, clock: Clock
) -> None:
    """Scenario 3 for a capture: Clover captures and drops the answer."""
    inv, att, auth = _authorized(ctx, merchant, sandbox)
    sandbox.state.faults.arm("commit_then_drop", method="POST", path=CAPTURE_PATH)
    cap = capture_authorization(ctx, merchant.id, auth.id, actor="t")
    assert cap.state == "unknown"
    assert _charge(sandbox, auth.clover_charge_id).captured is True  # Clover did it
    assert _count(ctx, Payment) == 0
    assert _auth(ctx, att).status == "authorized"  # still held, not released
    # a retry meanwhile, or a void, is refused until the reconciler resolves it
    with pytest.raises(AttemptUnresolvedError):
        capture_authorization(ctx, merchant.id, auth.id, actor="t")
    with pytest.raises(AttemptUnresolvedError):
        void_authorization(ctx, merchant.id, auth.id, actor="t")
    with pytest.raises(ConflictError):
        pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    assert_invariants(ctx, sandbox)
    assert Reconciler(ctx).run_once().checked == []  # not due yet
    clock.advance(60)
    report = Reconciler(ctx).run_once()
    assert report.resolved == {cap.id: "succeeded"}
    assert _auth(ctx, att).status == "captured"
    assert _count(ctx, Payment) == 1
    assert invoice_row(ctx, inv.id).status == "paid"
    assert_invariants(ctx, sandbox)


def test_capture_never_arrived_is_failed_by_lookup_and_the_hold_stays(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, clock: Clock
) -> None:
    """The capture was dropped before Clover ran it; the resend is refused by Clover
    (the key is forgotten), so the reconciler looks at the charge: not captured."""
    _, att, auth = _authorized(ctx, merchant, sandbox)
    sandbox.state.faults.arm("drop_before_commit", method="POST", path=CAPTURE_PATH)
    cap = capture_authorization(ctx, merchant.id, auth.id, actor="t")
    assert cap.state == "unknown"
    sandbox.state.faults.arm("status", method="POST", path=CAPTURE_PATH, status=400)
    clock.advance(60)
    assert Reconciler(ctx).run_once().resolved == {cap.id: "failed"}
    assert _auth(ctx, att).status == "authorized"
    assert_invariants(ctx, sandbox)
    again = capture_authorization(ctx, merchant.id, auth.id, actor="t")
    assert again.state == "succeeded"
    assert_invariants(ctx, sandbox)


def test_authorize_answer_lost_is_reconciled_into_one_authorization(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, clock: Clock
) -> None:
    inv = open_test_invoice(ctx, merchant)
    sandbox.state.faults.arm("commit_then_drop", method="POST", path="/v1/charges")
    att = authorize_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    assert att.state == "unknown"
    with pytest.raises(AttemptUnresolvedError):
        pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    clock.advance(60)
    assert Reconciler(ctx).run_once().resolved == {att.id: "succeeded"}
    assert _auth(ctx, att).status == "authorized"
    assert_invariants(ctx, sandbox)


def test_void_a_payment_refunds_all_of_it_once(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    payment = _paid(ctx, merchant, sandbox)
    void = void_payment(ctx, merchant.id, payment.id, actor="t")
    assert (void.kind, void.state, void.amount) == ("void", "succeeded", TOTAL)
    with ctx.sessions() as s:
        refund = s.scalar(select(Refund).where(Refund.attempt_id == void.id))
        assert refund is not None
        assert (refund.amount, refund.reason) == (TOTAL, "void")
    with pytest.raises(ConflictError):
        void_payment(ctx, merchant.id, payment.id, actor="t")
    with pytest.raises(ConflictError):
        refund_payment(ctx, merchant.id, payment.id, amount=1, actor="t")
    assert_invariants(ctx, sandbox)


def test_a_partly_refunded_payment_cannot_be_voided(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    payment = _paid(ctx, merchant, sandbox)
    refund_payment(ctx, merchant.id, payment.id, amount=100, actor="t")
    with pytest.raises(ConflictError) as refused:
        void_payment(ctx, merchant.id, payment.id, actor="t")
    assert refused.value.code == "payment_refunded"
    assert_invariants(ctx, sandbox)


def _open(api: TestClient) -> dict[str, Any]:
    body = {"line_items": [{"description": "Boiler service", "quantity": 1, "unit_amount": 5000}]}
    inv = api.post("/v1/invoices", json=body).json()
    out: dict[str, Any] = api.post(f"/v1/invoices/{inv['id']}/open").json()
    return out


def test_rest_authorize_capture_void(
    api: TestClient, ctx: ServiceContext, sandbox: Sandbox, clock: Clock
) -> None:
    inv = _open(api)
    r = api.post(
        f"/v1/invoices/{inv['id']}/authorize",
        json={"token": make_token(sandbox), "tip_amount": 500},
        headers={"Idempotency-Key": "auth-1"},
    )
    assert r.status_code == 200, r.text
    auth = r.json()["authorization"]
    assert (auth["status"], auth["amount"], auth["tip_amount"]) == ("authorized", 5000, 500)
    replay = api.post(
        f"/v1/invoices/{inv['id']}/authorize",
        json={"token": make_token(sandbox), "tip_amount": 500},
        headers={"Idempotency-Key": "auth-1"},
    )
    assert replay.status_code == 409  # same key, another token: refused, nothing sent
    assert api.get(f"/v1/authorizations/{auth['id']}").json()["status"] == "authorized"

    sandbox.state.faults.arm("commit_then_drop", method="POST", path=CAPTURE_PATH)
    r = api.post(f"/v1/authorizations/{auth['id']}/capture", json={"amount": 4000})
    assert r.status_code == 202, r.text
    assert r.json()["state"] == "unknown"
    err = api.post(f"/v1/authorizations/{auth['id']}/capture", json={})
    assert (err.status_code, err.json()["error"]["code"]) == (409, "attempt_unresolved")
    clock.advance(60)
    Reconciler(ctx).run_once()
    got = api.get(f"/v1/authorizations/{auth['id']}").json()
    assert (got["status"], got["amount_captured"]) == ("captured", 4000)
    invoice = api.get(f"/v1/invoices/{inv['id']}").json()
    assert (invoice["status"], invoice["amount_paid"]) == ("partially_paid", 4000)
    payment = api.get("/v1/payments", params={"invoice_id": inv["id"]}).json()[0]
    assert (payment["amount"], payment["tip_amount"]) == (4000, 500)
    assert_invariants(ctx, sandbox)

    r = api.post(f"/v1/payments/{payment['id']}/void")
    assert r.status_code == 200, r.text
    assert api.get(f"/v1/payments/{payment['id']}").json()["amount_refunded"] == 4000

    inv2 = _open(api)
    auth2 = api.post(
        f"/v1/invoices/{inv2['id']}/authorize", json={"token": make_token(sandbox)}
    ).json()["authorization"]
    r = api.post(f"/v1/authorizations/{auth2['id']}/void")
    assert r.status_code == 200, r.text
    assert r.json()["authorization"]["status"] == "voided"
    err = api.post(f"/v1/authorizations/{auth2['id']}/capture", json={})
    assert (err.status_code, err.json()["error"]["code"]) == (409, "authorization_voided")
    assert api.get("/v1/authorizations/nope").status_code == 404
    assert_invariants(ctx, sandbox)


def test_authorize_a_card_on_file_merchant_initiated_then_capture(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    from cloverpay.service.services.customers import CardInput, add_card, create_customer

    customer = create_customer(ctx, merchant.id, name="Ada", email="ada@example.com", actor="t")
    card = add_card(ctx, merchant.id, customer.id, CardInput(token=make_token(sandbox)), actor="t")
    inv = open_test_invoice(ctx, merchant)
    att = authorize_invoice(
        ctx, merchant.id, inv.id, card_on_file_id=card.id, initiator="MERCHANT", actor="t"
    )
    assert (att.state, att.source_kind, att.initiator) == ("succeeded", "card_on_file", "MERCHANT")
    auth = _auth(ctx, att)
    charge = _charge(sandbox, auth.clover_charge_id)
    assert charge.captured is False
    assert charge.stored_credentials["sequence"] == "FIRST"
    assert capture_authorization(ctx, merchant.id, auth.id, actor="t").state == "succeeded"
    inv2 = open_test_invoice(ctx, merchant)
    again = authorize_invoice(
        ctx, merchant.id, inv2.id, card_on_file_id=card.id, initiator="MERCHANT", actor="t"
    )
    assert (
        _charge(sandbox, _auth(ctx, again).clover_charge_id).stored_credentials["sequence"]
        == "SUBSEQUENT"
    )
    assert invoice_row(ctx, inv.id).status == "paid"
    assert_invariants(ctx, sandbox)
