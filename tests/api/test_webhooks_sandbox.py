"""Our webhook verification and parsing against what the offline sandbox really sends
(two independent implementations of Clover's recipe), and our encrypted_pan accepted by
the sandbox's tokenizer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cloverpay.api import (
    APP_AUTH_HEADER,
    CHECKOUT_SIGNATURE_HEADER,
    AppEventType,
    AppWebhook,
    CheckoutStatus,
    SignatureFailure,
    VerificationRequest,
    WebhookSignatureError,
    decrypt_pan,
    encrypt_pan,
    load_ta_keys,
    parse_app_webhook,
    parse_checkout_event,
    ta_public_key_from_rsa,
    verify_app_webhook,
    verify_checkout_signature,
)

from ..webhook_capture import Hook, Receiver

sandbox_mod = pytest.importorskip("cloverpay.sandbox")


def header(hook: Hook, name: str) -> str | None:
    return {k.lower(): v for k, v in hook.headers.items()}.get(name.lower())


@pytest.fixture
def sandbox() -> Iterator[Any]:
    sb = sandbox_mod.Sandbox(seed=13)
    try:
        yield sb
    finally:
        sb.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver().running() as r:
        yield r


def pay_hosted_checkout(sandbox: Any, number: str) -> tuple[httpx.Client, str]:
    mid = sandbox.credentials.merchant_id
    hc = sandbox.client(headers={"X-Clover-Merchant-Id": mid})
    cart = {
        "customer": {},
        "shoppingCart": {"lineItems": [{"name": "Tea", "price": 700}]},
        "redirectUrls": {
            "success": "https://shop.example/ok",
            "failure": "https://shop.example/no",
        },
    }
    session = hc.post("/invoicingcheckoutservice/v1/checkouts", json=cart)
    assert session.status_code == 200, session.text
    sid = session.json()["checkoutSessionId"]
    form = {"name": "A B", "number": number, "exp": "12/30", "cvv": "123", "zip": "94085"}
    assert hc.post(f"/checkout/{sid}/pay", data=form).status_code in (303, 200)
    return hc, sid


def test_sandbox_checkout_webhook_verifies_and_parses(sandbox: Any, receiver: Receiver) -> None:
    control = sandbox.client()
    r = control.post("/_sandbox/webhooks/hosted_checkout", json={"url": receiver.url})
    assert r.status_code == 200, r.text
    secret = r.json()["signingSecret"]
    hc, sid = pay_hosted_checkout(sandbox, "4242424242424242")
    (hook,) = receiver.wait_for(1)
    signature = header(hook, CHECKOUT_SIGNATURE_HEADER)
    timestamp = verify_checkout_signature(hook.body, signature, secret)
    assert abs(timestamp - time.time()) < 300
    event = parse_checkout_event(hook.body)
    assert event.status is CheckoutStatus.APPROVED
    assert event.type == "PAYMENT"
    assert event.checkout_session_id == sid
    assert event.merchant_id == sandbox.credentials.merchant_id
    status = hc.get(f"/invoicingcheckoutservice/v1/checkouts/{sid}").json()
    assert event.id == status["paymentId"]
    assert event.extra == {}
    # the same delivery with a byte changed, or checked with another secret, is refused
    with pytest.raises(WebhookSignatureError) as info:
        verify_checkout_signature(hook.body + b" ", signature, secret)
    assert info.value.reason is SignatureFailure.NO_MATCHING_SIGNATURE
    with pytest.raises(WebhookSignatureError):
        verify_checkout_signature(hook.body, signature, secret + "x")
    hc.close()
    control.close()


def test_sandbox_app_webhooks_handshake_and_notice(sandbox: Any, receiver: Receiver) -> None:
    control = sandbox.client(headers={"x-forwarded-for": "203.0.113.9"})
    assert control.post("/_sandbox/webhooks/settings", json={"batch_window": 0.0}).is_success
    config = control.post("/_sandbox/webhooks", json={"url": receiver.url})
    assert config.status_code == 200, config.text
    (handshake,) = receiver.wait_for(1)
    assert header(handshake, APP_AUTH_HEADER) is None
    request = parse_app_webhook(handshake.body)
    assert isinstance(request, VerificationRequest)
    confirmed = control.post(
        "/_sandbox/webhooks/verify", json={"verificationCode": request.verification_code}
    )
    assert confirmed.status_code == 200, confirmed.text
    auth_code = confirmed.json()["authCode"]

    creds = sandbox.credentials
    token = control.post(
        "/v1/tokens",
        json={
            "card": {
                "number": "4242424242424242",
                "exp_month": "12",
                "exp_year": "2030",
                "cvv": "123",
            }
        },
        headers={"apikey": creds.api_access_key},
    )
    assert token.status_code == 200, token.text
    charge = control.post(
        "/v1/charges", json={"amount": 500, "currency": "usd", "source": token.json()["id"]}
    )
    assert charge.status_code == 200, charge.text
    control.post("/_sandbox/webhooks/flush")
    hooks = receiver.wait_for(2)
    notice = hooks[1]
    verify_app_webhook(header(notice, APP_AUTH_HEADER), auth_code)
    with pytest.raises(WebhookSignatureError):
        verify_app_webhook(header(notice, APP_AUTH_HEADER), auth_code + "x")
    hook = parse_app_webhook(notice.body)
    assert isinstance(hook, AppWebhook)
    assert hook.app_id == creds.app_id
    assert hook.merchants == (creds.merchant_id,)
    assert ("P", AppEventType.CREATE) in {(e.object_type, e.type) for e in hook.events}
    assert all(e.ts > 0 for e in hook.events)
    control.close()


def test_our_encrypted_pan_is_accepted_by_the_sandbox_tokenizer(sandbox: Any) -> None:
    with sandbox.client() as http:
        keys = http.get("/assets/keys.json").json()
        encrypted = encrypt_pan("4000000000009995", load_ta_keys(keys, "sandbox"))
        card = {"encrypted_pan": encrypted, "exp_month": "01", "exp_year": "2031", "cvv": "999"}
        r = http.post(
            "/v1/tokens",
            json={"card": card},
            headers={"apikey": sandbox.credentials.api_access_key},
        )
    assert r.status_code == 200, r.text
    assert r.json()["card"]["last4"] == "9995"


def test_the_sandbox_encrypted_pan_decrypts_with_ours() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    theirs = sandbox_mod.encrypt_pan("5555555555554444", ta_public_key_from_rsa(key.public_key()))
    assert decrypt_pan(theirs, key) == "5555555555554444"
