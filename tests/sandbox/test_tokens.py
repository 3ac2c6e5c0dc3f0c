"""Tokenizer: validation codes, encrypted_pan, keys.json, CORS, single use, no PAN stored."""

from __future__ import annotations

import base64
import dataclasses
import json

import httpx
import pytest

from cloverpay.sandbox import Sandbox, encrypt_pan

from .helpers import error, tokenize

CARD = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2030", "cvv": "123"}


def post_token(
    http: httpx.Client, sandbox: Sandbox, card: object, key: str | None = None
) -> httpx.Response:
    return http.post(
        "/v1/tokens",
        json={"card": card},
        headers={"apikey": key or sandbox.state.merchant.api_access_key},
    )


def test_token_shape(sandbox: Sandbox, http: httpx.Client) -> None:
    r = post_token(http, sandbox, CARD)
    assert r.status_code == 200
    body = r.json()
    assert body["id"].startswith("clv_1TST")
    assert body["object"] == "token"
    assert body["card"]["first6"] == "424242"
    assert body["card"]["last4"] == "4242"
    assert body["card"]["brand"] == "VISA"
    assert body["card"]["exp_month"] == "12"
    assert body["card"]["exp_year"] == "2030"


def test_apikey_required_and_case_insensitive(sandbox: Sandbox, http: httpx.Client) -> None:
    key = sandbox.state.merchant.api_access_key
    assert http.post("/v1/tokens", json={"card": CARD}).status_code == 401
    assert post_token(http, sandbox, CARD, key="wrong").status_code == 401
    for name in ("apiKey", "APIKEY"):
        assert http.post("/v1/tokens", json={"card": CARD}, headers={name: key}).status_code == 200
    # a bearer token is not a PAKMS key
    r = http.post("/v1/tokens", json={"card": CARD})
    assert r.json() == {"message": "401 Unauthorized"}


@pytest.mark.parametrize(
    ("card", "code", "param"),
    [
        ({**CARD, "number": "4242424242424241"}, "invalid_number", "card.number"),
        ({**CARD, "number": "4242abc"}, "invalid_number", "card.number"),
        ({**CARD, "exp_month": "13"}, "invalid_expiry_month", "card.exp_month"),
        ({**CARD, "exp_month": "123"}, "invalid_expiry_month", "card.exp_month"),
        ({**CARD, "exp_year": "203"}, "invalid_expiry_year", "card.exp_year"),
        ({**CARD, "exp_year": "2020"}, "expired_card", "card.exp_year"),
        ({**CARD, "cvv": "12"}, "invalid_cvc", "card.cvv"),
        ({**CARD, "cvv": "12345"}, "invalid_cvc", "card.cvv"),
        ({**CARD, "brand": "VISAX"}, "invalid_card_type", "card.brand"),
        ({**CARD, "number": "9999999999999995"}, "invalid_card_type", "card.number"),
        ({k: v for k, v in CARD.items() if k != "cvv"}, "parameter_missing", "card.cvv"),
        ({k: v for k, v in CARD.items() if k != "number"}, "parameter_missing", "card.number"),
        (
            {k: v for k, v in CARD.items() if k != "exp_month"},
            "parameter_missing",
            "card.exp_month",
        ),
        (
            {**CARD, "encrypted_pan": "bm90IGEgY2lwaGVydGV4dA==", "number": None},
            "invalid_request",
            "card.encrypted_pan",
        ),
        ({**CARD, "cvv": 123.5}, "parameter_invalid", "card.cvv"),
    ],
)
def test_card_validation(
    sandbox: Sandbox, http: httpx.Client, card: dict[str, object], code: str, param: str
) -> None:
    r = post_token(http, sandbox, card)
    assert r.status_code == 400
    err = error(r)
    assert err["code"] == code
    assert err["param"] == param
    assert param in err["message"] or code in ("expired_card",)
    assert "4242424242424242" not in r.text
    assert len(sandbox.state.ecommerce.tokens) == 0


def test_missing_card_object(sandbox: Sandbox, http: httpx.Client) -> None:
    r = http.post("/v1/tokens", json={}, headers={"apikey": sandbox.state.merchant.api_access_key})
    assert error(r)["param"] == "card"


