"""Webhooks: Hosted Checkout signatures, app auth codes, typed parsing, builders."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloverpay.api import (
    APP_AUTH_HEADER,
    CHECKOUT_SIGNATURE_HEADER,
    AppEvent,
    AppEventType,
    AppWebhook,
    CheckoutStatus,
    SignatureFailure,
    VerificationRequest,
    WebhookPayloadError,
    WebhookSignatureError,
    build_app_webhook,
    build_checkout_webhook,
    parse_app_webhook,
    parse_checkout_event,
    sign_checkout_webhook,
    verify_app_webhook,
    verify_checkout_signature,
)

SECRET = "whsec-5b2f0e8a9c1d"
T = 1_700_000_000
BODY = (
    b'{"createdTime":1642599079000,"message":"Approved for 100","status":"APPROVED",'
    b'"type":"PAYMENT","id":"pay-1","merchantId":"MID0000000001","data":"sess-1"}'
)

secrets_ = st.text(min_size=1, max_size=64)
bodies = st.binary(max_size=2048)


# --- Hosted Checkout signature ---------------------------------------------------------


def test_signature_is_independent_hmac_sha256_hex() -> None:
    # Computed here the way Clover documents it, independently of the module.
    digest = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign_checkout_webhook(BODY, SECRET, T) == f"t={T},v1={digest}"
    assert verify_checkout_signature(BODY, f"t={T},v1={digest}", SECRET, now=T) == T


@given(body=bodies, secret=secrets_, ts=st.integers(min_value=0, max_value=2**40))
def test_round_trip(body: bytes, secret: str, ts: int) -> None:
    header = sign_checkout_webhook(body, secret, ts)
    assert verify_checkout_signature(body, header, secret, now=ts) == ts


@given(body=bodies.filter(bool), secret=secrets_, data=st.data())
def test_any_single_byte_change_fails(body: bytes, secret: str, data: st.DataObject) -> None:
    header = sign_checkout_webhook(body, secret, T)
    i = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    delta = data.draw(st.integers(min_value=1, max_value=255))
    tampered = body[:i] + bytes([(body[i] + delta) % 256]) + body[i + 1 :]
    with pytest.raises(WebhookSignatureError) as info:
        verify_checkout_signature(tampered, header, secret, now=T)
    assert info.value.reason is SignatureFailure.NO_MATCHING_SIGNATURE


random_secrets = st.binary(min_size=16, max_size=32).map(bytes.hex)


@given(body=bodies, secret=random_secrets, other=secrets_)
def test_wrong_secret_fails_and_is_never_echoed(body: bytes, secret: str, other: str) -> None:
    if secret == other:
        return
    header = sign_checkout_webhook(body, other, T)
    with pytest.raises(WebhookSignatureError) as info:
        verify_checkout_signature(body, header, secret, now=T)
    assert info.value.reason is SignatureFailure.NO_MATCHING_SIGNATURE
    assert secret not in str(info.value)
    assert secret not in repr(info.value)


@given(skew=st.integers(min_value=301, max_value=10**9), sign=st.sampled_from([-1, 1]))
def test_stale_or_future_timestamp_fails(skew: int, sign: int) -> None:
    header = sign_checkout_webhook(BODY, SECRET, T)
    with pytest.raises(WebhookSignatureError) as info:
        verify_checkout_signature(BODY, header, SECRET, now=T + sign * skew)
    assert info.value.reason is SignatureFailure.STALE_TIMESTAMP


def test_tolerance_is_inclusive_configurable_and_can_be_disabled() -> None:
    header = sign_checkout_webhook(BODY, SECRET, T)
    assert verify_checkout_signature(BODY, header, SECRET, now=T + 300) == T
    assert verify_checkout_signature(BODY, header, SECRET, now=T - 300) == T
    with pytest.raises(WebhookSignatureError, match="stale_timestamp"):
        verify_checkout_signature(BODY, header, SECRET, now=T + 11, tolerance=10)
    assert verify_checkout_signature(BODY, header, SECRET, now=0, tolerance=None) == T


def test_default_now_is_the_real_clock() -> None:
    header = sign_checkout_webhook(BODY, SECRET, T)  # 2023: long stale by now
    with pytest.raises(WebhookSignatureError, match="stale"):
        verify_checkout_signature(BODY, header, SECRET)


def test_several_v1_entries_any_may_match() -> None:
    good = sign_checkout_webhook(BODY, SECRET, T).split(",")[1]
    bad = "v1=" + "0" * 64
    for header in (f"t={T},{bad},{good}", f"{good}, t={T}, {bad}", f"t={T},v0=abc,{good}"):
        assert verify_checkout_signature(BODY, header, SECRET, now=T) == T
    upper = f"t={T},{good.upper().replace('V1', 'v1')}"
    assert verify_checkout_signature(BODY, upper, SECRET, now=T) == T
    assert verify_checkout_signature(BODY, upper.encode(), SECRET, now=T) == T


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, SignatureFailure.MISSING_HEADER),
        ("", SignatureFailure.MISSING_HEADER),
        ("   ", SignatureFailure.MISSING_HEADER),
        ("v1=abcd", SignatureFailure.MALFORMED_HEADER),
        (f"t={T}", SignatureFailure.MALFORMED_HEADER),
        (f"t={T},v1=", SignatureFailure.MALFORMED_HEADER),
        ("t=soon,v1=abcd", SignatureFailure.MALFORMED_HEADER),
        ("t=-5,v1=abcd", SignatureFailure.MALFORMED_HEADER),
        (f"t={T},t={T},v1=abcd", SignatureFailure.MALFORMED_HEADER),
        ("garbage", SignatureFailure.MALFORMED_HEADER),
        (f"t={T},v1=zz\u00e9", SignatureFailure.NO_MATCHING_SIGNATURE),
    ],
)
def test_bad_headers_have_a_clear_reason(header: str | None, reason: SignatureFailure) -> None:
    with pytest.raises(WebhookSignatureError) as info:
        verify_checkout_signature(BODY, header, SECRET, now=T)
    assert info.value.reason is reason
    assert str(info.value).startswith(reason.value)
    assert SECRET not in str(info.value)


def test_empty_secret_is_a_usage_error() -> None:
    with pytest.raises(ValueError, match="secret"):
        verify_checkout_signature(BODY, f"t={T},v1=ab", "", now=T)


# --- app webhook auth ------------------------------------------------------------------


def test_app_auth_code() -> None:
    verify_app_webhook("auth-code-xyz", "auth-code-xyz")
    verify_app_webhook(b"auth-code-xyz", "auth-code-xyz")
    for given_value, reason in [
        (None, SignatureFailure.MISSING_HEADER),
        ("", SignatureFailure.MISSING_HEADER),
        ("auth-code-xy", SignatureFailure.AUTH_CODE_MISMATCH),
        ("AUTH-CODE-XYZ", SignatureFailure.AUTH_CODE_MISMATCH),
    ]:
        with pytest.raises(WebhookSignatureError) as info:
            verify_app_webhook(given_value, "auth-code-xyz")
        assert info.value.reason is reason
        assert "auth-code" not in str(info.value).lower()
    with pytest.raises(ValueError, match="auth_code"):
        verify_app_webhook("x", "")


# --- parsing ---------------------------------------------------------------------------


def test_parse_checkout_event_camel_case() -> None:
    event = parse_checkout_event(BODY)
    assert event.id == "pay-1"
    assert event.merchant_id == "MID0000000001"
    assert event.status is CheckoutStatus.APPROVED
    assert event.type == "PAYMENT"
    assert event.checkout_session_id == event.data == "sess-1"
    assert event.message == "Approved for 100"
    assert event.created_time == 1642599079000
    assert event.created_at == datetime(2022, 1, 19, 13, 31, 19, tzinfo=UTC)
    assert event.extra == {}


def test_parse_checkout_event_capitalised_keys_and_extras(caplog: pytest.LogCaptureFixture) -> None:
    raw = {
        "CreatedTime": 1,
        "Message": "Declined",
        "Status": "DECLINED",
        "Type": "PAYMENT",
        "Id": "p",
        "MerchantId": "m",
        "Data": "s",
        "NewThing": {"x": 1},
    }
    caplog.set_level(logging.INFO)
    event = parse_checkout_event(json.dumps(raw))
    assert (event.status, event.merchant_id, event.data) == (CheckoutStatus.DECLINED, "m", "s")
    assert event.extra == {"NewThing": {"x": 1}}
    assert "NewThing" in caplog.text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"status": "MAYBE"}, "status"),
        ({"status": None}, "status"),
        ({"merchantId": ""}, "merchantId"),
        ({"createdTime": "yesterday"}, "createdTime"),
        ({"createdTime": True}, "createdTime"),
        ({"message": 5}, "message"),
        ({"data": None}, "data"),
        ({"Id": "dup"}, "id"),
    ],
)
def test_parse_checkout_event_errors_name_the_field(change: dict[str, object], field: str) -> None:
    raw = json.loads(BODY) | change
    with pytest.raises(WebhookPayloadError) as info:
        parse_checkout_event(raw)
    assert info.value.field == field


@pytest.mark.parametrize("body", [b"", b"not json", b"[1,2]", b'"str"'])
def test_parse_rejects_non_objects(body: bytes) -> None:
    with pytest.raises(WebhookPayloadError, match="<body>"):
        parse_checkout_event(body)
    with pytest.raises(WebhookPayloadError, match="<body>"):
        parse_app_webhook(body)


def test_parse_app_webhook() -> None:
    body = {
        "appId": "APP1",
        "merchants": {
            "M1": [
                {"objectId": "O:GHIVJT2ABCRSC", "type": "UPDATE", "ts": 1537970958000},
                {"objectId": "P:ABC", "type": "CREATE", "ts": 1537970958001},
            ],
            "M2": [{"objectId": "I:X:Y", "type": "DELETE", "ts": 5}],
        },
    }
    hook = parse_app_webhook(json.dumps(body).encode())
    assert isinstance(hook, AppWebhook)
    assert hook.app_id == "APP1"
    assert hook.merchants == ("M1", "M2")
    assert hook.events == (
        AppEvent("M1", "O", "GHIVJT2ABCRSC", AppEventType.UPDATE, 1537970958000),
        AppEvent("M1", "P", "ABC", AppEventType.CREATE, 1537970958001),
        AppEvent("M2", "I", "X:Y", AppEventType.DELETE, 5),
    )
    assert hook.events[0].occurred_at.year == 2018


def test_parse_verification_request() -> None:
    body, headers = build_app_webhook(
        app_id="APP1", auth_code="code", verification_code="ce7643c1-83ea-4218-abe6-da876c9c7a0a"
    )
    assert APP_AUTH_HEADER not in headers
    assert parse_app_webhook(body) == VerificationRequest("ce7643c1-83ea-4218-abe6-da876c9c7a0a")
    with pytest.raises(WebhookPayloadError, match="verificationCode"):
        parse_app_webhook({"verificationCode": 42})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"appId": "A"}, "merchants"),
        ({"appId": 1, "merchants": {}}, "appId"),
        ({"merchants": {"M": {}}}, "merchants.M"),
        ({"merchants": {"M": ["x"]}}, "merchants.M[0]"),
        (
            {"merchants": {"M": [{"objectId": "NOCOLON", "type": "CREATE", "ts": 1}]}},
            "merchants.M[0].objectId",
        ),
        (
            {"merchants": {"M": [{"objectId": "P:", "type": "CREATE", "ts": 1}]}},
            "merchants.M[0].objectId",
        ),
        (
            {"merchants": {"M": [{"objectId": "P:1", "type": "MOVE", "ts": 1}]}},
            "merchants.M[0].type",
        ),
        ({"merchants": {"M": [{"objectId": "P:1", "type": "CREATE"}]}}, "merchants.M[0].ts"),
    ],
)
def test_parse_app_webhook_errors_name_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(WebhookPayloadError) as info:
        parse_app_webhook(body)
    assert info.value.field == field


# --- builders --------------------------------------------------------------------------


def test_build_checkout_webhook_round_trip() -> None:
    body, headers = build_checkout_webhook(
        secret=SECRET,
        payment_id="pay-9",
        merchant_id="MID9",
        checkout_session_id="59283e4a-cade-4aba-b99d-e4d6c7c4b81a",
        status="DECLINED",
        timestamp=T,
        created_time=1,
    )
    assert headers["Content-Type"] == "application/json"
    assert verify_checkout_signature(body, headers[CHECKOUT_SIGNATURE_HEADER], SECRET, now=T) == T
    event = parse_checkout_event(body)
    assert (event.id, event.merchant_id, event.status, event.created_time) == (
        "pay-9",
        "MID9",
        CheckoutStatus.DECLINED,
        1,
    )
    assert event.checkout_session_id == "59283e4a-cade-4aba-b99d-e4d6c7c4b81a"
    # fresh by default: verifies against the real clock
    body, headers = build_checkout_webhook(
        secret=SECRET, payment_id="p", merchant_id="m", checkout_session_id="s"
    )
    verify_checkout_signature(body, headers[CHECKOUT_SIGNATURE_HEADER], SECRET)
    assert parse_checkout_event(body).status is CheckoutStatus.APPROVED


@given(
    st.lists(
        st.builds(
            AppEvent,
            merchant_id=st.text(min_size=1, max_size=13),
            object_type=st.sampled_from(["O", "P", "I", "C", "E", "A", "M"]),
            object_id=st.text(min_size=1, max_size=20),
            type=st.sampled_from(list(AppEventType)),
            ts=st.integers(min_value=0, max_value=2**53),
        ),
        max_size=10,
    )
)
def test_build_app_webhook_round_trip(events: list[AppEvent]) -> None:
    body, headers = build_app_webhook(app_id="APP", auth_code="secret-code", events=events)
    verify_app_webhook(headers[APP_AUTH_HEADER], "secret-code")
    hook = parse_app_webhook(body)
    assert isinstance(hook, AppWebhook)
    # the wire groups events by merchant; order within a merchant is kept
    by_merchant = sorted(
        events,
        key=lambda e: list(dict.fromkeys(x.merchant_id for x in events)).index(e.merchant_id),
    )
    assert list(hook.events) == by_merchant


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
checkout_keys = st.sampled_from(
    ["createdTime", "message", "status", "type", "id", "merchantId", "data", "Status", "x"]
)


@given(
    st.binary(max_size=256)
    | st.dictionaries(checkout_keys, json_values).map(lambda d: json.dumps(d).encode())
    | st.dictionaries(
        st.sampled_from(["appId", "merchants", "verificationCode"]),
        json_values | st.dictionaries(st.text(max_size=4), st.lists(json_values, max_size=2)),
    ).map(lambda d: json.dumps(d).encode())
)
def test_parsers_only_raise_payload_errors(body: bytes) -> None:
    for parse in (parse_checkout_event, parse_app_webhook):
        with contextlib.suppress(WebhookPayloadError):
            parse(body)
