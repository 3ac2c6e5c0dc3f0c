"""Hosted Checkout: session API, hosted page, paying through the Ecommerce charge logic,
expiry on the sandbox clock, no double payment, and the signed webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from cloverpay.sandbox import Sandbox, SandboxServer

from .webhook_receiver import Receiver

APPROVE = "4242 4242 4242 4242"
DECLINE = "4005571702222222"
SUCCESS = "https://shop.example/ok?session={CHECKOUT_SESSION_ID}"
FAILURE = "https://shop.example/failed"


@pytest.fixture
def hc(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """In-process client with the bearer token and X-Clover-Merchant-Id preset."""
    with sandbox.client(headers={"X-Clover-Merchant-Id": sandbox.credentials.merchant_id}) as c:
        yield c


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def _cart(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer": {"email": "a@example.com", "firstName": "Alex", "lastName": "Smith"},
        "shoppingCart": {
            "lineItems": [
                {"name": "Orange juice", "price": 600, "unitQty": 2, "note": "No pulp"},
                {"name": "Bagel", "price": 250},
            ]
        },
        "redirectUrls": {"success": SUCCESS, "failure": FAILURE},
    }
    body.update(extra)
    return body


def _create(hc: httpx.Client, body: dict[str, Any] | None = None) -> dict[str, Any]:
    r = hc.post("/invoicingcheckoutservice/v1/checkouts", json=body or _cart())
    assert r.status_code == 200, r.text
    return dict(r.json())


def _pay(
    client: httpx.Client, session_id: str, number: str = APPROVE, **extra: str
) -> httpx.Response:
    form = {"name": "Alex Smith", "number": number, "exp": "12/30", "cvv": "123", "zip": "94085"}
    form.update(extra)
    return client.post(f"/checkout/{session_id}/pay", data=form)


def _charges(hc: httpx.Client) -> list[dict[str, Any]]:
    return list(hc.get("/v1/charges", params={"limit": 100}).json()["data"])


@pytest.mark.parametrize(
    ("cart", "field"),
    [
        ({"lineItems": []}, "shoppingCart.lineItems"),
        ({"lineItems": [{"name": "x" * 127, "price": 1}]}, "shoppingCart.lineItems[0].name"),
        ({"lineItems": [{"name": "a", "price": -1}]}, "shoppingCart.lineItems[0].price"),
        ({"lineItems": [{"name": "a", "price": 1.5}]}, "shoppingCart.lineItems[0].price"),
        ({"lineItems": [{"name": "a", "price": 1, "unitQty": 0}]}, "unitQty"),
        ({"lineItems": [{"price": 1}]}, "shoppingCart.lineItems[0].name"),
        ({"lineItems": [{"name": "a", "price": 0}]}, "total"),
    ],
)
def test_create_validation_names_the_field(
    hc: httpx.Client, cart: dict[str, Any], field: str
) -> None:
    r = hc.post("/invoicingcheckoutservice/v1/checkouts", json={"shoppingCart": cart})
    assert r.status_code == 400
    assert field in r.json()["message"]


def test_create_needs_token_and_merchant_header(sandbox: Sandbox, http: httpx.Client) -> None:
    r = http.post("/invoicingcheckoutservice/v1/checkouts", json=_cart())
    assert r.status_code == 400
    assert "X-Clover-Merchant-Id" in r.json()["message"]
    r = http.post(
        "/invoicingcheckoutservice/v1/checkouts",
        json=_cart(),
        headers={"X-Clover-Merchant-Id": "SOMEONEELSE12"},
    )
    assert r.status_code == 401
    with httpx.Client(transport=sandbox.sync_transport(), base_url=sandbox.base_url) as anon:
        r = anon.post(
            "/invoicingcheckoutservice/v1/checkouts",
            json=_cart(),
            headers={"X-Clover-Merchant-Id": sandbox.credentials.merchant_id},
        )
        assert r.status_code == 401
        assert r.json() == {"message": "401 Unauthorized"}


def test_create_session_shape(hc: httpx.Client, sandbox: Sandbox) -> None:
    body = _create(hc)
    sid = body["checkoutSessionId"]
    assert str(uuid.UUID(sid)) == sid
    assert body["href"] == f"{sandbox.base_url}/checkout/{sid}"
    assert body["expirationTime"] - body["createdTime"] == 15 * 60 * 1000
    status = hc.get(f"/invoicingcheckoutservice/v1/checkouts/{sid}").json()
    assert status["status"] == "OPEN"
    assert status["amount"] == 2 * 600 + 250
    missing = hc.get(f"/invoicingcheckoutservice/v1/checkouts/{uuid.uuid4()}")
    assert missing.status_code == 404


def test_page_shows_the_cart(hc: httpx.Client) -> None:
    sid = _create(hc)["checkoutSessionId"]
    page = hc.get(f"/checkout/{sid}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Orange juice" in page.text
    assert "× 2" in page.text
    assert "$14.50" in page.text
    assert f'action="/checkout/{sid}/pay"' in page.text
    assert hc.get(f"/checkout/{uuid.uuid4()}").status_code == 404


def test_pay_charges_once_and_redirects(hc: httpx.Client, sandbox: Sandbox) -> None:
    sid = _create(hc)["checkoutSessionId"]
    r = _pay(hc, sid)
    assert r.status_code == 303
    assert r.headers["location"] == f"https://shop.example/ok?session={sid}"
    status = hc.get(f"/invoicingcheckoutservice/v1/checkouts/{sid}").json()
    assert status["status"] == "PAID"
    charges = _charges(hc)
    assert len(charges) == 1
    charge = charges[0]
    assert charge["id"] == status["paymentId"]
    assert charge["amount"] == 1450
    assert charge["status"] == "succeeded"
    assert charge["source"]["last4"] == "4242"
    assert charge["metadata"]["checkoutSessionId"] == sid

    again = _pay(hc, sid)
    assert again.status_code == 409
    assert "Already paid" in again.text
    page = hc.get(f"/checkout/{sid}")
    assert page.status_code == 409
    assert len(_charges(hc)) == 1
    events = json.dumps(hc.get("/_sandbox/events").json())
    assert "4242424242424242" not in events


def test_decline_redirects_to_failure_and_allows_retry(hc: httpx.Client) -> None:
    sid = _create(hc)["checkoutSessionId"]
    r = _pay(hc, sid, number=DECLINE)
    assert r.status_code == 303
    assert r.headers["location"] == FAILURE
    assert hc.get(f"/invoicingcheckoutservice/v1/checkouts/{sid}").json()["status"] == "OPEN"
    assert [c["status"] for c in _charges(hc)] == ["failed"]
    ok = _pay(hc, sid)
    assert ok.status_code == 303
    assert hc.get(f"/invoicingcheckoutservice/v1/checkouts/{sid}").json()["status"] == "PAID"


def test_decline_without_failure_url_shows_the_page_again(hc: httpx.Client) -> None:
    sid = _create(hc, _cart(redirectUrls={}))["checkoutSessionId"]
    r = _pay(hc, sid, number=DECLINE)
    assert r.status_code == 400
    assert 'class="error"' in r.text
    ok = _pay(hc, sid)
    assert ok.headers["location"] == f"/checkout/{sid}/done"
    assert "Payment approved" in hc.get(f"/checkout/{sid}/done").text


def test_bad_card_is_refused_before_any_charge(hc: httpx.Client) -> None:
    sid = _create(hc)["checkoutSessionId"]
    r = _pay(hc, sid, number="4242424242424241")
    assert r.status_code == 400
    assert 'class="error"' in r.text
    assert "4242424242424241" not in r.text
    r = _pay(hc, sid, exp="01/20")
    assert r.status_code == 400
    assert _charges(hc) == []
    assert hc.get(f"/invoicingcheckoutservice/v1/checkouts/{sid}").json()["status"] == "OPEN"


def test_session_expires_after_15_minutes(hc: httpx.Client) -> None:
    sid = _create(hc)["checkoutSessionId"]
    hc.post("/_sandbox/clock/advance", json={"seconds": 14 * 60})
    assert hc.get(f"/checkout/{sid}").status_code == 200
    hc.post("/_sandbox/clock/advance", json={"seconds": 61})
    page = hc.get(f"/checkout/{sid}")
    assert page.status_code == 410
    assert "expired" in page.text
    r = _pay(hc, sid)
    assert r.status_code == 410
    assert _charges(hc) == []
    assert hc.get(f"/invoicingcheckoutservice/v1/checkouts/{sid}").json()["status"] == "EXPIRED"


def test_tax_and_tip(hc: httpx.Client) -> None:
    cart = {
        "lineItems": [
            {"name": "Taxed", "price": 1000, "taxRates": [{"name": "CO", "rate": 1000000}]},
            {"name": "Default rate", "price": 500},
        ],
        "defaultTaxRates": [{"name": "Half", "rate": 500000}],
    }
    sid = _create(hc, _cart(shoppingCart=cart, tips={"enabled": True}))["checkoutSessionId"]
    page = hc.get(f"/checkout/{sid}").text
    assert 'name="tip"' in page
    assert hc.get(f"/invoicingcheckoutservice/v1/checkouts/{sid}").json()["amount"] == 1625
    assert _pay(hc, sid, tip="abc").status_code == 400
    assert _pay(hc, sid, tip="2.50").status_code == 303
    charge = _charges(hc)[0]
    assert charge["amount"] == 1625
    assert charge["tax_amount"] == 125
    assert charge["tip_amount"] == 250


def test_signed_webhook_on_approval_and_decline(hc: httpx.Client, receiver: Receiver) -> None:
    r = hc.post("/_sandbox/webhooks/hosted_checkout", json={"url": receiver.url})
    assert r.status_code == 200
    secret = r.json()["signingSecret"]
    sid = _create(hc)["checkoutSessionId"]
    _pay(hc, sid, number=DECLINE)
    _pay(hc, sid)
    receiver.wait_for(lambda got: len(got) >= 2)
    by_status = {}
    for got in receiver.received:
        t_part, v1_part = got.headers["clover-signature"].split(",")
        t = t_part.removeprefix("t=")
        expected = hmac.new(secret.encode(), f"{t}.".encode() + got.body, hashlib.sha256)
        assert v1_part == f"v1={expected.hexdigest()}"
        body = json.loads(got.body)
        by_status[body["status"]] = body
    approved = by_status["APPROVED"]
    assert approved["type"] == "PAYMENT"
    assert approved["data"] == sid
    assert approved["merchantId"] == hc.headers["X-Clover-Merchant-Id"]
    assert (
        approved["id"]
        == hc.get(f"/invoicingcheckoutservice/v1/checkouts/{sid}").json()["paymentId"]
    )
    assert approved["message"] == "Approved for 1450"
    assert isinstance(approved["createdTime"], int)
    assert by_status["DECLINED"]["data"] == sid


def test_pay_in_a_browser_like_flow_over_a_real_socket(sandbox: Sandbox) -> None:
    with SandboxServer(sandbox) as server:
        creds = server.credentials
        headers = {
            "Authorization": f"Bearer {creds.access_token}",
            "X-Clover-Merchant-Id": creds.merchant_id,
        }
        with httpx.Client(timeout=10) as browser:
            created = browser.post(
                f"{server.base_url}/invoicingcheckoutservice/v1/checkouts",
                json=_cart(),
                headers=headers,
            ).json()
            href = created["href"]
            assert urlsplit(href).netloc == urlsplit(server.base_url).netloc
            page = browser.get(href)
            assert page.status_code == 200
            assert "Bagel" in page.text
            r = browser.post(
                f"{href}/pay",
                data={"number": APPROVE, "exp": "12/30", "cvv": "123", "zip": "94085"},
            )
            assert r.status_code == 303
            assert created["checkoutSessionId"] in r.headers["location"]


def test_concurrent_submits_charge_once(sandbox: Sandbox) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with SandboxServer(sandbox) as server:
        creds = server.credentials
        headers = {
            "Authorization": f"Bearer {creds.access_token}",
            "X-Clover-Merchant-Id": creds.merchant_id,
        }
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=20) as client:
            sid = _create(client)["checkoutSessionId"]

            def submit(_: int) -> int:
                with httpx.Client(base_url=server.base_url, timeout=20) as browser:
                    return _pay(browser, sid).status_code

            with ThreadPoolExecutor(max_workers=8) as pool:
                statuses = list(pool.map(submit, range(16)))
            assert statuses.count(303) == 1
            assert statuses.count(409) == 15
            assert len(_charges(client)) == 1


def test_page_headers_forbid_framing_and_scripts(hc: httpx.Client) -> None:
    sid = _create(hc, _cart(redirectUrls={"cancel": "https://shop.example/cancel"}))[
        "checkoutSessionId"
    ]
    page = hc.get(f"/checkout/{sid}")
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "<script" not in page.text
    assert 'href="https://shop.example/cancel"' in page.text


@pytest.mark.parametrize(("clock", "shift"), [("wall", 0), ("sandbox", 86400)])
def test_signature_timestamp_clock(
    hc: httpx.Client, receiver: Receiver, clock: str, shift: int
) -> None:
    import time

    hc.post("/_sandbox/webhooks/settings", json={"signature_clock": clock})
    hc.post("/_sandbox/webhooks/hosted_checkout", json={"url": receiver.url})
    hc.post("/_sandbox/clock/advance", json={"seconds": 86400})
    sid = _create(hc)["checkoutSessionId"]
    _pay(hc, sid)
    receiver.wait_for(lambda got: len(got) >= 1)
    t = int(receiver.received[0].headers["clover-signature"].split(",")[0].removeprefix("t="))
    assert abs(t - (time.time() + shift)) < 3600  # which clock, not how fast
    bad = hc.post("/_sandbox/webhooks/settings", json={"signature_clock": "moon"})
    assert bad.status_code == 400


@pytest.mark.parametrize(
    "card",
    [
        {"number": "4242424242424242", "exp_month": "12", "exp_year": "30", "cvv": "123"},
        {
            "number": "4005571702222222",
            "exp_month": "1",
            "exp_year": "2031",
            "cvv": "9999",
            "name": "Pat",
            "address_zip": "94085",
        },
        {"number": "4242424242424241", "exp_month": "12", "exp_year": "30", "cvv": "123"},
        {"number": "4242424242424242", "exp_month": "13", "exp_year": "30", "cvv": "123"},
        {"number": "4242424242424242", "exp_month": "12", "exp_year": "30", "cvv": "12"},
    ],
)
def test_hosted_page_tokenizes_exactly_like_the_tokenizer(
    hc: httpx.Client, sandbox: Sandbox, card: dict[str, str]
) -> None:
    """The page's server-side tokenization and POST /v1/tokens agree (token or error)."""
    from cloverpay.sandbox import SandboxError
    from cloverpay.sandbox.routes._bridge import tokenize_card

    r = hc.post(
        "/v1/tokens", json={"card": card}, headers={"apikey": sandbox.credentials.api_access_key}
    )
    if r.status_code != 200:
        with pytest.raises(SandboxError) as refused:
            tokenize_card(sandbox.state, sandbox.state.merchant, dict(card))
        assert r.status_code == refused.value.status
        assert r.json()["error"]["code"] == refused.value.code
        return
    token = tokenize_card(sandbox.state, sandbox.state.merchant, dict(card))
    ours = token.to_json()
    theirs = r.json()
    for volatile in ("id", "created"):
        ours.pop(volatile)
        theirs.pop(volatile)
    assert ours == theirs
    stored = sandbox.state.ecommerce.tokens.objects[r.json()["id"]]
    assert (token.decline_code, token.cvc_check) == (stored.decline_code, stored.cvc_check)
