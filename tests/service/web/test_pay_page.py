"""Paying through the hosted pay page: once per submission, replays and storms give one
charge, saving the card goes through the core's card-on-file unit of work, a decline
shows the form again, and the Hosted Checkout flow reuses one session per invoice."""

from __future__ import annotations

import re
import threading

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloverpay.sandbox import Sandbox
from cloverpay.service.db import CardOnFile, Invoice, Merchant, Payment, PaymentAttempt
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.customers import create_customer
from cloverpay.service.services.invoices import LineItemInput, create_invoice, open_invoice
from cloverpay.service.web import (
    MerchantWebSettings,
    PaySubmission,
    WebSettings,
    pay_link_for,
    submit_payment,
)

from ..conftest import DECLINE, assert_invariants, clover_charges, make_token, open_test_invoice


def _path(ctx: ServiceContext, web: WebSettings, invoice_id: str) -> str:
    url, _ = pay_link_for(ctx, web, invoice_id)
    return url.removeprefix(web.public_url)


def _nonce(html: str) -> str:
    found = re.search(r'name="attempt_nonce" value="([^"]+)"', html)
    assert found
    return found.group(1)


def _invoice_with_customer(ctx: ServiceContext, merchant: Merchant) -> Invoice:
    customer = create_customer(
        ctx, merchant.id, name="Dana", email="dana@example.com", actor="test"
    )
    inv = create_invoice(
        ctx,
        merchant.id,
        line_items=[LineItemInput("Repair", 1, 5000)],
        customer_id=customer.id,
        actor="test",
    )
    return open_invoice(ctx, merchant.id, inv.id, actor="test")


def test_the_page_shows_amounts_as_the_emails_do(
    app_client: TestClient, ctx: ServiceContext, merchant: Merchant, web: WebSettings
) -> None:
    from cloverpay.service.services.emails import format_money
    from cloverpay.service.web._templates import templates

    assert templates.env.filters["money"] is format_money  # one formatter, pages and emails
    invoice = open_test_invoice(ctx, merchant, unit=123_456, qty=1, tax=0)
    page = app_client.get(_path(ctx, web, invoice.id)).text
    assert format_money(123_456, invoice.currency) == "$1,234.56"
    assert "Pay $1,234.56</button>" in page


def test_pay_then_replay_the_same_submission(
    app_client: TestClient,
    ctx: ServiceContext,
    merchant: Merchant,
    web: WebSettings,
    sandbox: Sandbox,
) -> None:
    invoice = open_test_invoice(ctx, merchant)
    path = _path(ctx, web, invoice.id)
    nonce = _nonce(app_client.get(path).text)
    form = {"token": make_token(sandbox), "attempt_nonce": nonce, "brand": "VISA", "last4": "4242"}
    first = app_client.post(path, data=form)
    assert first.status_code == 303
    assert "?attempt=" in first.headers["location"]
    done = app_client.get(first.headers["location"])
    assert "is paid" in done.text
    # The browser re-posts (back button, double click): the same outcome, no new charge.
    again = app_client.post(path, data={**form, "token": make_token(sandbox)})
    assert again.headers["location"] == first.headers["location"]
    assert len(clover_charges(sandbox)) == 1
    # A fresh page of a paid invoice shows the receipt, never the card form.
    page = app_client.get(path)
    assert "is paid" in page.text
    assert "pay-form" not in page.text
    assert_invariants(ctx, sandbox)


