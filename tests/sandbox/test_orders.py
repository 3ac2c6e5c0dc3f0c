"""/v1/orders: items and tax, update, pay (split tender), returns."""

from __future__ import annotations

import httpx
import pytest

from cloverpay.sandbox import Sandbox

from .helpers import counts, error, tokenize

ITEMS = [
    {
        "type": "sku",
        "amount": 1800,
        "description": "Test item #1",
        "quantity": 1,
        "tax_rates": [{"name": "Sale", "rate": 1_000_000}],
    },
]


def make_order(http: httpx.Client, **extra: object) -> dict[str, object]:
    r = http.post("/v1/orders", json={"currency": "usd", "items": ITEMS, **extra})
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def test_create_computes_tax_and_amount(http: httpx.Client) -> None:
    order = make_order(http, email="john@example.com", shipping={"name": "John"})
    assert order["amount"] == 1980
    assert order["status"] == "created"
    assert order["currency"] == "USD"
    items = order["items"]
    assert isinstance(items, list)
    assert items[-1] == {
        "type": "tax",
        "amount": 180,
        "currency": "USD",
        "description": "Sales Tax",
    }
    assert order["email"] == "john@example.com"


def test_totals_with_shipping_discount_quantity_and_uuid_rate(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    uuid = next(iter(sandbox.state.merchant.tax_rates))
    items = [
        {"type": "sku", "amount": 500, "quantity": 3, "tax_rates": [{"tax_rate_uuid": uuid}]},
        {"type": "shipping", "amount": 700},
        {"type": "discount", "amount": -200},
    ]
    order = http.post("/v1/orders", json={"currency": "usd", "items": items}).json()
    assert order["amount"] == 1500 + 150 + 700 - 200
    explicit = http.post(
        "/v1/orders",
        json={"currency": "usd", "items": [{"amount": 1000}, {"type": "tax", "amount": 33}]},
    ).json()
    assert explicit["amount"] == 1033
    assert len(explicit["items"]) == 2


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"items": ITEMS}, "currency"),
        ({"currency": "usd"}, "items"),
        ({"currency": "usd", "items": []}, "items"),
        ({"currency": "usd", "items": "x"}, "items"),
        ({"currency": "usd", "items": [{"description": "no amount"}]}, "items[0].amount"),
        ({"currency": "usd", "items": [{"amount": -1}]}, "items[0].amount"),
        ({"currency": "usd", "items": [{"amount": 1, "type": "gift"}]}, "items[0].type"),
        ({"currency": "usd", "items": [{"amount": 1, "quantity": 0}]}, "items[0].quantity"),
        (
            {"currency": "usd", "items": [{"amount": 1, "tax_rates": [{"name": "x"}]}]},
            "items[0].tax_rates[0].rate",
        ),
        (
            {"currency": "usd", "items": [{"amount": 1, "tax_rates": [{"tax_rate_uuid": "NOPE"}]}]},
            "items[0].tax_rates[0].tax_rate_uuid",
        ),
        (
            {"currency": "usd", "items": [{"amount": 100}, {"type": "discount", "amount": 500}]},
            "items",
        ),
        ({"currency": "usd", "items": [{"amount": 99_999_999, "quantity": 2}]}, "items"),
        ({"currency": "usd", "items": ITEMS, "email": "nope"}, "email"),
        ({"currency": "usd", "items": ITEMS, "customer": "NOSUCHCUSTOMR"}, "customer"),
    ],
)
def test_create_validation(
    sandbox: Sandbox, http: httpx.Client, body: dict[str, object], param: str
) -> None:
    r = http.post("/v1/orders", json=body)
    assert r.status_code in (400, 404), r.text
    assert error(r)["param"] == param
    assert counts(sandbox)["orders"] == 0


def test_retrieve_list_update(sandbox: Sandbox, http: httpx.Client) -> None:
    a = make_order(http)
    b = make_order(http)
    listed = http.get("/v1/orders?limit=1").json()
    assert [o["id"] for o in listed["data"]] == [b["id"]]
    assert listed["has_more"] is True
    assert http.get(f"/v1/orders/{a['id']}").json() == a
    assert http.get("/v1/orders/NOPE").status_code == 404
    upd = http.put(
        f"/v1/orders/{a['id']}",
        json={"email": "new@example.com", "items": [{"amount": 100}], "metadata": {"k": "v"}},
    ).json()
    assert upd["email"] == "new@example.com"
    assert upd["amount"] == 100
    assert (
        error(http.put(f"/v1/orders/{a['id']}", json={"status": "fulfilled"}))["param"] == "status"
    )
    assert (
        error(http.put(f"/v1/orders/{a['id']}", json={"email": "bad"}))["code"] == "email_invalid"
    )
    canceled = http.put(f"/v1/orders/{b['id']}", json={"status": "canceled"}).json()
    assert canceled["status"] == "canceled"
    r = http.post(f"/v1/orders/{b['id']}/pay", json={"source": tokenize(http, sandbox)})
    assert r.status_code == 400


