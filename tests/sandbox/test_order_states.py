"""The order status table: exactly its transitions are allowed (property-tested)."""

from __future__ import annotations

import itertools

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloverpay.sandbox import SandboxError
from cloverpay.sandbox._order_states import (
    ORDER_STATUSES,
    ORDER_TRANSITIONS,
    can_transition,
    transition,
)
from cloverpay.sandbox._records import Order

from .helpers import error, tokenize


def _order(status: str = "created") -> Order:
    return Order("ORDER0000001", "M", 0, 100, "USD", [], status=status)


def test_table_shape() -> None:
    assert {"created", "paid", "fulfilled", "refunded", "returned", "canceled"} == ORDER_STATUSES
    for targets in ORDER_TRANSITIONS.values():
        assert targets <= ORDER_STATUSES
    finals = {s for s, t in ORDER_TRANSITIONS.items() if not t}
    assert finals == {"refunded", "returned", "canceled"}
    assert all("created" not in t for t in ORDER_TRANSITIONS.values())  # never back


@given(current=st.sampled_from(sorted(ORDER_STATUSES)), new=st.sampled_from(sorted(ORDER_STATUSES)))
def test_transition_follows_the_table(current: str, new: str) -> None:
    order = _order(current)
    if new in ORDER_TRANSITIONS[current]:
        transition(order, new, 42)
        assert order.status == new
        assert order.status_transitions[new] == 42
    else:
        assert not can_transition(current, new)
        with pytest.raises(SandboxError) as info:
            transition(order, new, 42)
        assert info.value.code == "order_status_invalid"
        assert order.status == current
        assert new not in order.status_transitions


@given(steps=st.lists(st.sampled_from(sorted(ORDER_STATUSES)), max_size=12))
def test_any_walk_stays_in_the_table(steps: list[str]) -> None:
    order = _order()
    seen = ["created"]
    for new in steps:
        if can_transition(order.status, new):
            transition(order, new, 1)
            seen.append(new)
    for a, b in itertools.pairwise(seen):
        assert b in ORDER_TRANSITIONS[a]


def test_refused_status_change_over_http(http: httpx.Client, sandbox: object) -> None:
    order = http.post("/v1/orders", json={"currency": "usd", "items": [{"amount": 500}]}).json()
    r = http.put(f"/v1/orders/{order['id']}", json={"status": "fulfilled"})
    assert error(r)["code"] == "order_status_invalid"
    assert error(r)["param"] == "status"
    assert (
        http.put(f"/v1/orders/{order['id']}", json={"status": "canceled"}).json()["status"]
        == "canceled"
    )
    again = http.put(f"/v1/orders/{order['id']}", json={"status": "canceled"})
    assert error(again)["code"] == "order_status_invalid"
    assert http.get(f"/v1/orders/{order['id']}").json()["status"] == "canceled"


def test_refund_after_fulfilment_moves_to_refunded(http: httpx.Client, sandbox: object) -> None:
    from cloverpay.sandbox import Sandbox

    assert isinstance(sandbox, Sandbox)
    order = http.post("/v1/orders", json={"currency": "usd", "items": [{"amount": 500}]}).json()
    paid = http.post(
        f"/v1/orders/{order['id']}/pay", json={"source": tokenize(http, sandbox)}
    ).json()
    http.put(f"/v1/orders/{order['id']}", json={"status": "fulfilled"})
    http.post("/v1/refunds", json={"charge": paid["charge"]})
    final = http.get(f"/v1/orders/{order['id']}").json()
    assert final["status"] == "refunded"
    assert set(final["status_transitions"]) == {"paid", "fulfilled", "refunded"}