def test_double_submit_storm_charges_once(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    invoice = open_test_invoice(ctx, merchant)
    tokens = [make_token(sandbox) for _ in range(16)]
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def submit(i: int) -> None:
        nonce = "same" if i < 10 else f"other-{i}"
        try:
            out = submit_payment(ctx, invoice, PaySubmission(invoice.id, nonce, tokens[i]))
            outcomes.append(out.state)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    charges = [c for c in clover_charges(sandbox) if c.status == "succeeded"]
    assert len(charges) == 1
    with ctx.sessions() as s:
        assert len(list(s.scalars(select(Payment)))) == 1
    assert "succeeded" in outcomes
    assert set(outcomes) <= {"succeeded", "error"}
    assert_invariants(ctx, sandbox)


def test_save_card_goes_through_card_on_file(
    app_client: TestClient,
    ctx: ServiceContext,
    merchant: Merchant,
    web: WebSettings,
    sandbox: Sandbox,
) -> None:
    invoice = _invoice_with_customer(ctx, merchant)
    path = _path(ctx, web, invoice.id)
    page = app_client.get(path).text
    assert 'name="save_card"' in page
    form = {
        "token": make_token(sandbox),
        "attempt_nonce": _nonce(page),
        "save_card": "1",
        "brand": "VISA",
        "last4": "4242",
        "exp_month": "12",
        "exp_year": "2031",
    }
    r = app_client.post(path, data=form)
    assert "is paid" in app_client.get(r.headers["location"]).text
    with ctx.sessions() as s:
        card = s.scalars(select(CardOnFile)).one()
        attempt = s.scalars(select(PaymentAttempt)).one()
    assert (card.last4, card.brand, card.customer_id) == ("4242", "VISA", invoice.customer_id)
    assert card.clover_token
    assert not card.clover_token.startswith("clv_")
    assert attempt.card_on_file_id == card.id
    assert attempt.initiator == "CARDHOLDER"
    with ctx.sessions() as s:
        assert s.get_one(CardOnFile, card.id).cof_initialized
    assert len(clover_charges(sandbox)) == 1


def test_decline_shows_the_form_again_and_leaves_the_invoice_open(
    app_client: TestClient,
    ctx: ServiceContext,
    merchant: Merchant,
    web: WebSettings,
    sandbox: Sandbox,
) -> None:
    invoice = open_test_invoice(ctx, merchant)
    path = _path(ctx, web, invoice.id)
    form = {
        "token": make_token(sandbox, DECLINE),
        "attempt_nonce": _nonce(app_client.get(path).text),
    }
    r = app_client.post(path, data=form)
    page = app_client.get(r.headers["location"])
    assert page.status_code == 200
    assert 'class="alert error"' in page.text
    assert "pay-form" in page.text
    with ctx.sessions() as s:
        assert s.get_one(Invoice, invoice.id).status == "open"
        assert list(s.scalars(select(Payment))) == []


def test_not_a_token_is_refused_without_calling_clover(
    app_client: TestClient,
    ctx: ServiceContext,
    merchant: Merchant,
    web: WebSettings,
    sandbox: Sandbox,
) -> None:
    invoice = open_test_invoice(ctx, merchant)
    path = _path(ctx, web, invoice.id)
    r = app_client.post(path, data={"token": "4242424242424242", "attempt_nonce": "x"})
    assert r.status_code == 303
    assert "error=" in r.headers["location"]
    assert clover_charges(sandbox) == []


def test_hosted_checkout_flow_mints_one_session_and_reuses_it(
    app_client: TestClient,
    ctx: ServiceContext,
    merchant: Merchant,
    web: WebSettings,
    sandbox: Sandbox,
) -> None:
    with ctx.sessions.begin() as s:
        s.add(MerchantWebSettings(merchant_id=merchant.id, pay_flow="hosted_checkout"))
    invoice = open_test_invoice(ctx, merchant)
    path = _path(ctx, web, invoice.id)
    first = app_client.get(path)
    assert first.status_code == 303
    assert "/checkout/" in first.headers["location"]
    second = app_client.get(path)
    assert second.headers["location"] == first.headers["location"]
    assert clover_charges(sandbox) == []
    # The payer pays on Clover's page and comes back: no new session, no card form.
    checkout_path = first.headers["location"].removeprefix(sandbox.base_url)
    with sandbox.client() as browser:
        paid = browser.post(
            checkout_path + "/pay",
            data={"number": "4242424242424242", "exp": "12/31", "cvv": "123"},
        )
    assert paid.status_code in (200, 303)
    assert len(clover_charges(sandbox)) == 1
    # Back on the pay link: Clover's session is PAID, so the charge is recorded from
    # Clover's answer at once (the webhook would find it recorded), and it says paid.
    back = app_client.get(path)
    assert back.status_code == 200
    again = app_client.get(path)
    assert again.status_code == 200
    with ctx.sessions() as s:
        (payment,) = s.scalars(select(Payment)).all()
        assert payment.clover_charge_id == clover_charges(sandbox)[0].id
        assert s.get_one(Invoice, invoice.id).status == "paid"
    assert_invariants(ctx, sandbox)
