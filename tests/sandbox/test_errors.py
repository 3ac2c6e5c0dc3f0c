"""Error helpers: one per code of Clover's error table (spec §13.3), both shapes."""

from __future__ import annotations

import json

import pytest

from cloverpay.sandbox import SandboxError
from cloverpay.sandbox import _errors as E

SPEC_CODES = {
    "amount_too_large": E.amount_too_large,
    "card_declined": lambda: E.card_declined("generic_decline", "CHARGEID00001", "declined"),
    "card_on_file_missing": lambda: E.card_on_file_missing("CUST"),
    "charge_already_captured": lambda: E.charge_already_captured("CH"),
    "charge_already_refunded": lambda: E.charge_already_refunded("CH"),
    "email_invalid": E.email_invalid,
    "expired_card": E.expired_card,
    "incorrect_cvc": E.incorrect_cvc,
    "invalid_cvc": E.invalid_cvc,
    "incorrect_number": E.incorrect_number,
    "invalid_number": E.invalid_number,
    "invalid_expiry_month": E.invalid_expiry_month,
    "invalid_expiry_year": E.invalid_expiry_year,
    "invalid_card_type": E.invalid_card_type,
    "invalid_charge_amount": E.invalid_charge_amount,
    "invalid_request": lambda: E.invalid_request("bad"),
    "invalid_tip_amount": E.invalid_tip_amount,
    "invalid_tax_amount": E.invalid_tax_amount,
    "missing": E.missing,
    "order_already_paid": lambda: E.order_already_paid("O"),
    "processing_error": E.processing_error,
    "rate_limit": lambda: E.rate_limited(2),
    "resource_missing": lambda: E.resource_missing("charge", "X"),
    "token_already_used": lambda: E.token_already_used("clv_x"),
}


@pytest.mark.parametrize("code", sorted(SPEC_CODES))
def test_every_spec_code_has_a_helper(code: str) -> None:
    err = SPEC_CODES[code]()
    assert isinstance(err, SandboxError)
    assert err.code == code
    nested = err.body("ecommerce")["error"]
    assert nested["code"] == code
    assert nested["type"] in {
        "api_error",
        "card_error",
        "invalid_request_error",
        "rate_limit_error",
        "idempotency_error",
        "authentication_error",
    }
    assert err.body("platform") == {"message": err.message}
    status, headers, body = err.render("ecommerce")
    assert 400 <= status < 600
    assert json.loads(body) == {"message": err.message, "error": nested}
    assert err.body("ecommerce", top_level_message=False) == {"error": nested}
    assert (b"content-type", b"application/json") in headers


def test_decline_carries_charge_and_decline_code() -> None:
    err = E.card_declined("insufficient_funds", "CH1", "no money", status=400)
    body = err.body("ecommerce")["error"]
    assert body["decline_code"] == "insufficient_funds"
    assert body["charge"] == "CH1"
    assert err.status == 400


def test_unauthorized_is_flat_unless_nested() -> None:
    assert E.unauthorized().body("ecommerce") == {"message": "401 Unauthorized"}
    assert E.unauthorized(nested=True).body("ecommerce")["error"]["type"] == "authentication_error"


def test_family_by_path() -> None:
    assert E.error_family("/v1/charges") == "ecommerce"
    assert E.error_family("/pakms/apikey") == "ecommerce"
    for path in (
        "/v3/merchants/X",
        "/oauth/v2/token",
        "/invoicingcheckoutservice/v1/checkouts",
        "/recurring/v1/plans",
    ):
        assert E.error_family(path) == "platform"


def test_rate_limited_headers() -> None:
    err = E.rate_limited(3, {"X-RateLimit-tokenLimit": "16"})
    _, headers, _ = err.render("ecommerce")
    assert (b"retry-after", b"3") in headers
    assert (b"x-ratelimit-tokenlimit", b"16") in headers
