"""/v1/refunds: full/partial, limits, list filter, derived charge fields."""

from __future__ import annotations

import httpx
import pytest

from cloverpay.sandbox import Sandbox

from .helpers import charge, counts, error


def test_partial_then_full(sandbox: Sandbox, http: httpx.Client) -> None:
    ch = charge(http, sandbox, amount=1000).json()
    r1 = http.post(
        "/v1/refunds", json={"charge": ch["id"], "amount": 300, "reason": "requested_by_customer"}
    )
    assert r1.status_code == 200, r1.text
    ref = r1.json()
    assert ref["object"] == "refund"
    assert ref["status"] == "succeeded"
    assert ref["amount"] == 300
    assert ref["charge"] == ch["id"]
    after = http.get(f"/v1/charges/{ch['id']}").json()
    assert after["amount_refunded"] == 300
    assert after["refunded"] is False
    too_much = http.post("/v1/refunds", json={"charge": ch["id"], "amount": 701})
    assert error(too_much)["code"] == "amount_too_large"
    assert error(too_much)["param"] == "amount"
    rest = http.post("/v1/refunds", json={"charge": ch["id"]}).json()
    assert rest["amount"] == 700
    done = http.get(f"/v1/charges/{ch['id']}").json()
    assert done["refunded"] is True
    assert done["amount_refunded"] == 1000
    assert http.get(f"/v1/orders/{ch['order']}").json()["status"] == "refunded"
    again = http.post("/v1/refunds", json={"charge": ch["id"], "amount": 1})
    assert error(again)["code"] == "charge_already_refunded"
    assert http.get(f"/v1/refunds/{ref['id']}").json() == ref


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({}, "parameter_missing", "charge"),
        ({"charge": 5}, "parameter_invalid_string", "charge"),
        ({"charge": "NOPE"}, "resource_missing", "charge"),
        ({"charge": "@", "amount": 0}, "parameter_invalid", "amount"),
        ({"charge": "@", "amount": "5"}, "parameter_invalid_integer", "amount"),
        ({"charge": "@", "metadata": 1}, "parameter_invalid", "metadata"),
        (
            {"charge": "@", "external_reference_id": "x" * 13},
            "parameter_invalid",
            "external_reference_id",
        ),
    ],
)
def test_validation(
    sandbox: Sandbox, http: httpx.Client, body: dict[str, object], code: str, param: str
) -> None:
    ch = charge(http, sandbox).json()
    if body.get("charge") == "@":
        body["charge"] = ch["id"]
    r = http.post("/v1/refunds", json=body)
    assert error(r)["code"] == code
    assert error(r)["param"] == param
    assert counts(sandbox)["refunds"] == 0


def test_refund_uncaptured_or_failed(sandbox: Sandbox, http: httpx.Client) -> None:
    auth = charge(http, sandbox, capture=False).json()
    assert error(http.post("/v1/refunds", json={"charge": auth["id"]}))["param"] == "charge"
    failed = error(charge(http, sandbox, number="4000000000000002"))["charge"]
    assert error(http.post("/v1/refunds", json={"charge": failed}))["param"] == "charge"
    # partial capture: refundable is the captured amount only
    http.post(f"/v1/charges/{auth['id']}/capture", json={"amount": 400})
    assert (
        error(http.post("/v1/refunds", json={"charge": auth["id"], "amount": 401}))["code"]
        == "amount_too_large"
    )
    assert http.post("/v1/refunds", json={"charge": auth["id"], "amount": 400}).status_code == 200


def test_list_and_filter(sandbox: Sandbox, http: httpx.Client) -> None:
    a = charge(http, sandbox).json()
    b = charge(http, sandbox).json()
    ra = http.post("/v1/refunds", json={"charge": a["id"], "amount": 1}).json()
    rb = http.post("/v1/refunds", json={"charge": b["id"], "amount": 1}).json()
    ra2 = http.post("/v1/refunds", json={"charge": a["id"], "amount": 2}).json()
    assert [r["id"] for r in http.get("/v1/refunds").json()["data"]] == [
        ra2["id"],
        rb["id"],
        ra["id"],
    ]
    assert [r["id"] for r in http.get(f"/v1/refunds?charge={a['id']}").json()["data"]] == [
        ra2["id"],
        ra["id"],
    ]
    page = http.get(f"/v1/refunds?limit=1&starting_after={ra2['id']}").json()
    assert [r["id"] for r in page["data"]] == [rb["id"]]
    assert page["has_more"] is True
    assert http.get("/v1/refunds/NOPE").status_code == 404


