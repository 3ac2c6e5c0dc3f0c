"""Receipt: verify, store raw with secrets redacted, dedupe at the constraint, answer
fast; the app webhook handshake, over real sockets against the sandbox's webhooks."""

from __future__ import annotations

import json

import httpx
from pydantic import SecretStr

from cloverpay.api import build_checkout_webhook
from cloverpay.sandbox import Sandbox
from cloverpay.service.db import Merchant
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.payments import pay_invoice
from cloverpay.service.webhooks import SOURCE_APP, latest_verification_code

from ..conftest import assert_invariants, make_token, open_test_invoice
from .conftest import Served, control, drain, inbox_rows, wait_rows

SECRET = "whsec_" + "k" * 40


def test_app_handshake_then_authenticated_notices(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, served: Served
) -> None:
    url = f"{served.base_url}/webhooks/clover/app"
    with control(sandbox) as c:
        assert c.post("/_sandbox/webhooks/settings", json={"batch_window": 0.0}).is_success
        config = c.post("/_sandbox/webhooks", json={"url": url})
        assert config.status_code == 200, config.text
        assert config.json()["handshakeStatus"] == 200
        sent_code = config.json()["verificationCode"]
        # the code is stored and shown, so a person can paste it into Clover
        shown = latest_verification_code(ctx)
        assert shown is not None
        assert shown.code == sent_code
        confirmed = c.post("/_sandbox/webhooks/verify", json={"verificationCode": shown.code})
        assert confirmed.status_code == 200, confirmed.text
        auth_code = confirmed.json()["authCode"]
    ctx.settings.clover_app_auth_code = SecretStr(auth_code)

    inv = open_test_invoice(ctx, merchant)
    attempt = pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    assert attempt.state == "succeeded"
    rows = [r for r in wait_rows(ctx, 2) if r.source == SOURCE_APP]
    assert rows
    assert all(r.verified for r in rows)
    headers = json.loads(rows[0].headers_json)
    assert headers["x-clover-auth"] == "[redacted]"  # the shared secret is never stored
    assert auth_code.encode() not in rows[0].headers_json.encode()
    outcomes = drain(ctx)
    assert any("recorded already" in o for o in outcomes), outcomes
    assert all(r.status == "processed" for r in inbox_rows(ctx))
    assert_invariants(ctx, sandbox)


def test_app_webhook_with_wrong_auth_is_stored_unverified(
    ctx: ServiceContext, served: Served
) -> None:
    ctx.settings.clover_app_auth_code = SecretStr("the-real-code")
    body = b'{"appId":"A","merchants":{"M1":[{"objectId":"P:X1","type":"CREATE","ts":1}]}}'
    r = httpx.post(
        f"{served.base_url}/webhooks/clover/app",
        content=body,
        headers={"x-clover-auth": "guess", "content-type": "application/json"},
    )
    assert r.status_code == 202
    assert r.json() == {"received": True, "duplicate": False, "verified": False}
    (row,) = inbox_rows(ctx)
    assert not row.verified
    assert row.verification_error
    assert "auth_code_mismatch" in row.verification_error
    assert row.body == body
    assert json.loads(row.headers_json)["x-clover-auth"] == "[redacted]"


def test_checkout_signature_checked_and_redeliveries_deduped(
    ctx: ServiceContext, merchant: Merchant, served: Served
) -> None:
    from cloverpay.service.webhooks import set_checkout_signing_secret

    set_checkout_signing_secret(ctx, merchant.id, SECRET, actor="t")
    url = f"{served.base_url}/webhooks/clover/checkout/{merchant.id}"
    body, headers = build_checkout_webhook(
        secret=SECRET,
        payment_id="PAY1",
        merchant_id=merchant.clover_merchant_id,
        checkout_session_id="S1",
    )
    answers = [httpx.post(url, content=body, headers=headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["duplicate"] for a in answers] == [False, True, True]
    # a byte changed: the signature fails; stored unverified under its own key
    bad = httpx.post(url, content=body.replace(b"PAY1", b"PAY2"), headers=headers)
    assert bad.status_code == 202
    assert bad.json()["verified"] is False
    # a forged copy of the genuine body cannot take the genuine row's key
    forged = httpx.post(url, content=body, headers={"Clover-Signature": "t=1,v1=00"})
    assert forged.json() == {"received": True, "duplicate": False, "verified": False}
    rows = inbox_rows(ctx)
    assert [(r.verified, r.status) for r in rows] == [
        (True, "received"),
        (False, "received"),
        (False, "received"),
    ]
    assert "no_matching_signature" in (rows[1].verification_error or "")
    assert "stale_timestamp" in (rows[2].verification_error or "")
    assert json.loads(rows[0].headers_json)["clover-signature"] == headers["Clover-Signature"]
    assert SECRET not in rows[0].headers_json


def test_checkout_receiver_of_no_merchant_is_404_and_big_bodies_413(
    ctx: ServiceContext, merchant: Merchant, served: Served
) -> None:
    r = httpx.post(f"{served.base_url}/webhooks/clover/checkout/nobody", content=b"{}")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    big = httpx.post(
        f"{served.base_url}/webhooks/clover/checkout/{merchant.id}", content=b"x" * 300_000
    )
    assert big.status_code == 413
    assert inbox_rows(ctx) == []


def test_checkout_webhook_without_configured_secret_is_unverified(
    ctx: ServiceContext, merchant: Merchant, served: Served
) -> None:
    body, headers = build_checkout_webhook(
        secret=SECRET,
        payment_id="P",
        merchant_id=merchant.clover_merchant_id,
        checkout_session_id="S",
    )
    r = httpx.post(
        f"{served.base_url}/webhooks/clover/checkout/{merchant.id}", content=body, headers=headers
    )
    assert r.status_code == 202
    (row,) = inbox_rows(ctx)
    assert row.verification_error
    assert "no Hosted Checkout signing secret" in row.verification_error
