"""Client construction, validation of arguments, and that secrets never show."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from cloverpay.api import (
    AsyncCloverClient,
    CardDeclinedError,
    CloverClient,
    ConfigurationError,
    Limiter,
    OutcomeUnknownError,
    RateLimit,
)

from .fake import CHARGE, FakeClover, ecom_error, json_response

TOKEN = "secret-access-token-0123456789"
KEY = "secret-pakms-key-0123456789"
MID = "MID4567890123"


def client(fake: FakeClover, **kw: Any) -> CloverClient:
    kw.setdefault("client_ip", "198.51.100.1")
    return CloverClient(
        TOKEN,
        merchant_id=MID,
        api_access_key=KEY,
        base_url="http://clover.test",
        transport=fake.transport(),
        **kw,
    )


def test_repr_hides_secrets(fake: FakeClover) -> None:
    for c in (client(fake), AsyncCloverClient(TOKEN, api_access_key=KEY)):
        text = repr(c)
        assert TOKEN not in text
        assert KEY not in text
        assert "6789" in text  # last four only


def test_errors_and_logs_hide_secrets(fake: FakeClover, caplog: pytest.LogCaptureFixture) -> None:
    pan = "4005571702222222"
    fake.add("POST", "/v1/tokens", ecom_error(400, "card_declined", message=f"declined {pan}"))
    fake.add("GET", "/v1/charges/X", json_response(503, {}), json_response(200, CHARGE))
    c = client(fake, retry=1)
    c._runner.sleep = lambda s: None
    with caplog.at_level(logging.DEBUG, logger="cloverpay"):
        with pytest.raises(CardDeclinedError) as info:
            c.tokens.create(card={"number": pan, "exp_month": "12", "exp_year": "30", "cvv": "123"})
        c.charges.retrieve("X")
    texts = [str(info.value), repr(info.value), *(r.getMessage() for r in caplog.records)]
    assert len(caplog.records) >= 2
    for text in texts:
        assert pan not in text
        assert TOKEN not in text
        assert KEY not in text
        assert "123" not in text


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"amount": -1, "currency": "usd", "source": "clv_1"}, "amount"),
        ({"amount": True, "currency": "usd", "source": "clv_1"}, "amount"),
        ({"amount": "10", "currency": "usd", "source": "clv_1"}, "amount"),
        ({"currency": "usd", "source": "clv_1"}, "amount"),
        ({"amount": 1, "currency": "dollars", "source": "clv_1"}, "currency"),
        ({"amount": 1, "source": "clv_1"}, "currency"),
        ({"amount": 1, "currency": "usd"}, "source"),
        ({"amount": 1, "currency": "usd", "source": "alternate_tender"}, "tender"),
        ({"amount": 1, "currency": "usd", "source": "c", "tip_amount": 1.5}, "tip_amount"),
        ({"amount": 1, "currency": "usd", "source": "c", "idempotency_key": ""}, "idempotency_key"),
    ],
)
def test_charge_arguments_are_checked_before_sending(
    fake: FakeClover, kwargs: dict[str, Any], param: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        client(fake).charges.create(**kwargs)
    assert info.value.param == param
    assert param in str(info.value)
    assert fake.requests == []


@pytest.mark.parametrize(
    ("call", "param"),
    [
        (lambda c: c.charges.retrieve("../admin"), "charge_id"),
        (lambda c: c.charges.retrieve(""), "charge_id"),
        (lambda c: c.orders.pay("O1"), "source"),
        (lambda c: c.refunds.create(charge=None), "charge"),
        (lambda c: c.tokens.create(), "card"),
        (
            lambda c: c.tokens.create(card={"exp_month": "1", "exp_year": "30", "cvv": "1"}),
            "card.number",
        ),
        (
            lambda c: c.tokens.create(
                card={
                    "number": "4242",
                    "encrypted_pan": "x",
                    "exp_month": "1",
                    "exp_year": "30",
                    "cvv": "1",
                }
            ),
            "card.number",
        ),
        (
            lambda c: c.tokens.create(
                card={"encrypted_pan": "x", "exp_month": "1", "exp_year": "30", "cvv": "1"}
            ),
            "card.first6",
        ),
        (
            lambda c: c.tokens.create(
                card={"number": "4242 4242", "exp_month": "1", "exp_year": "30"}
            ),
            "card.cvv",
        ),
        (lambda c: c.customers.create(), "email"),
        (lambda c: c.orders.create(currency="usd", items=[{"amount": 1}]), "items[0].type"),
        (lambda c: c.recurring.plans.create(name="x", amount=1), "interval"),
        (lambda c: c.recurring.subscriptions.create("P1"), "customer_id"),
        (
            lambda c: c.checkout.sessions.create(shopping_cart={"line_items": []}),
            "shopping_cart.line_items",
        ),
        (
            lambda c: c.checkout.sessions.create(
                shopping_cart={"line_items": [{"name": "x" * 130, "price": 1}]}
            ),
            "shopping_cart.line_items[0].name",
        ),
    ],
)
def test_bad_input_names_the_field(fake: FakeClover, call: Any, param: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        call(client(fake))
    assert info.value.param == param
    assert fake.requests == []


def test_card_ints_are_normalised(fake: FakeClover) -> None:
    fake.add("POST", "/v1/tokens", json_response(200, {"id": "clv_1"}))
    client(fake).tokens.create(
        card={"number": "4242 4242 4242 4242", "exp_month": 3, "exp_year": 2030, "cvv": "123"}
    )  # type: ignore[typeddict-item]
    import json

    card = json.loads(fake.requests[0].content)["card"]
    assert card["number"] == "4242424242424242"
    assert (card["exp_month"], card["exp_year"]) == ("03", "2030")


def test_merchant_id_needed_for_platform_and_recurring(fake: FakeClover) -> None:
    c = CloverClient(TOKEN, base_url="http://clover.test", transport=fake.transport())
    for call in (lambda: c.platform.merchant(), lambda: c.recurring.plans.retrieve("P1")):
        with pytest.raises(ConfigurationError) as info:
            call()
        assert info.value.param == "merchant_id"
    with pytest.raises(ConfigurationError):
        CloverClient(TOKEN, merchant_id="bad/id")


def test_region_without_ecommerce_fails_clearly() -> None:
    c = CloverClient(
        TOKEN,
        environment="production",
        region="eu",
        transport=httpx.MockTransport(lambda r: httpx.Response(500)),
    )
    with pytest.raises(ConfigurationError, match="ecommerce"):
        c.charges.retrieve("X")


def test_constructor_conflicts() -> None:
    with pytest.raises(ConfigurationError):
        CloverClient(TOKEN, http_client=httpx.Client(), transport=httpx.MockTransport(print))


def test_shared_limiter(fake: FakeClover) -> None:
    limiter = Limiter(RateLimit(requests_per_second=100, max_in_flight=2))
    a = client(fake, rate_limit=limiter)
    b = client(fake, rate_limit=limiter)
    assert a._runner.limiter is b._runner.limiter is limiter
    assert client(fake)._runner.limiter is not None  # on by default


def test_default_hosts_for_sandbox() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return json_response(200, {"id": "X", "apiAccessKey": "k"})

    c = CloverClient(
        TOKEN,
        merchant_id=MID,
        environment="sandbox",
        client_ip="1.1.1.1",
        transport=httpx.MockTransport(handler),
    )
    c.charges.retrieve("X")
    c.pakms.get()
    c.tokens.create(
        card={"number": "4242424242424242", "exp_month": "1", "exp_year": "30", "cvv": "123"}
    )
    c.platform.merchant()
    c.recurring.plans.retrieve("X")
    assert seen == [
        "https://scl-sandbox.dev.clover.com/v1/charges/X",
        "https://scl-sandbox.dev.clover.com/pakms/apikey",
        "https://token-sandbox.dev.clover.com/v1/tokens",
        f"https://apisandbox.dev.clover.com/v3/merchants/{MID}",
        "https://sandbox.dev.clover.com/recurring/v1/plans/X",
    ]


@pytest.mark.parametrize("ip", ["", "not-an-ip", "1.2.3.4\r\nx-evil: 1", "1.2.3.4,", "999.1.1.1"])
def test_bad_client_ip_is_refused(fake: FakeClover, ip: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        client(fake).charges.create(amount=1, currency="usd", source="clv_1", client_ip=ip)
    assert info.value.param == "client_ip"
    with pytest.raises(ConfigurationError):
        CloverClient(TOKEN, client_ip=ip)
    assert fake.requests == []


def test_good_client_ips(fake: FakeClover) -> None:
    fake.always("POST", "/v1/charges", json_response(200, CHARGE))
    for ip in ["203.0.113.7", "2001:db8::1", "203.0.113.7, 10.0.0.1"]:
        client(fake).charges.create(amount=1, currency="usd", source="clv_1", client_ip=ip)
    assert [r.headers["x-forwarded-for"] for r in fake.requests] == [
        "203.0.113.7",
        "2001:db8::1",
        "203.0.113.7, 10.0.0.1",
    ]


def test_with_options_shares_connections_and_limiter(fake: FakeClover) -> None:
    fake.always("POST", "/v1/charges", ecom_error(503, "processing_error"))
    base = client(fake, retry=3)
    patient = base.with_options(retry=0, timeout=120, client_ip="203.0.113.9")
    assert patient.http_client is base.http_client
    assert patient._runner.limiter is base._runner.limiter
    assert patient._core.retry.max_retries == 0
    assert base._core.retry.max_retries == 3
    base._runner.sleep = lambda s: None
    with pytest.raises(OutcomeUnknownError):
        patient.charges.create(amount=1, currency="usd", source="clv_1")
    assert len(fake.requests) == 1  # no retries on the clone
    assert fake.requests[0].headers["x-forwarded-for"] == "203.0.113.9"
    assert fake.requests[0].extensions["timeout"]["read"] == 120
    patient.close()
    assert not base.http_client.is_closed
    with pytest.raises(ConfigurationError):
        base.with_options(client_ip="nope")


@pytest.mark.anyio
async def test_async_with_options(fake: FakeClover) -> None:
    fake.add("GET", "/v1/charges/X", json_response(200, CHARGE))
    base = AsyncCloverClient(TOKEN, base_url="http://clover.test", transport=fake.async_transport())
    clone = base.with_options(timeout=5)
    assert isinstance(clone, AsyncCloverClient)
    assert (await clone.charges.retrieve("X")).id == CHARGE["id"]
    await clone.aclose()
    assert not base.http_client.is_closed
    await base.aclose()
