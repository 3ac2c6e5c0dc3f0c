from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloverpay.api import (
    APIError,
    AuthenticationError,
    CardDeclinedError,
    CloverError,
    ConflictError,
    IdempotencyError,
    InvalidRequestError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from cloverpay.api._error_mapping import error_from_response, parse_retry_after


def nested(code: str | None, **extra: object) -> bytes:
    err: dict[str, object] = {"message": "msg", **extra}
    if code is not None:
        err["code"] = code
    return json.dumps({"error": err}).encode()


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (
            402,
            nested("card_declined", type="card_error", decline_code="insufficient_funds"),
            CardDeclinedError,
        ),
        # Declines also arrive as 400, and without a type (spec §13.1, §13.2).
        (400, nested("card_declined"), CardDeclinedError),
        (400, nested("invalid_number", param="card.number"), CardDeclinedError),
        (400, nested("invalid_request", type="card_error"), CardDeclinedError),
        (400, nested("parameter_missing", param="amount"), InvalidRequestError),
        (400, nested("order_already_paid"), InvalidRequestError),
        (401, b'{"message": "401 Unauthorized"}', AuthenticationError),
        (403, b'{"message": "Forbidden"}', PermissionDeniedError),
        (404, b'{"message": "Not Found"}', NotFoundError),
        (400, nested("resource_missing"), NotFoundError),
        (409, nested(None, type="idempotency_error"), IdempotencyError),
        (409, b'{"message": "conflict", "type": "RESOURCE_CONFLICT"}', ConflictError),
        (400, nested("idempotency_key_reused"), IdempotencyError),
        (429, nested("rate_limit", type="rate_limit_error"), RateLimitError),
        (429, b"", RateLimitError),
        (500, b"<html>oops</html>", ServerError),
        (503, nested("processing_error", type="api_error"), ServerError),
        # type alone never decides a class: code and status do.
        (400, nested("parameter_invalid_integer", type="rate_limit_error"), InvalidRequestError),
    ],
)
def test_classes(status: int, body: bytes, cls: type[APIError]) -> None:
    err = error_from_response(status, body, {}, method="POST", url="/v1/charges")
    assert type(err) is cls
    assert err.http_status == status
    assert isinstance(err, CloverError)


def test_nested_fields_are_kept() -> None:
    body = nested(
        "card_declined",
        type="card_error",
        decline_code="insufficient_funds",
        charge="TC4DGCJW1K4EW",
        param="source",
    )
    err = error_from_response(
        402, body, {"x-request-id": "req-1"}, method="POST", url="/v1/charges", idempotency_key="k1"
    )
    assert isinstance(err, CardDeclinedError)
    assert (err.code, err.type, err.decline_code, err.charge, err.param) == (
        "card_declined",
        "card_error",
        "insufficient_funds",
        "TC4DGCJW1K4EW",
        "source",
    )
    assert err.request_id == "req-1"
    assert err.idempotency_key == "k1"
    assert "code=card_declined" in str(err)
    assert "k1" in str(err)


def test_flat_platform_and_oauth_bodies() -> None:
    err = error_from_response(401, b'{"message": "Invalid token"}', {})
    assert err.message == "Invalid token"
    assert err.code is None
    err = error_from_response(400, b'{"error": "invalid_grant", "error_description": "bad"}', {})
    assert err.message == "bad"
    assert err.code == "invalid_grant"


def test_non_json_body_message() -> None:
    err = error_from_response(502, b"Bad Gateway", {})
    assert err.message == "HTTP 502: Bad Gateway"
    assert err.body is None


def test_card_numbers_in_messages_are_redacted() -> None:
    err = error_from_response(400, nested("invalid_number", message="bad 4242424242424242"), {})
    assert "4242424242424242" not in str(err)
    assert "4242424242424242" not in repr(err)
    assert "424242******4242" in err.message


def test_retry_after() -> None:
    err = error_from_response(429, b"{}", {"retry-after": "3"})
    assert isinstance(err, RateLimitError)
    assert err.retry_after == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("nonsense") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("-5") == 0.0


def test_outcome_unknown_is_a_connection_error() -> None:
    err = OutcomeUnknownError("x", idempotency_key="k", method="POST", url="/v1/charges")
    assert err.idempotency_key == "k"
    assert err.http_status is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(st.integers(400, 599), st.binary(max_size=200))
def test_any_bytes_give_an_api_error(status: int, content: bytes) -> None:
    err = error_from_response(status, content, {"retry-after": "x"})
    assert isinstance(err, APIError)
    assert err.http_status == status


@given(st.integers(400, 599), json_values | st.fixed_dictionaries({"error": json_values}))
def test_any_json_gives_an_api_error(status: int, body: object) -> None:
    err = error_from_response(status, json.dumps(body).encode(), {})
    assert isinstance(err, APIError)
    assert isinstance(err.message, str)
