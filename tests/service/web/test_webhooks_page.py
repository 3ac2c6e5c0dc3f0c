"""The dashboard's Webhooks page (the inbox of this merchant, the verification code to
paste into Clover), the Hosted Checkout signing secret form in Settings, and the
``cloverpay webhooks code`` / ``list`` commands."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from cloverpay.api import build_checkout_webhook
from cloverpay.cli import app as cli_app
from cloverpay.service.db import AuditLog, Merchant
from cloverpay.service.services import ServiceContext
from cloverpay.service.webhooks import checkout_signing_secret, process_inbox_once

from .conftest import login

SECRET = "whsec_" + "s" * 40


def _app_body(clover_merchant_id: str, object_id: str) -> bytes:
    return json.dumps(
        {
            "appId": "APP",
            "merchants": {
                clover_merchant_id: [{"objectId": f"P:{object_id}", "type": "CREATE", "ts": 1}]
            },
        }
    ).encode()


def test_webhooks_page_shows_the_inbox_and_the_code(
    app_client: TestClient, ctx: ServiceContext, merchant: Merchant, staff: str
) -> None:
    assert app_client.get("/dashboard/webhooks").status_code == 303  # login first
    code = "c0de-7777-verify"
    r = app_client.post("/webhooks/clover/app", json={"verificationCode": code})
    assert r.status_code == 200
    ours = app_client.post(
        "/webhooks/clover/app", content=_app_body(merchant.clover_merchant_id, "OURPAYMENT01")
    )
    assert ours.status_code == 202  # no Clover Auth Code configured: unverified
    theirs = app_client.post(
        "/webhooks/clover/app", content=_app_body("OTHERMERCHANT", "THEIRPAYMNT1")
    )
    assert theirs.status_code == 202
    body, headers = build_checkout_webhook(
        secret=SECRET,
        payment_id="PAYNOTOURS01",
        merchant_id=merchant.clover_merchant_id,
        checkout_session_id="SESSIONX",
    )
    assert (
        app_client.post(
            f"/webhooks/clover/checkout/{merchant.id}", content=body, headers=headers
        ).status_code
        == 202
    )
    process_inbox_once(ctx)

    login(app_client)
    page = app_client.get("/dashboard/webhooks")
    assert page.status_code == 200
    html = page.text
    assert code in html  # to paste into Clover
    assert "/webhooks/clover/app" in html
    assert f"/webhooks/clover/checkout/{merchant.id}" in html
    assert "OURPAYMENT01" in html  # the raw body
    assert "PAYNOTOURS01" in html
    assert "THEIRPAYMNT1" not in html  # another merchant's batch
    assert "hosted checkout" in html
    assert "processed" in html
    assert "no Hosted Checkout signing secret configured" in html  # why unverified
    assert "<strong>not set</strong>" in html
    assert 'href="/dashboard/webhooks" class="active"' in html  # in the nav
    failed = app_client.get("/dashboard/webhooks?status=failed").text
    assert "Nothing received yet." in failed
    assert "OURPAYMENT01" not in failed


def test_settings_stores_the_checkout_signing_secret_encrypted(
    app_client: TestClient, ctx: ServiceContext, merchant: Merchant, staff: str
) -> None:
    csrf = login(app_client)
    r = app_client.post("/dashboard/settings/checkout_secret", data={"signing_secret": SECRET})
    assert r.status_code == 403  # no CSRF token
    assert checkout_signing_secret(ctx, merchant.id) is None
    r = app_client.post(
        "/dashboard/settings/checkout_secret", data={"signing_secret": "short", "csrf_token": csrf}
    )
    assert "err=" in r.headers["location"]
    assert checkout_signing_secret(ctx, merchant.id) is None
    r = app_client.post(
        "/dashboard/settings/checkout_secret",
        data={"signing_secret": f"  {SECRET} ", "csrf_token": csrf},
    )
    assert r.status_code == 303
    assert "msg=" in r.headers["location"]
    assert checkout_signing_secret(ctx, merchant.id) == SECRET
    page = app_client.get("/dashboard/settings").text
    assert "A secret is stored" in page
    assert SECRET not in page  # never shown again
    assert SECRET not in app_client.get("/dashboard/webhooks").text
    with ctx.sessions() as s:
        n = s.scalar(select(func.count()).where(AuditLog.action == "webhooks.checkout_secret_set"))
    assert n == 1
    # the receiver uses it at once: a signed webhook is verified now
    body, headers = build_checkout_webhook(
        secret=SECRET,
        payment_id="PAY1",
        merchant_id=merchant.clover_merchant_id,
        checkout_session_id="S1",
    )
    r = app_client.post(f"/webhooks/clover/checkout/{merchant.id}", content=body, headers=headers)
    assert r.status_code == 200
    assert r.json()["verified"] is True


def test_cli_webhooks_code_and_list(
    app_client: TestClient, ctx: ServiceContext, merchant: Merchant
) -> None:
    runner = CliRunner()
    url = ctx.settings.database_url
    env = {"CLOVERPAY_SECRET_KEY": ctx.settings.fernet_key().decode(), "COLUMNS": "200"}
    none = runner.invoke(cli_app, ["webhooks", "code", "--database-url", url], env=env)
    assert none.exit_code == 1
    assert "No verification code" in none.output
    app_client.post("/webhooks/clover/app", json={"verificationCode": "first-code"})
    app_client.post("/webhooks/clover/app", json={"verificationCode": "second-code"})
    app_client.post(
        "/webhooks/clover/app", content=_app_body(merchant.clover_merchant_id, "LISTEDPAY001")
    )
    shown = runner.invoke(cli_app, ["webhooks", "code", "--database-url", url], env=env)
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.splitlines()[0] == "second-code"  # the latest
    listed = runner.invoke(cli_app, ["webhooks", "list", "--database-url", url], env=env)
    assert listed.exit_code == 0, listed.output
    assert "clover_app_verification" in listed.output
    assert "clover_app" in listed.output
    assert "received" in listed.output
    assert listed.output.count("clover_app_verif") == 2
    bad = runner.invoke(
        cli_app, ["webhooks", "list", "--status", "nope", "--database-url", url], env=env
    )
    assert bad.exit_code == 2
    only = runner.invoke(
        cli_app, ["webhooks", "list", "--status", "processed", "--database-url", url], env=env
    )
    assert only.exit_code == 0
    assert "clover_app" not in only.output