def test_pay_full(sandbox: Sandbox, http: httpx.Client) -> None:
    order = make_order(http)
    r = http.post(
        f"/v1/orders/{order['id']}/pay",
        json={"source": tokenize(http, sandbox, "6011361000006668")},
    )
    assert r.status_code == 200, r.text
    paid = r.json()
    assert paid["status"] == "paid"
    assert paid["amount_paid"] == 1980
    assert paid["source"]["brand"] == "DISCOVER"
    assert paid["status_transitions"]["paid"] > 0
    ch = http.get(f"/v1/charges/{paid['charge']}").json()
    assert ch["order"] == order["id"]
    assert ch["amount"] == 1980
    again = http.post(f"/v1/orders/{order['id']}/pay", json={"source": tokenize(http, sandbox)})
    assert error(again)["code"] == "order_already_paid"
    assert (
        http.put(f"/v1/orders/{order['id']}", json={"status": "fulfilled"}).json()["status"]
        == "fulfilled"
    )
    assert (
        error(http.put(f"/v1/orders/{order['id']}", json={"items": [{"amount": 5}]}))["param"]
        == "items"
    )


def test_split_tender(sandbox: Sandbox, http: httpx.Client) -> None:
    order = make_order(http)
    first = http.post(
        f"/v1/orders/{order['id']}/pay", json={"source": tokenize(http, sandbox), "amount": 1000}
    ).json()
    assert first["status"] == "created"
    assert first["amount_paid"] == 1000
    assert "past_charges" not in first
    over = http.post(
        f"/v1/orders/{order['id']}/pay", json={"source": tokenize(http, sandbox), "amount": 981}
    )
    assert error(over)["code"] == "amount_too_large"
    second = http.post(
        f"/v1/orders/{order['id']}/pay", json={"source": tokenize(http, sandbox)}
    ).json()
    assert second["status"] == "paid"
    assert second["amount_paid"] == 1980
    assert second["past_charges"] == [first["charge"]]


def test_pay_errors(sandbox: Sandbox, http: httpx.Client) -> None:
    order = make_order(http)
    oid = order["id"]
    assert error(http.post(f"/v1/orders/{oid}/pay", json={}))["param"] == "source"
    assert http.post("/v1/orders/NOPE/pay", json={"source": "x"}).status_code == 404
    with sandbox.client() as no_xff:
        assert (
            error(no_xff.post(f"/v1/orders/{oid}/pay", json={"source": "x"}))["param"]
            == "x-forwarded-for"
        )
    declined = http.post(
        f"/v1/orders/{oid}/pay", json={"source": tokenize(http, sandbox, "4000000000009987")}
    )
    assert declined.status_code == 402
    assert error(declined)["decline_code"] == "lost_card"
    assert http.get(f"/v1/orders/{oid}").json()["amount_paid"] == 0
    cust = http.post("/v1/customers", json={"email": "c@example.com"}).json()
    r = http.post(f"/v1/orders/{oid}/pay", json={"customer": cust["id"]})
    assert error(r)["code"] == "card_on_file_missing"
    assert (
        error(http.post(f"/v1/orders/{oid}/pay", json={"source": "x", "email": "bad"}))["code"]
        == "email_invalid"
    )


def test_pay_with_customer_card_on_file(sandbox: Sandbox, http: httpx.Client) -> None:
    cust = http.post(
        "/v1/customers", json={"email": "c@example.com", "source": tokenize(http, sandbox)}
    ).json()
    order = make_order(http)
    paid = http.post(f"/v1/orders/{order['id']}/pay", json={"customer": cust["id"]}).json()
    assert paid["status"] == "paid"
    assert paid["customer"] == cust["id"]


def test_returns(sandbox: Sandbox, http: httpx.Client) -> None:
    order = make_order(http)
    oid = order["id"]
    assert error(http.post(f"/v1/orders/{oid}/returns", json={}))["param"] == "order"
    http.post(f"/v1/orders/{oid}/pay", json={"source": tokenize(http, sandbox), "amount": 1000})
    http.post(f"/v1/orders/{oid}/pay", json={"source": tokenize(http, sandbox)})
    partial = http.post(
        f"/v1/orders/{oid}/returns", json={"amount": 1500, "reason": "requested_by_customer"}
    ).json()
    assert partial["object"] == "order_return"
    assert partial["amount"] == 1500
    assert len(partial["refunds"]) == 2  # newest charge (980) first, then 520 of the other
    amounts = sorted(http.get(f"/v1/refunds/{rid}").json()["amount"] for rid in partial["refunds"])
    assert amounts == [520, 980]
    assert http.get(f"/v1/orders/{oid}").json()["amount_returned"] == 1500
    over = http.post(f"/v1/orders/{oid}/returns", json={"amount": 481})
    assert error(over)["code"] == "amount_too_large"
    rest = http.post(
        f"/v1/orders/{oid}/returns", json={"items": [{"parent": "x", "amount": 480}]}
    ).json()
    assert rest["amount"] == 480
    final = http.get(f"/v1/orders/{oid}").json()
    assert final["status"] == "returned"
    assert final["amount_returned"] == 1980
    assert error(http.post(f"/v1/orders/{oid}/returns", json={}))["code"] == "invalid_request"
    assert error(http.post(f"/v1/orders/{oid}/returns", json={"items": "x"}))["param"] == "items"