def test_expiry_follows_sandbox_clock(sandbox: Sandbox, http: httpx.Client) -> None:
    assert post_token(http, sandbox, {**CARD, "exp_year": "2030"}).status_code == 200
    sandbox.state.clock.advance(10 * 366 * 24 * 3600)
    r = post_token(http, sandbox, {**CARD, "exp_year": "2030"})
    assert error(r)["code"] == "expired_card"


def test_two_digit_year_and_month(sandbox: Sandbox, http: httpx.Client) -> None:
    body = post_token(http, sandbox, {**CARD, "exp_month": "3", "exp_year": "31"}).json()
    assert body["card"]["exp_month"] == "03"
    assert body["card"]["exp_year"] == "2031"


def test_keys_json_layout_and_encrypted_pan(sandbox: Sandbox, http: httpx.Client) -> None:
    keys = http.get("/assets/keys.json").json()
    assert set(keys) >= {"TA_PUBLIC_KEY_DEV", "TA_PUBLIC_KEY_PROD"}
    raw = base64.b64decode(keys["TA_PUBLIC_KEY_DEV"])
    assert len(raw) == 256 + 3
    assert int.from_bytes(raw[256:], "big") == 65537
    assert raw[0] & 0x80  # a full 2048-bit modulus
    enc = encrypt_pan("4000000000009995", keys["TA_PUBLIC_KEY_DEV"])
    card = {"encrypted_pan": enc, "exp_month": "01", "exp_year": "2031", "cvv": "999"}
    r = post_token(http, sandbox, card)
    assert r.status_code == 200, r.text
    assert r.json()["card"]["last4"] == "9995"
    # the outcome travelled with the token
    token = sandbox.state.ecommerce.tokens.objects[r.json()["id"]]
    assert token.decline_code == "insufficient_funds"


def test_encrypted_pan_with_bad_luhn(sandbox: Sandbox, http: httpx.Client) -> None:
    keys = http.get("/assets/keys.json").json()
    enc = encrypt_pan("4242424242424241", keys["TA_PUBLIC_KEY_PROD"])
    r = post_token(
        http, sandbox, {"encrypted_pan": enc, "exp_month": "1", "exp_year": "2031", "cvv": "111"}
    )
    assert error(r)["code"] == "invalid_number"
    assert error(r)["param"] == "card.encrypted_pan"


def test_no_pan_or_cvv_stored(sandbox: Sandbox, http: httpx.Client) -> None:
    token_id = tokenize(http, sandbox, "4000056655665556", cvv="8642")
    token = sandbox.state.ecommerce.tokens.objects[token_id]
    dumped = json.dumps(dataclasses.asdict(token))
    assert "4000056655665556" not in dumped
    assert "8642" not in dumped
    events = json.dumps(sandbox.state.events.list())
    assert "4000056655665556" not in events
    assert sandbox.state.merchant.api_access_key not in events


def test_get_and_update_token(sandbox: Sandbox, http: httpx.Client) -> None:
    token_id = tokenize(http, sandbox)
    key = {"apikey": sandbox.state.merchant.api_access_key}
    detail = http.get(f"/v1/tokens/{token_id}", headers=key).json()
    assert detail["tokenMeta"]["tokenType"] == "ONEOFF"
    assert detail["cloverToken"]["merchantUuid"] == sandbox.state.merchant.merchant_id
    r = http.put(f"/v1/tokens/{token_id}", json={"type": "RECURRING"}, headers=key)
    assert r.json()["tokenMeta"]["tokenType"] == "RECURRING"
    assert (
        error(http.put(f"/v1/tokens/{token_id}", json={"type": "X"}, headers=key))["param"]
        == "type"
    )
    missing = http.get("/v1/tokens/clv_nope", headers=key)
    assert missing.status_code == 404
    assert error(missing)["code"] == "resource_missing"


