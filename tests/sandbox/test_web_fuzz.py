"""Arbitrary JSON bodies on the OAuth, Hosted Checkout, Recurring and control endpoints:
always a 2xx or a 4xx with a message, never a server error."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloverpay.sandbox import Sandbox

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)

keys = st.sampled_from(
    [
        "shoppingCart",
        "lineItems",
        "name",
        "price",
        "unitQty",
        "taxRates",
        "rate",
        "customer",
        "redirectUrls",
        "success",
        "amount",
        "interval",
        "intervalCount",
        "customerId",
        "collectionMethod",
        "startDate",
        "endDate",
        "client_id",
        "code",
        "client_secret",
        "code_verifier",
        "refresh_token",
        "url",
        "verificationCode",
        "active",
        "note",
    ]
)
shaped = st.recursive(
    json_values,
    lambda inner: st.dictionaries(keys, inner, max_size=5) | st.lists(inner, max_size=3),
    max_leaves=15,
)

ENDPOINTS = [
    ("POST", "/invoicingcheckoutservice/v1/checkouts"),
    ("POST", "/recurring/v1/plans"),
    ("POST", "/oauth/v2/token"),
    ("POST", "/oauth/v2/refresh"),
    ("POST", "/oauth/token/migrate_v2"),
    ("POST", "/_sandbox/oauth/settings"),
    ("POST", "/_sandbox/webhooks/verify"),
    ("POST", "/_sandbox/webhooks/settings"),
    ("POST", "/_sandbox/webhooks/hosted_checkout"),
    ("POST", "/_sandbox/platform/payments"),
    ("POST", "/_sandbox/platform/payments/NOPE/void"),
]


@pytest.fixture(scope="module")
def fuzz_client() -> Any:
    sb = Sandbox(seed=11)
    c = sb.credentials
    headers = {"X-Clover-Merchant-Id": c.merchant_id}
    with sb.client(headers=headers) as client:
        plan = client.post(
            "/recurring/v1/plans", json={"name": "P", "amount": 100, "interval": "WEEK"}
        ).json()
        yield client, plan["id"]
    sb.close()


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=shaped)
def test_never_a_server_error(fuzz_client: Any, method: str, path: str, body: Any) -> None:
    client, _ = fuzz_client
    r: httpx.Response = client.request(method, path, json=body)
    assert r.status_code < 500, (path, body, r.text)
    if r.status_code >= 400:
        data = r.json()
        assert data.get("message") or data.get("error", {}).get("message")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=shaped)
def test_subscription_bodies(fuzz_client: Any, body: Any) -> None:
    client, plan_id = fuzz_client
    r = client.post(f"/recurring/v1/plans/{plan_id}/subscriptions", json=body)
    assert r.status_code < 500, (body, r.text)
    r = client.put(f"/recurring/v1/plans/{plan_id}", json=body)
    assert r.status_code < 500, (body, r.text)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    form=st.dictionaries(
        st.sampled_from(["number", "exp", "cvv", "zip", "name", "tip"]),
        st.text(max_size=25),
        max_size=6,
    )
)
def test_hosted_page_form(fuzz_client: Any, form: dict[str, str]) -> None:
    client, _ = fuzz_client
    session = client.post(
        "/invoicingcheckoutservice/v1/checkouts",
        json={
            "shoppingCart": {"lineItems": [{"name": "x", "price": 100}]},
            "tips": {"enabled": True},
        },
    ).json()
    r = client.post(f"/checkout/{session['checkoutSessionId']}/pay", data=form)
    assert r.status_code in (303, 400), (form, r.status_code)
