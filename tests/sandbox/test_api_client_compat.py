"""Our own client (cloverpay.api) against the sandbox's OAuth, Hosted Checkout, Recurring,
Platform and webhook surfaces: both sides of every wire shape agree."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cloverpay.api import (
    AppWebhook,
    CloverClient,
    OAuthClient,
    OAuthError,
    VerificationRequest,
    parse_app_webhook,
    parse_checkout_event,
    verify_app_webhook,
    verify_checkout_signature,
)
from cloverpay.sandbox import Sandbox

from .webhook_receiver import Receiver

CARD = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2030", "cvv": "123"}


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[CloverClient]:
    c = sandbox.credentials
    cl = CloverClient(
        c.access_token,
        merchant_id=c.merchant_id,
        api_access_key=c.api_access_key,
        base_url=c.base_url,
        transport=sandbox.sync_transport(),
        client_ip="203.0.113.7",
    )
    yield cl
    cl.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def test_oauth_client_exchange_and_single_use_refresh(sandbox: Sandbox) -> None:
    c = sandbox.credentials
    with OAuthClient(
        c.app_id, c.app_secret, base_url=c.base_url, transport=sandbox.sync_transport()
    ) as oauth:
        url = oauth.authorize_url("https://app.example/cb", state="s1")
        with httpx.Client(transport=sandbox.sync_transport()) as browser:
            r = browser.get(url + "&sandbox_auto_approve=1")
        assert r.status_code == 302
        code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
        pair = oauth.exchange_code(code)
        assert pair.refresh_token is not None
        fresh = oauth.refresh(pair.refresh_token)
        assert fresh.access_token != pair.access_token
        with pytest.raises(OAuthError) as err:
            oauth.refresh(pair.refresh_token)
        assert err.value.status_code == 401


def test_recurring_checkout_platform_models_parse(client: CloverClient, sandbox: Sandbox) -> None:
    token = client.tokens.create(card=CARD)
    customer = client.customers.create(email="a@example.com", source=token.id)
    plan = client.recurring.plans.create(name="Gold", amount=1000, interval="MONTH")
    sub = client.recurring.subscriptions.create(
        plan.id, customer_id=customer.id, collection_method="CHARGE_AUTOMATICALLY"
    )
    assert sub.customer_uuid == customer.id
    assert [s.id for s in client.recurring.subscriptions.list()] == [sub.id]
    assert client.recurring.subscriptions.update(sub.id, amount=500).amount == 500
    canceled = client.recurring.subscriptions.cancel(sub.id)
    assert getattr(canceled, "active", None) is False

    session = client.checkout.sessions.create(
        shopping_cart={"line_items": [{"name": "Tea", "price": 300, "unit_qty": 2}]}
    )
    assert session.href.endswith(session.checkout_session_id)
    assert client.checkout.sessions.retrieve(session.checkout_session_id).checkout_session_id

    merchant = client.platform.merchant()
    assert merchant.id == sandbox.credentials.merchant_id
    payments = list(client.platform.payments.list())
    assert len(payments) == 1  # the subscription's first period, billed at creation
    one = client.platform.payments.retrieve(payments[0].id)
    assert one.amount == 1000
    assert one.order is not None
    order = client.platform.orders.retrieve(one.order.id)
    assert order.total == 1000
    assert len(list(client.platform.devices.list())) == 1


def test_webhooks_verify_with_the_client_helpers(
    client: CloverClient, sandbox: Sandbox, receiver: Receiver
) -> None:
    with sandbox.client() as control:
        control.post("/_sandbox/webhooks/settings", json={"batch_window": 0.05})
        secret = control.post(
            "/_sandbox/webhooks/hosted_checkout", json={"url": receiver.url}
        ).json()["signingSecret"]
        app = control.post("/_sandbox/webhooks", json={"url": receiver.url}).json()
        handshake = parse_app_webhook(receiver.received[0].body)
        assert isinstance(handshake, VerificationRequest)
        assert handshake.verification_code == app["verificationCode"]
        auth = control.post(
            "/_sandbox/webhooks/verify", json={"verificationCode": handshake.verification_code}
        ).json()["authCode"]
        session = client.checkout.sessions.create(
            shopping_cart={"line_items": [{"name": "Tea", "price": 300}]}
        )
        paid = control.post(
            f"/checkout/{session.checkout_session_id}/pay",
            data={"number": CARD["number"], "exp": "12/30", "cvv": "123"},
        )
        assert paid.status_code == 303
        control.post("/_sandbox/webhooks/flush")
    receiver.wait_for(
        lambda got: (
            any("clover-signature" in r.headers for r in got)
            and any("x-clover-auth" in r.headers for r in got)
        )
    )
    signed = next(r for r in receiver.received if "clover-signature" in r.headers)
    verify_checkout_signature(signed.body, signed.headers["clover-signature"], secret)
    event = parse_checkout_event(signed.body)
    assert event.data == session.checkout_session_id
    assert event.status == "APPROVED"
    notice = next(r for r in receiver.received if "x-clover-auth" in r.headers)
    verify_app_webhook(notice.headers["x-clover-auth"], auth)
    parsed = parse_app_webhook(notice.body)
    assert isinstance(parsed, AppWebhook)
    assert parsed.app_id == sandbox.credentials.app_id
    assert {e.object_type for e in parsed.events} >= {"P", "O"}