def test_cors_preflight_and_headers(sandbox: Sandbox, http: httpx.Client) -> None:
    origin = {"origin": "https://shop.example"}
    pre = http.options(
        "/v1/tokens",
        headers={
            **origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "apikey",
        },
    )
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == "https://shop.example"
    assert "apikey" in pre.headers["access-control-allow-headers"]
    assert "POST" in pre.headers["access-control-allow-methods"]
    ok = http.post(
        "/v1/tokens",
        json={"card": CARD},
        headers={**origin, "apikey": sandbox.state.merchant.api_access_key},
    )
    assert ok.headers["access-control-allow-origin"] == "https://shop.example"
    denied = http.post("/v1/tokens", json={"card": CARD}, headers=origin)
    assert denied.status_code == 401
    assert denied.headers["access-control-allow-origin"] == "https://shop.example"
    # not on server-side routes
    assert "access-control-allow-origin" not in http.get("/pakms/apikey", headers=origin).headers


def test_other_merchant_cannot_see_token(sandbox: Sandbox, http: httpx.Client) -> None:
    token_id = tokenize(http, sandbox)
    other = sandbox.state.add_merchant("Other")
    r = http.get(f"/v1/tokens/{token_id}", headers={"apikey": other.api_access_key})
    assert r.status_code == 404


ACH = {
    "bank_account_number": "1234567891",
    "bank_routing_number": "011000015",
    "account_type": "checking",
}


def test_ach_token_and_charge(sandbox: Sandbox, http: httpx.Client) -> None:
    key = {"apikey": sandbox.state.merchant.api_access_key}
    r = http.post("/v1/tokens", json={"ach": ACH}, headers=key)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "token"
    assert body["ach"] == {"account_last4": "7891", "routing_last4": "0015"}
    detail = http.get(f"/v1/tokens/{body['id']}", headers=key).json()
    assert detail["tokenMeta"]["paymentInstrument"] == "ACH"
    assert "1234567891" not in json.dumps(
        dataclasses.asdict(sandbox.state.ecommerce.tokens.objects[body["id"]])
    )
    ch = http.post(
        "/v1/charges", json={"amount": 2500, "currency": "usd", "source": body["id"]}
    ).json()
    assert ch["status"] == "succeeded"
    assert ch["payment_method_details"] == "ach"
    assert ch["source"]["ach"]["account_last4"] == "7891"


def test_gift_card_token(sandbox: Sandbox, http: httpx.Client) -> None:
    key = {"apikey": sandbox.state.merchant.api_access_key}
    r = http.post(
        "/v1/tokens",
        json={"gift_card": {"card_number": "6000000000002100", "security_code": "1234"}},
        headers=key,
    )
    assert r.json()["giftCard"] == {"last4": "2100"}
    ch = http.post(
        "/v1/charges", json={"amount": 100, "currency": "usd", "source": r.json()["id"]}
    ).json()
    assert ch["payment_method_details"] == "gift_card"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"ach": {**ACH, "bank_account_number": "123"}}, "ach.bank_account_number"),
        ({"ach": {**ACH, "bank_routing_number": "12345678x"}}, "ach.bank_routing_number"),
        (
            {"ach": {k: v for k, v in ACH.items() if k != "bank_routing_number"}},
            "ach.bank_routing_number",
        ),
        ({"ach": {**ACH, "account_type": "brokerage"}}, "ach.account_type"),
        ({"ach": {**ACH, "email": "x"}}, "ach.email"),
        ({"ach": "x"}, "ach"),
        ({"gift_card": {"card_number": "12345"}}, "gift_card.card_number"),
        (
            {"gift_card": {"card_number": "6000000000002100", "security_code": "12"}},
            "gift_card.security_code",
        ),
        ({"gift_card": {}}, "gift_card.card_number"),
        ({}, "card"),
    ],
)
def test_ach_and_gift_validation(
    sandbox: Sandbox, http: httpx.Client, body: dict[str, object], param: str
) -> None:
    r = http.post(
        "/v1/tokens", json=body, headers={"apikey": sandbox.state.merchant.api_access_key}
    )
    assert r.status_code == 400
    assert error(r)["param"] == param
    assert len(sandbox.state.ecommerce.tokens) == 0


def test_token_ids_in_paths_are_not_logged(sandbox: Sandbox, http: httpx.Client) -> None:
    token_id = tokenize(http, sandbox)
    http.get(f"/v1/tokens/{token_id}", headers={"apikey": sandbox.state.merchant.api_access_key})
    logged = http.get("/_sandbox/events").json()["events"]
    assert token_id not in json.dumps(logged)
    assert logged[-1]["path"] == "/v1/tokens/clv_***"
