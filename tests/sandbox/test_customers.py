"""/v1/customers: card on file, update, delete, delete source."""

from __future__ import annotations

import httpx
import pytest

from cloverpay.sandbox import Notification, Sandbox

from .helpers import counts, error, tokenize


def test_create_with_card_and_charge_it(sandbox: Sandbox, http: httpx.Client) -> None:
    notes: list[Notification] = []
    sandbox.state.subscribe(notes.append)
    token = tokenize(http, sandbox)
    r = http.post(
        "/v1/customers",
        json={
            "email": "jdoe@example.com",
            "source": token,
            "name": "Joe Doe",
            "phone": "4085551858",
            "firstName": "Joe",
            "lastName": "Doe",
            "shipping": {"name": "Joe Doe"},
        },
    )
    assert r.status_code == 200, r.text
    cust = r.json()
    assert cust["object"] == "customer"
    assert cust["email"] == "jdoe@example.com"
    assert cust["firstName"] == "Joe"
    assert cust["sources"]["object"] == "list"
    (card_id,) = cust["sources"]["data"]
    assert len(card_id) == 13
    # the one-off token is consumed; the customer id charges the saved card again and again
    assert error(http.post("/v1/charges", json={"amount": 1, "currency": "usd", "source": token}))[
        "code"
    ] == ("token_already_used")
    for _ in range(2):
        ch = http.post("/v1/charges", json={"amount": 250, "currency": "usd", "source": cust["id"]})
        assert ch.status_code == 200, ch.text
        assert ch.json()["customer"] == cust["id"]
        assert ch.json()["source"]["last4"] == "4242"
    assert ("C", cust["id"], "CREATE") in [(n.key, n.object_id, n.kind) for n in notes]


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({}, "parameter_missing", "email"),
        ({"email": "nope"}, "email_invalid", "email"),
        ({"email": 5}, "email_invalid", "email"),
        ({"email": "a@example.com", "source": "clv_unknown"}, "resource_missing", "source"),
        ({"email": "a@example.com", "source": "ABCDEFGHJKMNP"}, "parameter_invalid", "source"),
        ({"email": "a@example.com", "phone": 5}, "parameter_invalid_string", "phone"),
        ({"email": "a@example.com", "shipping": []}, "parameter_invalid", "shipping"),
        (
            {"email": "a@example.com", "shipping": {"address": {"city": 3}}},
            "parameter_invalid_string",
            "shipping.address.city",
        ),
    ],
)
def test_create_validation(
    sandbox: Sandbox, http: httpx.Client, body: dict[str, object], code: str, param: str
) -> None:
    r = http.post("/v1/customers", json=body)
    assert error(r)["code"] == code
    assert error(r)["param"] == param
    assert counts(sandbox)["customers"] == 0


def test_used_token_cannot_be_saved(sandbox: Sandbox, http: httpx.Client) -> None:
    token = tokenize(http, sandbox)
    http.post("/v1/charges", json={"amount": 1, "currency": "usd", "source": token})
    r = http.post("/v1/customers", json={"email": "a@example.com", "source": token})
    assert error(r)["code"] == "token_already_used"
    assert counts(sandbox)["customers"] == 0


def test_card_on_file_missing(http: httpx.Client) -> None:
    cust = http.post("/v1/customers", json={"email": "nocard@example.com"}).json()
    assert cust["sources"]["data"] == []
    r = http.post("/v1/charges", json={"amount": 100, "currency": "usd", "source": cust["id"]})
    assert r.status_code == 400
    assert error(r)["code"] == "card_on_file_missing"


def test_update_attach_and_replace_card(sandbox: Sandbox, http: httpx.Client) -> None:
    cust = http.post("/v1/customers", json={"email": "u@example.com"}).json()
    cid = cust["id"]
    upd = http.put(
        f"/v1/customers/{cid}", json={"source": tokenize(http, sandbox), "name": "U"}
    ).json()
    assert upd["name"] == "U"
    (card_id,) = upd["sources"]["data"]
    second = http.put(f"/v1/customers/{cid}", json={"source": tokenize(http, sandbox)})
    assert error(second)["param"] == "source"
    assert "delete it first" in error(second)["message"]
    deleted = http.delete(f"/v1/customers/{cid}/sources/{card_id}").json()
    assert deleted == {"id": card_id, "object": "deletedcard", "deleted": True}
    assert http.delete(f"/v1/customers/{cid}/sources/{card_id}").status_code == 404
    assert error(http.post("/v1/charges", json={"amount": 5, "currency": "usd", "source": cid}))[
        "code"
    ] == ("card_on_file_missing")
    again = http.put(
        f"/v1/customers/{cid}", json={"source": tokenize(http, sandbox, "5204245250003294")}
    ).json()
    assert len(again["sources"]["data"]) == 1
    assert (
        http.post("/v1/charges", json={"amount": 5, "currency": "usd", "source": cid}).json()[
            "source"
        ]["brand"]
        == "MC"
    )
    assert error(http.put(f"/v1/customers/{cid}", json={"email": "bad"}))["code"] == "email_invalid"
    assert http.put("/v1/customers/NOPE", json={}).status_code == 404


def test_get_list_delete(http: httpx.Client) -> None:
    a = http.post("/v1/customers", json={"email": "a@example.com"}).json()
    b = http.post("/v1/customers", json={"email": "b@example.com"}).json()
    assert http.get(f"/v1/customers/{a['id']}").json() == a
    listed = http.get("/v1/customers").json()
    assert [c["id"] for c in listed["data"]] == [b["id"], a["id"]]
    gone = http.delete(f"/v1/customers/{a['id']}").json()
    assert gone == {"id": a["id"], "object": "customer", "deleted": True}
    assert http.get(f"/v1/customers/{a['id']}").status_code == 404
    assert [c["id"] for c in http.get("/v1/customers").json()["data"]] == [b["id"]]
    assert http.delete(f"/v1/customers/{a['id']}").status_code == 404