def test_metadata_and_external_reference_kept_and_returned(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    """``metadata`` and ``external_reference_id`` of the create come back on the refund,
    its retrieve and the list (a service matches refunds to its own by them)."""
    ch = charge(http, sandbox).json()
    sent = {"cloverpay_attempt": "0123456789abcdef0123456789abcdef", "n": 2}
    made = http.post(
        "/v1/refunds",
        json={"charge": ch["id"], "amount": 5, "metadata": sent, "external_reference_id": "INV 42"},
    ).json()
    bare = http.post("/v1/refunds", json={"charge": ch["id"], "amount": 5}).json()
    assert (made["metadata"], made["external_reference_id"]) == (sent, "INV 42")
    assert "metadata" not in bare
    assert http.get(f"/v1/refunds/{made['id']}").json() == made
    listed = http.get(f"/v1/refunds?charge={ch['id']}").json()["data"]
    assert [r.get("metadata") for r in listed] == [None, sent]


def test_idempotent_refund(sandbox: Sandbox, http: httpx.Client) -> None:
    ch = charge(http, sandbox).json()
    h = {"idempotency-key": "refund-1"}
    r1 = http.post("/v1/refunds", json={"charge": ch["id"], "amount": 100}, headers=h)
    r2 = http.post("/v1/refunds", json={"charge": ch["id"], "amount": 100}, headers=h)
    assert r1.json() == r2.json()
    assert counts(sandbox)["refunds"] == 1


def test_refund_of_a_card_present_payment(sandbox: Sandbox, http: httpx.Client) -> None:
    """[G] ``charge`` = a v3 (terminal) payment's id: refunded, listed on the v3 payment
    as Clover lists a refund, never above amount + tip; switched off, unknown (404)."""
    from cloverpay.sandbox import PlatformStore, terminal_payment_json

    mid = sandbox.credentials.merchant_id
    with sandbox.state.lock:
        sandbox.state.domain(PlatformStore).record_payment(
            mid,
            terminal_payment_json(
                payment_id="TERMPAY0",
                amount=1000,
                tip_amount=200,
                external_payment_id="EXT-R",
                created_ms=sandbox.state.clock.now_ms(),
                order_id="TERMORDER0",
                card={"cardType": "VISA", "last4": "4242"},
            ),
        )
    first = http.post(
        "/v1/refunds",
        json={"charge": "TERMPAY0", "amount": 400},
        headers={"idempotency-key": "r-term-1"},
    )
    assert first.status_code == 200, first.text
    ref = first.json()
    assert (ref["object"], ref["charge"], ref["amount"], ref["status"]) == (
        "refund",
        "TERMPAY0",
        400,
        "succeeded",
    )
    replay = http.post(
        "/v1/refunds",
        json={"charge": "TERMPAY0", "amount": 400},
        headers={"idempotency-key": "r-term-1"},
    )
    assert replay.json() == ref  # the same key: replayed, not refunded twice
    v3 = http.get(f"/v3/merchants/{mid}/payments/TERMPAY0").json()
    assert [(r["id"], r["amount"], r["payment"]["id"]) for r in v3["refunds"]["elements"]] == [
        (ref["id"], 400, "TERMPAY0")
    ]
    assert v3["refunds"]["elements"][0]["orderRef"] == {"id": "TERMORDER0"}
    listed = http.get("/v1/refunds", params={"charge": "TERMPAY0"}).json()["data"]
    assert [r["id"] for r in listed] == [ref["id"]]
    too_much = http.post("/v1/refunds", json={"charge": "TERMPAY0", "amount": 801})
    assert error(too_much)["code"] == "amount_too_large"
    rest = http.post("/v1/refunds", json={"charge": "TERMPAY0"}).json()
    assert rest["amount"] == 800  # amount + tip - refunded
    again = http.post("/v1/refunds", json={"charge": "TERMPAY0", "amount": 1})
    assert error(again)["code"] == "charge_already_refunded"
    sandbox.state.config.refunds_of_terminal_payments = False
    off = http.post("/v1/refunds", json={"charge": "TERMPAY0", "amount": 1})
    assert error(off)["code"] == "resource_missing"
