"""Every resource method sends the right request and reads the answer — sync and async.

One table drives both clients, so the twin resource classes cannot drift apart.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from cloverpay.api import (
    AsyncCloverClient,
    Charge,
    CheckoutSession,
    CloverClient,
    Customer,
    DeletedObject,
    Merchant,
    Order,
    OrderReturn,
    PakmsKey,
    Payment,
    Plan,
    PlatformOrder,
    Refund,
    Subscription,
    Token,
    alternate_tender,
)

from .fake import CHARGE, FakeClover, json_response

MID = "MID4567890123"
TOKEN = "access-token-0123456789abcdef"
KEY = "pakms-public-key-0123456789"

ORDER = {
    "id": "96JN5MP2QJ47C",
    "object": "order",
    "amount": 1980,
    "currency": "usd",
    "status": "created",
    "items": [{"type": "sku", "amount": 1800}],
}
CUSTOMER = {"id": "SSHHCDEXTF550", "object": "customer", "email": "j@example.com"}
REFUND = {"id": "T6WW3H5DHHWN4", "object": "refund", "amount": 500, "charge": "HGZF4HB58BT62"}
PLAN = {
    "id": "PLAN12345678",
    "object": "plan",
    "name": "Gold",
    "amount": 999,
    "interval": "MONTH",
    "intervalCount": 1,
}
SUB = {"id": "SUB123456789", "object": "subscription", "customerUuid": "C1", "amount": 999}
SESSION = {
    "href": "https://x/checkout/u",
    "checkoutSessionId": "59283e4a-cade-4aba-b99d-e4d6c7c4b81a",
    "createdTime": 1,
    "expirationTime": 2,
}
TOKEN_OBJ = {
    "id": "clv_1TSTS89P1vANcEi3DXaQEck7",
    "object": "token",
    "card": {"first6": "424242", "last4": "4242", "brand": "VISA"},
}
CARD = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2030", "cvv": "123"}

# (name, call, method, path, reply, model, body expected (subset) or None, extra headers)
Case = tuple[str, Callable[[Any], Any], str, str, Any, type, dict[str, Any] | None, dict[str, str]]
CASES: list[Case] = [
    (
        "pakms.get",
        lambda c: c.pakms.get(),
        "GET",
        "/pakms/apikey",
        {"apiAccessKey": KEY},
        PakmsKey,
        None,
        {},
    ),
    (
        "tokens.create",
        lambda c: c.tokens.create(card=CARD),
        "POST",
        "/v1/tokens",
        TOKEN_OBJ,
        Token,
        {"card": CARD},
        {"apikey": KEY},
    ),
    (
        "tokens.create encrypted",
        lambda c: c.tokens.create(
            card={
                "encrypted_pan": "b64==",
                "first6": "424242",
                "last4": "4242",
                "exp_month": "12",
                "exp_year": "30",
                "cvv": "123",
            }
        ),
        "POST",
        "/v1/tokens",
        TOKEN_OBJ,
        Token,
        {"card": {"encrypted_pan": "b64==", "first6": "424242"}},
        {"apikey": KEY},
    ),
    (
        "charges.create",
        lambda c: c.charges.create(
            amount=1800,
            currency="USD",
            source="clv_1x",
            tip_amount=200,
            capture=False,
            ecomind="ecom",
            external_reference_id="INV-1",
            metadata={"a": "b"},
            stored_credentials={
                "sequence": "FIRST",
                "initiator": "CARDHOLDER",
                "is_scheduled": False,
            },
        ),
        "POST",
        "/v1/charges",
        CHARGE,
        Charge,
        {
            "amount": 1800,
            "currency": "usd",
            "tip_amount": 200,
            "capture": False,
            "stored_credentials": {
                "sequence": "FIRST",
                "initiator": "CARDHOLDER",
                "is_scheduled": False,
            },
        },
        {"x-forwarded-for": "198.51.100.1"},
    ),
    (
        "charges.create cash",
        lambda c: c.charges.create(amount=500, currency="usd", **alternate_tender("cash")),
        "POST",
        "/v1/charges",
        CHARGE,
        Charge,
        {"source": "alternate_tender", "tender": {"label_key": "com.clover.tender.cash"}},
        {},
    ),
    (
        "charges.retrieve",
        lambda c: c.charges.retrieve("2G1RQC0VTH7WY"),
        "GET",
        "/v1/charges/2G1RQC0VTH7WY",
        CHARGE,
        Charge,
        None,
        {},
    ),
    (
        "charges.capture",
        lambda c: c.charges.capture("2G1RQC0VTH7WY", amount=900),
        "POST",
        "/v1/charges/2G1RQC0VTH7WY/capture",
        CHARGE,
        Charge,
        {"amount": 900},
        {},
    ),
    (
        "orders.create",
        lambda c: c.orders.create(
            currency="usd",
            email="j@example.com",
            items=[{"type": "sku", "amount": 1800, "description": "x", "quantity": 1}],
        ),
        "POST",
        "/v1/orders",
        ORDER,
        Order,
        {"currency": "usd", "email": "j@example.com"},
        {},
    ),
    (
        "orders.retrieve",
        lambda c: c.orders.retrieve("96JN5MP2QJ47C"),
        "GET",
        "/v1/orders/96JN5MP2QJ47C",
        ORDER,
        Order,
        None,
        {},
    ),
    (
        "orders.update",
        lambda c: c.orders.update("96JN5MP2QJ47C", email="k@example.com"),
        "PUT",
        "/v1/orders/96JN5MP2QJ47C",
        ORDER,
        Order,
        {"email": "k@example.com"},
        {},
    ),
    (
        "orders.pay",
        lambda c: c.orders.pay("96JN5MP2QJ47C", source="clv_1x", tip_amount=100),
        "POST",
        "/v1/orders/96JN5MP2QJ47C/pay",
        ORDER,
        Order,
        {"source": "clv_1x", "tip_amount": 100},
        {"x-forwarded-for": "198.51.100.1"},
    ),
    (
        "orders.returns",
        lambda c: c.orders.returns("96JN5MP2QJ47C", items=[{"parent": "sku1"}]),
        "POST",
        "/v1/orders/96JN5MP2QJ47C/returns",
        {"id": "R1", "object": "order_return"},
        OrderReturn,
        {"items": [{"parent": "sku1"}]},
        {},
    ),
    (
        "customers.create",
        lambda c: c.customers.create(
            email="j@example.com", source="clv_1x", first_name="Jo", last_name="Doe"
        ),
        "POST",
        "/v1/customers",
        CUSTOMER,
        Customer,
        {"email": "j@example.com", "firstName": "Jo", "lastName": "Doe"},
        {},
    ),
    (
        "customers.retrieve",
        lambda c: c.customers.retrieve("SSHHCDEXTF550"),
        "GET",
        "/v1/customers/SSHHCDEXTF550",
        CUSTOMER,
        Customer,
        None,
        {},
    ),
    (
        "customers.update",
        lambda c: c.customers.update("SSHHCDEXTF550", phone="555"),
        "PUT",
        "/v1/customers/SSHHCDEXTF550",
        CUSTOMER,
        Customer,
        {"phone": "555"},
        {},
    ),
    (
        "customers.delete",
        lambda c: c.customers.delete("SSHHCDEXTF550"),
        "DELETE",
        "/v1/customers/SSHHCDEXTF550",
        {"id": "SSHHCDEXTF550", "deleted": True},
        DeletedObject,
        None,
        {},
    ),
    (
        "customers.delete_source",
        lambda c: c.customers.delete_source("SSHHCDEXTF550", "MB33YF9F4RGS2"),
        "DELETE",
        "/v1/customers/SSHHCDEXTF550/sources/MB33YF9F4RGS2",
        {"id": "MB33YF9F4RGS2", "object": "deletedcard", "deleted": True},
        DeletedObject,
        None,
        {},
    ),
    (
        "refunds.create",
        lambda c: c.refunds.create(
            charge="HGZF4HB58BT62", amount=500, reason="requested_by_customer"
        ),
        "POST",
        "/v1/refunds",
        REFUND,
        Refund,
        {"charge": "HGZF4HB58BT62", "amount": 500},
        {},
    ),
    (
        "refunds.retrieve",
        lambda c: c.refunds.retrieve("T6WW3H5DHHWN4"),
        "GET",
        "/v1/refunds/T6WW3H5DHHWN4",
        REFUND,
        Refund,
        None,
        {},
    ),
    (
        "plans.create",
        lambda c: c.recurring.plans.create(
            name="Gold", amount=999, interval="MONTH", interval_count=1
        ),
        "POST",
        "/recurring/v1/plans",
        PLAN,
        Plan,
        {"name": "Gold", "amount": 999, "interval": "MONTH", "intervalCount": 1},
        {"x-clover-merchant-id": MID},
    ),
    (
        "plans.retrieve",
        lambda c: c.recurring.plans.retrieve("PLAN12345678"),
        "GET",
        "/recurring/v1/plans/PLAN12345678",
        PLAN,
        Plan,
        None,
        {"x-clover-merchant-id": MID},
    ),
    (
        "plans.update",
        lambda c: c.recurring.plans.update("PLAN12345678", active=False),
        "PUT",
        "/recurring/v1/plans/PLAN12345678",
        PLAN,
        Plan,
        {"active": False},
        {},
    ),
    (
        "plans.delete",
        lambda c: c.recurring.plans.delete("PLAN12345678"),
        "DELETE",
        "/recurring/v1/plans/PLAN12345678",
        {"id": "PLAN12345678", "deleted": True},
        DeletedObject,
        None,
        {},
    ),
    (
        "subscriptions.create",
        lambda c: c.recurring.subscriptions.create(
            "PLAN12345678", customer_id="C1", start_date="2026-12-01T00:00:00.000+0000"
        ),
        "POST",
        "/recurring/v1/plans/PLAN12345678/subscriptions",
        SUB,
        Subscription,
        {
            "customerId": "C1",
            "collectionMethod": "CHARGE_AUTOMATICALLY",
            "startDate": "2026-12-01T00:00:00.000+0000",
        },
        {"x-clover-merchant-id": MID},
    ),
    (
        "subscriptions.retrieve",
        lambda c: c.recurring.subscriptions.retrieve("SUB123456789"),
        "GET",
        "/recurring/v1/subscriptions/SUB123456789",
        SUB,
        Subscription,
        None,
        {},
    ),
    (
        "subscriptions.update",
        lambda c: c.recurring.subscriptions.update("SUB123456789", amount=1999),
        "PUT",
        "/recurring/v1/subscriptions/SUB123456789",
        SUB,
        Subscription,
        {"amount": 1999},
        {},
    ),
    (
        "subscriptions.cancel",
        lambda c: c.recurring.subscriptions.cancel("SUB123456789"),
        "DELETE",
        "/recurring/v1/subscriptions/SUB123456789",
        {**SUB, "active": False},
        Subscription,
        None,
        {},
    ),
    (
        "checkout.sessions.create",
        lambda c: c.checkout.sessions.create(
            customer={"email": "a@example.com", "first_name": "Alex"},
            shopping_cart={"line_items": [{"name": "Juice", "price": 600, "unit_qty": 2}]},
            redirect_urls={"success": "https://s"},
        ),
        "POST",
        "/invoicingcheckoutservice/v1/checkouts",
        SESSION,
        CheckoutSession,
        {
            "customer": {"email": "a@example.com", "firstName": "Alex"},
            "shoppingCart": {"lineItems": [{"name": "Juice", "price": 600, "unitQty": 2}]},
            "redirectUrls": {"success": "https://s"},
        },
        {"x-clover-merchant-id": MID},
    ),
    (
        "checkout.sessions.retrieve",
        lambda c: c.checkout.sessions.retrieve(SESSION["checkoutSessionId"]),
        "GET",
        f"/invoicingcheckoutservice/v1/checkouts/{SESSION['checkoutSessionId']}",
        SESSION,
        CheckoutSession,
        None,
        {"x-clover-merchant-id": MID},
    ),
    (
        "platform.merchant",
        lambda c: c.platform.merchant(),
        "GET",
        f"/v3/merchants/{MID}",
        {"id": MID, "name": "Shop"},
        Merchant,
        None,
        {},
    ),
    (
        "platform.payments.retrieve",
        lambda c: c.platform.payments.retrieve("PAY123"),
        "GET",
        f"/v3/merchants/{MID}/payments/PAY123",
        {"id": "PAY123", "amount": 5},
        Payment,
        None,
        {},
    ),
    (
        "platform.orders.retrieve",
        lambda c: c.platform.orders.retrieve("ORD123"),
        "GET",
        f"/v3/merchants/{MID}/orders/ORD123",
        {"id": "ORD123", "total": 5},
        PlatformOrder,
        None,
        {},
    ),
]

IDEMPOTENT_MONEY = {
    "charges.create",
    "charges.create cash",
    "charges.capture",
    "orders.pay",
    "orders.returns",
    "refunds.create",
}


def make_sync(fake: FakeClover) -> CloverClient:
    return CloverClient(
        TOKEN,
        merchant_id=MID,
        api_access_key=KEY,
        base_url="http://clover.test",
        transport=fake.transport(),
        client_ip="198.51.100.1",
    )


def make_async(fake: FakeClover) -> AsyncCloverClient:
    return AsyncCloverClient(
        TOKEN,
        merchant_id=MID,
        api_access_key=KEY,
        base_url="http://clover.test",
        transport=fake.async_transport(),
        client_ip="198.51.100.1",
    )


def subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and subset(v, actual[k]) for k, v in expected.items()
        )
    return bool(expected == actual)


def check(case: Case, fake: FakeClover, result: Any) -> None:
    name, _, method, path, _reply, model, body, headers = case
    assert isinstance(result, model), name
    [req] = fake.requests
    assert (req.method, req.url.path) == (method, path)
    assert req.headers["authorization"] == f"Bearer {TOKEN}"
    assert req.headers["user-agent"].startswith("cloverpay/")
    for h, v in headers.items():
        assert req.headers[h] == v, h
    if body is not None:
        sent = json.loads(req.content)
        assert subset(body, sent), (body, sent)
    else:
        assert req.content == b""
    if name in IDEMPOTENT_MONEY:
        assert len(req.headers["idempotency-key"]) == 36
    else:
        assert "idempotency-key" not in req.headers


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_sync(case: Case, fake: FakeClover) -> None:
    fake.add(case[2], case[3], json_response(200, case[4]))
    with make_sync(fake) as client:
        check(case, fake, case[1](client))


@pytest.mark.anyio
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
async def test_async(case: Case, fake: FakeClover) -> None:
    fake.add(case[2], case[3], json_response(200, case[4]))
    async with make_async(fake) as client:
        result = case[1](client)
        assert inspect.isawaitable(result)
        check(case, fake, await result)


def test_sync_and_async_resources_have_the_same_methods() -> None:
    fake = FakeClover()
    s, a = make_sync(fake), make_async(fake)
    for ns in [
        "pakms",
        "tokens",
        "charges",
        "orders",
        "customers",
        "refunds",
        "recurring.plans",
        "recurring.subscriptions",
        "checkout.sessions",
        "platform",
        "platform.devices",
        "platform.payments",
        "platform.orders",
    ]:
        so, ao = s, a
        for part in ns.split("."):
            so, ao = getattr(so, part), getattr(ao, part)
        names = {n for n in dir(so) if not n.startswith("_") and callable(getattr(so, n))}
        assert names == {
            n for n in dir(ao) if not n.startswith("_") and callable(getattr(ao, n))
        }, ns
        for n in names:
            sig_s = inspect.signature(getattr(so, n))
            sig_a = inspect.signature(getattr(ao, n))
            assert list(sig_s.parameters) == list(sig_a.parameters), f"{ns}.{n}"


def test_token_fetches_pakms_key_when_missing(fake: FakeClover) -> None:
    fake.add("GET", "/pakms/apikey", json_response(200, {"apiAccessKey": KEY}))
    fake.add("POST", "/v1/tokens", json_response(200, TOKEN_OBJ))
    client = CloverClient(TOKEN, base_url="http://clover.test", transport=fake.transport())
    client.tokens.create(card=CARD)
    fake.add("POST", "/v1/tokens", json_response(200, TOKEN_OBJ))
    client.tokens.create(card=CARD)
    assert [r.url.path for r in fake.requests] == ["/pakms/apikey", "/v1/tokens", "/v1/tokens"]
    assert fake.requests[1].headers["apikey"] == KEY
    assert "apikey" not in fake.requests[0].headers


def test_auth_object_is_used(fake: FakeClover) -> None:
    class Auth(httpx.Auth):
        def auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
            request.headers["authorization"] = "Bearer from-auth"
            yield request

    fake.add("GET", "/v1/charges/X", json_response(200, CHARGE))
    client = CloverClient(auth=Auth(), base_url="http://clover.test", transport=fake.transport())
    client.charges.retrieve("X")
    assert fake.requests[0].headers["authorization"] == "Bearer from-auth"


def test_http_client_from_outside_is_not_closed(fake: FakeClover) -> None:
    http = httpx.Client(transport=fake.transport())
    fake.add("GET", "/v1/charges/X", json_response(200, CHARGE))
    with CloverClient(TOKEN, base_url="http://clover.test", http_client=http) as client:
        assert client.http_client is http
        client.charges.retrieve("X")
    assert not http.is_closed
    http.close()


def test_per_call_client_ip_and_idempotency_key(fake: FakeClover) -> None:
    fake.add("POST", "/v1/charges", json_response(200, CHARGE))
    make_sync(fake).charges.create(
        amount=1,
        currency="usd",
        source="clv_1",
        client_ip="203.0.113.9",
        idempotency_key="my-key-1",
    )
    assert fake.requests[0].headers["x-forwarded-for"] == "203.0.113.9"
    assert fake.requests[0].headers["idempotency-key"] == "my-key-1"


def test_delete_with_empty_body_means_deleted(fake: FakeClover) -> None:
    fake.add("DELETE", "/v1/customers/C1", httpx.Response(204))
    fake.add("DELETE", "/recurring/v1/subscriptions/S1", httpx.Response(204))
    c = make_sync(fake)
    assert c.customers.delete("C1").deleted is True
    gone = c.recurring.subscriptions.cancel("S1")
    assert isinstance(gone, DeletedObject)
    assert gone.deleted is True
