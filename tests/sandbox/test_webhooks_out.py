"""Outgoing webhooks: signing, handshake, batching, retries, delivery log.

The receiver is a real HTTP server on 127.0.0.1 (tests/sandbox/webhook_receiver.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator

import httpx
import pytest

from cloverpay.sandbox import Sandbox, SandboxServer
from cloverpay.sandbox._webhooks_out import (
    WebhookDispatcher,
    WebhookSettings,
    WebhookStore,
    sign_hosted_checkout,
)

from .webhook_receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def _fast_store() -> WebhookStore:
    return WebhookStore(
        settings=WebhookSettings(batch_window=0.05, backoff_base=0.01, backoff_cap=0.05)
    )


def test_signature_matches_clover_recipe() -> None:
    body = b'{"a":1}'
    header = sign_hosted_checkout("s3cret", body, 1700000000)
    t, v1 = header.split(",")
    assert t == "t=1700000000"
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert v1 == f"v1={expected}"
    assert sign_hosted_checkout("other", body, 1700000000) != header


@pytest.mark.anyio
async def test_handshake_then_confirm_then_batched_delivery(receiver: Receiver) -> None:
    store = _fast_store()
    dispatcher = WebhookDispatcher(lambda: store)
    try:
        config = store.new_app_config("APPID", receiver.url)
        await dispatcher.handshake(config)
        assert config.handshake_status == 200
        first = json.loads(receiver.received[0].body)
        assert first == {"verificationCode": config.verification_code}
        assert "x-clover-auth" not in receiver.received[0].headers

        # Not verified yet: events are dropped, nothing is sent.
        dispatcher.notify("MID1", "P:AAA", "CREATE", 1)
        with pytest.raises(ValueError, match="verificationCode"):
            store.confirm("wrong")
        store.confirm(config.verification_code)
        assert config.auth_code

        dispatcher.notify("MID1", "P:BBB", "CREATE", 2)
        dispatcher.notify("MID1", "O:CCC", "UPDATE", 3)
        dispatcher.notify("MID2", "C:DDD", "DELETE", 4)
        dispatcher.flush()
        receiver.wait_for(lambda got: len(got) >= 2)
        note = receiver.received[1]
        assert note.headers["x-clover-auth"] == config.auth_code
        payload = json.loads(note.body)
        assert payload["appId"] == "APPID"
        assert payload["merchants"]["MID1"] == [
            {"objectId": "P:BBB", "type": "CREATE", "ts": 2},
            {"objectId": "O:CCC", "type": "UPDATE", "ts": 3},
        ]
        assert payload["merchants"]["MID2"] == [{"objectId": "C:DDD", "type": "DELETE", "ts": 4}]
        kinds = [d.kind for d in store.deliveries]
        assert kinds == ["verification", "app"]
    finally:
        dispatcher.stop()


def test_retries_after_500_until_delivered(receiver: Receiver) -> None:
    receiver.fail_first = 2
    store = _fast_store()
    store.set_hosted_checkout("MID1", receiver.url, "secret")
    dispatcher = WebhookDispatcher(lambda: store)
    try:
        assert dispatcher.send_hosted_checkout("MID1", {"status": "APPROVED"}, 1700000000)
        receiver.wait_for(lambda got: len(got) >= 3)
        delivery = store.deliveries[0]
        _wait(lambda: delivery.state == "delivered")
        assert [a.status_code for a in delivery.attempts] == [500, 500, 200]
        bodies = {r.body for r in receiver.received}
        assert len(bodies) == 1  # the same signed body each time
        sig = receiver.received[-1].headers["clover-signature"]
        assert sig == sign_hosted_checkout("secret", receiver.received[-1].body, 1700000000)
        assert not dispatcher.send_hosted_checkout("NOPE", {}, 1)
    finally:
        dispatcher.stop()


def test_gives_up_after_max_attempts(receiver: Receiver) -> None:
    receiver.fail_first = 100
    store = _fast_store()
    store.settings.max_attempts = 3
    store.set_hosted_checkout("MID1", receiver.url)
    dispatcher = WebhookDispatcher(lambda: store)
    try:
        dispatcher.send_hosted_checkout("MID1", {"status": "DECLINED"}, 1)
        delivery = store.deliveries[0]
        _wait(lambda: delivery.state == "failed")
        assert len(delivery.attempts) == 3
        assert delivery.to_json()["attempts"][0]["statusCode"] == 500
    finally:
        dispatcher.stop()


def test_unreachable_url_is_logged_as_error() -> None:
    store = _fast_store()
    store.settings.max_attempts = 2
    store.set_hosted_checkout("MID1", "http://127.0.0.1:9/closed")
    dispatcher = WebhookDispatcher(lambda: store)
    try:
        dispatcher.send_hosted_checkout("MID1", {}, 1)
        delivery = store.deliveries[0]
        _wait(lambda: delivery.state == "failed")
        assert all(a.status_code is None and a.error for a in delivery.attempts)
    finally:
        dispatcher.stop()


def _wait(predicate: object, timeout: float = 15.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("condition not met")


# -- through the control API ---------------------------------------------------------------


def _fast(http: object) -> None:
    assert isinstance(http, httpx.Client)
    r = http.post(
        "/_sandbox/webhooks/settings",
        json={"batch_window": 0.05, "backoff_base": 0.01, "backoff_cap": 0.05},
    )
    assert r.status_code == 200, r.text


def test_control_api_handshake_confirm_and_notify(
    http: httpx.Client, sandbox: Sandbox, receiver: Receiver
) -> None:
    _fast(http)
    r = http.post("/_sandbox/webhooks", json={"url": receiver.url})
    assert r.status_code == 200, r.text
    config = r.json()
    assert config["verified"] is False
    assert config["authCode"] is None
    assert config["handshakeStatus"] == 200
    sent = json.loads(receiver.received[0].body)
    assert sent == {"verificationCode": config["verificationCode"]}

    sandbox.state.notify("P", "DROPPED1", "CREATE")  # not verified: not sent
    bad = http.post("/_sandbox/webhooks/verify", json={"verificationCode": "nope"})
    assert bad.status_code == 400
    ok = http.post(
        "/_sandbox/webhooks/verify", json={"verificationCode": config["verificationCode"]}
    )
    assert ok.status_code == 200
    auth = ok.json()["authCode"]
    assert auth

    mid = sandbox.credentials.merchant_id
    sandbox.state.notify("P", "PAY1", "CREATE")
    sandbox.state.notify("O", "ORD1", "UPDATE")
    http.post("/_sandbox/webhooks/flush")
    receiver.wait_for(lambda got: len(got) >= 2)
    note = receiver.received[1]
    assert note.headers["x-clover-auth"] == auth
    body = json.loads(note.body)
    assert body["appId"] == sandbox.credentials.app_id
    assert [e["objectId"] for e in body["merchants"][mid]] == ["P:PAY1", "O:ORD1"]
    assert [e["type"] for e in body["merchants"][mid]] == ["CREATE", "UPDATE"]
    assert all(isinstance(e["ts"], int) for e in body["merchants"][mid])

    _wait(lambda: _states(http) == ["delivered", "delivered"])
    log = http.get("/_sandbox/webhooks/deliveries").json()["deliveries"]
    assert [d["kind"] for d in log] == ["verification", "app"]
    assert log[1]["attempts"][0]["statusCode"] == 200
    assert isinstance(log[1]["attempts"][0]["at"], int)


def _states(http: httpx.Client) -> list[str]:
    return [d["state"] for d in http.get("/_sandbox/webhooks/deliveries").json()["deliveries"]]


def test_app_webhook_retried_after_500(
    http: httpx.Client, sandbox: Sandbox, receiver: Receiver
) -> None:
    _fast(http)
    r = http.post("/_sandbox/webhooks", json={"url": receiver.url, "autoConfirm": True})
    assert r.json()["verified"] is True
    receiver.received.clear()
    receiver.fail_first = 3
    sandbox.state.notify("C", "CUST1", "DELETE")
    http.post("/_sandbox/webhooks/flush")
    receiver.wait_for(lambda got: len(got) >= 4)
    _wait(lambda: _states(http)[-1] == "delivered")
    app = [d for d in http.get("/_sandbox/webhooks/deliveries?kind=app").json()["deliveries"]]
    assert [a["statusCode"] for a in app[0]["attempts"]] == [500, 500, 500, 200]
    logged = http.get("/_sandbox/events", params={"kind": "webhook"}).json()["events"]
    assert [e["status"] for e in logged if e["webhook_kind"] == "app"] == [500, 500, 500, 200]
    assert r.json()["authCode"] not in json.dumps(logged)
    assert len({r.body for r in receiver.received}) == 1


def test_register_validation_and_failed_handshake(http: httpx.Client) -> None:
    assert http.post("/_sandbox/webhooks", json={"url": "ftp://x"}).status_code == 400
    r = http.post("/_sandbox/webhooks", json={"url": "http://127.0.0.1:9/closed"})
    assert r.status_code == 200
    assert r.json()["handshakeStatus"] is None
    assert r.json()["handshakeError"]
    auto = http.post(
        "/_sandbox/webhooks", json={"url": "http://127.0.0.1:9/closed", "autoConfirm": True}
    )
    assert auto.json()["verified"] is False  # nothing confirmed a code nobody received
    bad = http.post("/_sandbox/webhooks/settings", json={"max_attempts": 0})
    assert bad.status_code == 400


def test_control_api_over_a_real_socket(sandbox: Sandbox, receiver: Receiver) -> None:
    with SandboxServer(sandbox) as server, httpx.Client(base_url=server.base_url) as client:
        client.post("/_sandbox/webhooks/settings", json={"batch_window": 0.05})
        r = client.post("/_sandbox/webhooks", json={"url": receiver.url, "autoConfirm": True})
        assert r.json()["verified"] is True
        sandbox.state.notify("P", "PAYX", "CREATE")
        receiver.wait_for(lambda got: len(got) >= 2)  # sent after the batch window, unflushed
        assert json.loads(receiver.received[1].body)["merchants"]


def test_ecommerce_charge_notifies_the_app(
    http: httpx.Client, sandbox: Sandbox, receiver: Receiver
) -> None:
    _fast(http)
    http.post("/_sandbox/webhooks", json={"url": receiver.url, "autoConfirm": True})
    tok = http.post(
        "/v1/tokens",
        json={
            "card": {"number": "4242424242424242", "exp_month": "1", "exp_year": "39", "cvv": "123"}
        },
        headers={"apikey": sandbox.credentials.api_access_key},
    ).json()
    charge = http.post(
        "/v1/charges",
        json={"amount": 500, "currency": "usd", "source": tok["id"]},
        headers={"x-forwarded-for": "203.0.113.9"},
    ).json()
    http.post("/_sandbox/webhooks/flush")
    receiver.wait_for(lambda got: len(got) >= 2)
    body = json.loads(receiver.received[1].body)
    ids = [e["objectId"] for e in body["merchants"][sandbox.credentials.merchant_id]]
    assert f"P:{charge['id']}" in ids
    assert f"O:{charge['order']}" in ids
    assert "4242424242424242" not in receiver.received[1].body.decode()


def test_webhooks_work_again_after_a_reset(
    http: httpx.Client, sandbox: Sandbox, receiver: Receiver
) -> None:
    _fast(http)
    http.post("/_sandbox/webhooks", json={"url": receiver.url, "autoConfirm": True})
    http.post("/_sandbox/reset")
    assert http.get("/_sandbox/webhooks").json() == {"app": None}
    sandbox.state.notify("P", "GONE", "CREATE")  # nothing registered any more
    _fast(http)
    http.post("/_sandbox/webhooks", json={"url": receiver.url, "autoConfirm": True})
    sandbox.state.notify("P", "AFTER", "CREATE")
    http.post("/_sandbox/webhooks/flush")
    receiver.wait_for(lambda got: any(b"P:AFTER" in r.body for r in got))
    assert not any(b"P:GONE" in r.body for r in receiver.received)


def test_redeliver_and_retry_now(http: httpx.Client, receiver: Receiver) -> None:
    http.post("/_sandbox/webhooks/settings", json={"backoff_base": 3600, "backoff_cap": 3600})
    http.post("/_sandbox/webhooks/hosted_checkout", json={"url": receiver.url})
    sid = http.post(
        "/invoicingcheckoutservice/v1/checkouts",
        json={"shoppingCart": {"lineItems": [{"name": "x", "price": 100}]}},
        headers={"X-Clover-Merchant-Id": http.get("/_sandbox/credentials").json()["merchant_id"]},
    ).json()["checkoutSessionId"]
    receiver.fail_first = 1
    http.post(
        f"/checkout/{sid}/pay", data={"number": "4242424242424242", "exp": "12/30", "cvv": "123"}
    )
    receiver.wait_for(lambda got: len(got) >= 1)
    _wait(lambda: http.post("/_sandbox/webhooks/retry").json()["retrying"] == 1)
    receiver.wait_for(lambda got: len(got) >= 2)  # the hour-long backoff was cut short
    first = http.get("/_sandbox/webhooks/deliveries").json()["deliveries"][0]
    r = http.post(f"/_sandbox/webhooks/deliveries/{first['id']}/redeliver")
    assert r.status_code == 200
    receiver.wait_for(lambda got: len(got) >= 3)
    assert receiver.received[2].body == receiver.received[1].body
    assert (
        receiver.received[2].headers["clover-signature"]
        == receiver.received[1].headers["clover-signature"]
    )
    assert http.post("/_sandbox/webhooks/deliveries/nope/redeliver").status_code == 404
