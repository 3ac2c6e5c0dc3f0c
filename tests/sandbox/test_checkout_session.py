"""The Hosted Checkout session state table and request parsing, without HTTP."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloverpay.sandbox import (
    CHECKOUT_TTL_MS,
    CheckoutError,
    CheckoutSession,
    CheckoutState,
    CheckoutStore,
    parse_checkout_request,
)

BODY = {"shoppingCart": {"lineItems": [{"name": "Tea", "price": 300, "unitQty": 3}]}}


def _session() -> CheckoutSession:
    return CheckoutStore().create("MID", BODY, now_ms=1_000)


@given(st.lists(st.sampled_from(list(CheckoutState)), max_size=12))
def test_state_table(moves: list[CheckoutState]) -> None:
    """Whatever is attempted: PAID and EXPIRED are final, PAID only follows PAYING,
    and a session is paid at most once."""
    session = _session()
    paid = 0
    for target in moves:
        before = session.state
        try:
            session.transition(target)
        except CheckoutError as exc:
            status = exc.status
            assert session.state is before
            assert status == 409
            continue
        assert before not in (CheckoutState.PAID, CheckoutState.EXPIRED)
        if target is CheckoutState.PAID:
            assert before is CheckoutState.PAYING
            paid += 1
        if target is CheckoutState.EXPIRED:
            assert before is CheckoutState.OPEN
    assert paid <= 1


def test_expiry_is_on_the_given_clock() -> None:
    session = _session()
    assert session.expires_ms == 1_000 + CHECKOUT_TTL_MS
    assert session.refresh(session.expires_ms - 1) is CheckoutState.OPEN
    assert session.refresh(session.expires_ms) is CheckoutState.EXPIRED
    with pytest.raises(CheckoutError):
        session.transition(CheckoutState.PAYING)


def test_paying_session_does_not_expire_mid_payment() -> None:
    session = _session()
    session.transition(CheckoutState.PAYING)
    assert session.refresh(session.expires_ms + 1) is CheckoutState.PAYING


def test_totals_and_redirect_substitution() -> None:
    items, extras = parse_checkout_request(
        {
            "shoppingCart": {
                "lineItems": [
                    {"name": "A", "price": 333, "unitQty": 3, "taxRates": [{"rate": 825000}]},
                    {"name": "B", "price": 100, "taxRates": []},
                ]
            },
            "redirectUrls": {"success": "https://s.example/{CHECKOUT_SESSION_ID}/x"},
        }
    )
    assert [i.subtotal for i in items] == [999, 100]
    assert [i.tax for i in items] == [82, 0]  # 999 * 8.25 % = 82.4 -> 82
    store = CheckoutStore()
    session = store.create(
        "MID",
        {
            "shoppingCart": {"lineItems": [{"name": "A", "price": 5}]},
            "redirectUrls": extras["redirectUrls"],
        },
        0,
    )
    assert session.redirect_for("success") == f"https://s.example/{session.id}/x"
    assert session.redirect_for("failure") is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "JSON object"),
        ({}, "shoppingCart is required"),
        ({"shoppingCart": {"lineItems": [{"name": "a", "price": True}]}}, "price"),
        ({"shoppingCart": {"lineItems": [{"name": "a", "price": 1, "note": 5}]}}, "note"),
        ({"shoppingCart": {"lineItems": [{"name": "a", "price": 1}]}, "customer": []}, "customer"),
        (
            {
                "shoppingCart": {"lineItems": [{"name": "a", "price": 1}]},
                "redirectUrls": {"success": "relative/path"},
            },
            "redirectUrls.success",
        ),
        (
            {
                "shoppingCart": {
                    "lineItems": [{"name": "a", "price": 1, "taxRates": [{"rate": -1}]}]
                }
            },
            "taxRates[0].rate",
        ),
    ],
)
def test_parse_errors_name_the_field(body: object, message: str) -> None:
    with pytest.raises(CheckoutError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_checkout_request(body)
