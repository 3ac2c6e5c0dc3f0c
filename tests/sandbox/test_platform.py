"""Platform REST v3 subset: merchant, devices, payments (Ecommerce charges as v3 payments,
externalPaymentId lookups), orders; 401 for everything unauthorized."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cloverpay.sandbox import PlatformStore, Sandbox, SandboxServer, terminal_payment_json


def _charge(http: httpx.Client, sandbox: Sandbox, number: str, amount: int) -> dict[str, Any]:
    tok = http.post(
        "/v1/tokens",
        json={"card": {"number": number, "exp_month": "12", "exp_year": "2039", "cvv": "123"}},
        headers={"apikey": sandbox.credentials.api_access_key},
    ).json()
    r = http.post(
        "/v1/charges",
        json={"amount": amount, "currency": "usd", "source": tok["id"], "tip_amount": 10},
        headers={"x-forwarded-for": "203.0.113.9"},
    )
    body: dict[str, Any] = r.json()
    return body.get("error", body) if r.status_code != 200 else body


def _base(sandbox: Sandbox) -> str:
    return f"/v3/merchants/{sandbox.credentials.merchant_id}"


def test_merchant_and_devices(http: httpx.Client, sandbox: Sandbox) -> None:
    m = http.get(_base(sandbox))
    assert m.status_code == 200
    assert m.json()["id"] == sandbox.credentials.merchant_id
    assert m.json()["name"]
    devices = http.get(f"{_base(sandbox)}/devices").json()["elements"]
    assert len(devices) == 1
    assert devices[0]["merchant"]["id"] == sandbox.credentials.merchant_id
    again = http.get(f"{_base(sandbox)}/devices").json()["elements"]
    assert again == devices


def test_401_for_bad_token_and_other_merchant(http: httpx.Client, sandbox: Sandbox) -> None:
    other = http.get("/v3/merchants/AAAAAAAAAAAAA/payments")
    assert other.status_code == 401
    assert other.json() == {"message": "401 Unauthorized"}
    with httpx.Client(transport=sandbox.sync_transport(), base_url=sandbox.base_url) as anon:
        r = anon.get(_base(sandbox), headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401
        assert r.json() == {"message": "401 Unauthorized"}
        assert anon.get(f"{_base(sandbox)}/orders").status_code == 401


def test_charges_appear_as_v3_payments(http: httpx.Client, sandbox: Sandbox) -> None:
    ok = _charge(http, sandbox, "4242424242424242", 1000)
    bad = _charge(http, sandbox, "4005571702222222", 2000)
    assert bad["code"] == "card_declined"
    elements = http.get(f"{_base(sandbox)}/payments").json()["elements"]
    assert [p["id"] for p in elements] == [bad["charge"], ok["id"]]  # newest first
    pay = elements[1]
    assert pay["amount"] == 1000
    assert pay["tipAmount"] == 10
    assert pay["result"] == "SUCCESS"
    assert pay["order"] == {"id": ok["order"]}
    assert pay["cardTransaction"]["last4"] == "4242"
    assert pay["cardTransaction"]["cardType"] == "VISA"
    assert pay["createdTime"] == ok["created"]
    assert elements[0]["result"] == "FAIL"
    one = http.get(f"{_base(sandbox)}/payments/{ok['id']}")
    assert one.json() == pay
    missing = http.get(f"{_base(sandbox)}/payments/NOPE")
    assert missing.status_code == 404
    assert set(missing.json()) == {"message"}
    page = http.get(f"{_base(sandbox)}/payments", params={"limit": 1, "offset": 1}).json()
    assert [p["id"] for p in page["elements"]] == [ok["id"]]
    failed = http.get(f"{_base(sandbox)}/payments", params={"filter": "result=FAIL"}).json()
    assert [p["id"] for p in failed["elements"]] == [bad["charge"]]


def test_filter_by_external_payment_id(http: httpx.Client, sandbox: Sandbox) -> None:
    mid = sandbox.credentials.merchant_id
    store = sandbox.state.domain(PlatformStore)
    for i, ext in enumerate(["EXT-1", "EXT-2"]):
        store.record_payment(
            mid,
            terminal_payment_json(
                payment_id=f"TERMPAY{i}",
                amount=500,
                external_payment_id=ext,
                created_ms=sandbox.state.clock.now_ms() + i,
                card={"cardType": "VISA", "last4": "4242"},
            ),
        )
    _charge(http, sandbox, "4242424242424242", 700)
    r = http.get(f"{_base(sandbox)}/payments", params={"filter": "externalPaymentId=EXT-2"})
    assert [p["id"] for p in r.json()["elements"]] == ["TERMPAY1"]
    none = http.get(f"{_base(sandbox)}/payments", params={"filter": "externalPaymentId=NOPE"})
    assert none.json()["elements"] == []
    term = http.get(f"{_base(sandbox)}/payments/TERMPAY0").json()
    assert term["externalPaymentId"] == "EXT-1"
    assert term["cardTransaction"]["last4"] == "4242"
    with pytest.raises(ValueError, match="result"):
        terminal_payment_json(
            payment_id="X", amount=1, external_payment_id=None, created_ms=0, result="MAYBE"
        )
    everything = http.get(f"{_base(sandbox)}/payments").json()["elements"]
    assert len(everything) == 3


@pytest.mark.parametrize(
    "params",
    [{"filter": "colour=red"}, {"filter": "garbage"}, {"limit": "0"}, {"offset": "-1"}],
)
def test_bad_query_names_the_problem(
    http: httpx.Client, sandbox: Sandbox, params: dict[str, str]
) -> None:
    r = http.get(f"{_base(sandbox)}/payments", params=params)
    assert r.status_code == 400
    assert set(r.json()) == {"message"}


def test_orders(http: httpx.Client, sandbox: Sandbox) -> None:
    ok = _charge(http, sandbox, "4242424242424242", 1000)
    orders = http.get(f"{_base(sandbox)}/orders").json()["elements"]
    assert [o["id"] for o in orders] == [ok["order"]]
    order = http.get(f"{_base(sandbox)}/orders/{ok['order']}").json()
    assert order["total"] == 1000
    assert order["paymentState"] == "PAID"
    assert order["payments"]["elements"] == [{"id": ok["id"]}]
    assert http.get(f"{_base(sandbox)}/orders/NOPE").status_code == 404


def test_payments_over_a_real_socket(sandbox: Sandbox) -> None:
    with SandboxServer(sandbox) as server:
        creds = server.credentials
        headers = {"Authorization": f"Bearer {creds.access_token}"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=10) as client:
            ok = _charge(client, sandbox, "4242424242424242", 1234)
            r = client.get(f"/v3/merchants/{creds.merchant_id}/payments/{ok['id']}")
            assert r.status_code == 200
            assert r.json()["amount"] == 1234


def test_record_terminal_payment_over_the_control_api(http: httpx.Client, sandbox: Sandbox) -> None:
    r = http.post(
        "/_sandbox/platform/payments",
        json={
            "amount": 1500,
            "tipAmount": 200,
            "externalPaymentId": "POS-42",
            "card": {"cardType": "MC", "last4": "4444"},
        },
    )
    assert r.status_code == 200, r.text
    pid = r.json()["id"]
    found = http.get(f"{_base(sandbox)}/payments", params={"filter": "externalPaymentId=POS-42"})
    assert [p["id"] for p in found.json()["elements"]] == [pid]
    assert found.json()["elements"][0]["tipAmount"] == 200
    bad = http.post("/_sandbox/platform/payments", json={"amount": 1, "card": {"number": "4"}})
    assert bad.status_code == 400
    assert "card number" in bad.json()["error"]["message"]
    assert http.post("/_sandbox/platform/payments", json={}).status_code == 400
    wrong = http.post("/_sandbox/platform/payments", json={"amount": 1, "result": "MAYBE"})
    assert wrong.status_code == 400


def test_void_a_card_present_payment_over_the_control_api(
    http: httpx.Client, sandbox: Sandbox
) -> None:
    notes: list[tuple[str, str, str]] = []
    sandbox.state.subscribe(lambda n: notes.append((n.key, n.object_id, n.kind)))
    pid = http.post(
        "/_sandbox/platform/payments", json={"amount": 900, "externalPaymentId": "POS-7"}
    ).json()["id"]
    r = http.post(f"/_sandbox/platform/payments/{pid}/void", json={"reason": "USER_CANCEL"})
    assert r.status_code == 200, r.text
    assert (r.json()["result"], r.json()["voidReason"]) == ("VOIDED", "USER_CANCEL")
    assert http.get(f"{_base(sandbox)}/payments/{pid}").json()["result"] == "VOIDED"
    assert ("P", pid, "UPDATE") in notes
    # voided once: a second void is refused; so is an unknown id or an Ecommerce charge
    assert http.post(f"/_sandbox/platform/payments/{pid}/void").status_code == 409
    assert http.post("/_sandbox/platform/payments/NOPE/void").status_code == 404
    charge = _charge(http, sandbox, "4242424242424242", 500)
    assert http.post(f"/_sandbox/platform/payments/{charge['id']}/void").status_code == 400
