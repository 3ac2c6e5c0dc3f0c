from __future__ import annotations

import datetime as dt
import json

from hypothesis import given
from hypothesis import strategies as st

from cloverpay.api import (
    Charge,
    CheckoutSession,
    Customer,
    ListObject,
    Order,
    PakmsKey,
    Payment,
    Plan,
    Subscription,
    Token,
    parse_recurring_time,
)

from .fake import CHARGE


def test_charge_keeps_unknown_fields_and_values() -> None:
    raw = {**CHARGE, "status": "brand_new_status", "surprise": {"x": 1}}
    charge = Charge.model_validate_json(json.dumps(raw))
    assert charge.status == "brand_new_status"
    assert charge.model_extra == {"surprise": {"x": 1}}
    assert charge.model_dump()["surprise"] == {"x": 1}


def test_charge_numeric_ref_num_and_string_source() -> None:
    charge = Charge.model_validate(
        {"id": "X", "ref_num": 116400500490, "auth_code": 4447, "source": "clv_1abc"}
    )
    assert charge.ref_num == "116400500490"
    assert charge.auth_code == "4447"
    assert charge.source == "clv_1abc"


def test_list_envelopes_all_parse() -> None:
    shapes = [
        {"object": "list", "url": "/v1/charges", "data": [CHARGE]},
        {"object": "list", "has_more": True, "data": {"elements": [CHARGE]}},
        {"elements": [CHARGE], "href": "http://x"},
        [CHARGE],
    ]
    for shape in shapes:
        page = ListObject[Charge].model_validate_json(json.dumps(shape))
        assert [c.id for c in page.data] == [CHARGE["id"]]
    assert ListObject[Charge].model_validate_json(shapes[1] and json.dumps(shapes[1])).has_more


def test_order_items_elements_and_customer_sources() -> None:
    order = Order.model_validate(
        {"id": "O", "items": {"elements": [{"type": "sku", "amount": 1}]}, "currency": "USD"}
    )
    assert order.items is not None
    assert order.items[0].amount == 1
    cust = Customer.model_validate(
        {"id": "C", "firstName": "Jo", "sources": {"data": {"elements": ["ND2EFTHF8HM34"]}}}
    )
    assert cust.first_name == "Jo"
    assert cust.sources is not None
    assert cust.sources.data == ["ND2EFTHF8HM34"]


def test_camel_models() -> None:
    key = PakmsKey.model_validate(
        {"apiAccessKey": "af4e" * 8, "merchantUuid": "M", "createdTime": 1722230745532}
    )
    assert key.api_access_key.startswith("af4e")
    assert key.created_time == 1722230745532
    assert "af4e" not in repr(key)
    plan = Plan.model_validate({"id": "P", "intervalCount": 2, "interval": "MONTH"})
    assert plan.interval_count == 2
    assert plan.model_dump(by_alias=True, exclude_none=True)["intervalCount"] == 2
    sub = Subscription.model_validate({"id": "S", "customerUuid": "C", "plan": {"id": "P"}})
    assert sub.customer_uuid == "C"
    assert sub.plan is not None
    assert sub.plan.id == "P"
    session = CheckoutSession.model_validate(
        {"href": "h", "checkoutSessionId": "u", "expirationTime": 5}
    )
    assert session.checkout_session_id == "u"
    assert session.expiration_time == 5
    payment = Payment.model_validate({"id": "P", "externalPaymentId": "e1", "order": {"id": "O"}})
    assert payment.external_payment_id == "e1"
    assert payment.order is not None


def test_token_gift_card_alias() -> None:
    token = Token.model_validate({"id": "clv_1", "giftCard": {"last4": "2100"}})
    assert token.gift_card == {"last4": "2100"}


def test_recurring_times() -> None:
    a = parse_recurring_time("2021-12-24@19:08:56.235+0000")
    b = parse_recurring_time("2023-12-16T00:00:00.000+0000")
    assert a == dt.datetime(2021, 12, 24, 19, 8, 56, 235000, tzinfo=dt.UTC)
    assert b.year == 2023
    assert b.tzinfo is not None


@given(
    st.dictionaries(
        st.text(min_size=1).filter(lambda k: k not in Charge.model_fields),
        st.integers() | st.text(),
        max_size=5,
    )
)
def test_unknown_fields_never_break_parsing(extra: dict[str, object]) -> None:
    charge = Charge.model_validate({"id": "X", **extra})
    assert charge.id == "X"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(
    json_values
    | st.fixed_dictionaries({"data": json_values, "has_more": json_values})
    | st.fixed_dictionaries({"elements": json_values})
)
def test_list_envelope_parser_only_raises_validation_errors(value: object) -> None:
    import pydantic

    try:
        page = ListObject[Charge].model_validate_json(json.dumps(value))
    except pydantic.ValidationError:
        return
    assert all(isinstance(c, Charge) for c in page.data)
