"""Stateful property test of the money rules (hypothesis RuleBasedStateMachine).

A small model tracks what each charge should hold; every rule drives the sandbox through
the HTTP API and checks the answer, and the invariants compare every charge, its refunds
and its order with the model after each step:

* 0 <= amount_refunded <= amount_captured <= amount; ``refunded`` iff fully refunded;
* a failed charge captures nothing and cannot be captured or refunded;
* the refunds listed for a charge add up to its ``amount_refunded``;
* an order's ``amount_returned`` is the sum refunded on its charges;
* a refused request (4xx) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from cloverpay.sandbox import Sandbox

from .helpers import XFF, counts

APPROVE = "4242424242424242"
DECLINE = "4000000000009995"


@dataclass
class Model:
    amount: int
    captured: int
    refunded: int = 0
    failed: bool = False
    authorized: bool = True


class Money(RuleBasedStateMachine):
    charges = Bundle("charges")

    def __init__(self) -> None:
        super().__init__()
        self.sandbox = Sandbox(seed=5)
        self.http = self.sandbox.client(headers=XFF)
        self.model: dict[str, Model] = {}
        self.orders: dict[str, str] = {}  # charge id -> order id

    def teardown(self) -> None:
        self.http.close()
        self.sandbox.close()

    def _token(self, number: str) -> str:
        r = self.http.post(
            "/v1/tokens",
            json={"card": {"number": number, "exp_month": "12", "exp_year": "2035", "cvv": "123"}},
            headers={"apikey": self.sandbox.state.merchant.api_access_key},
        )
        token: str = r.json()["id"]
        return token

    @rule(
        target=charges,
        amount=st.integers(1, 5000),
        capture=st.booleans(),
        decline=st.booleans(),
    )
    def create_charge(self, amount: int, capture: bool, decline: bool) -> str:
        body = {
            "amount": amount,
            "currency": "usd",
            "source": self._token(DECLINE if decline else APPROVE),
            "capture": capture,
        }
        r = self.http.post("/v1/charges", json=body)
        if decline:
            assert r.status_code == 402
            charge_id: str = r.json()["error"]["charge"]
            self.model[charge_id] = Model(amount, 0, failed=True)
        else:
            assert r.status_code == 200, r.text
            charge_id = r.json()["id"]
            self.model[charge_id] = Model(amount, amount if capture else 0, authorized=not capture)
        self.orders[charge_id] = self.http.get(f"/v1/charges/{charge_id}").json()["order"]
        return charge_id

    def _refused(self, r: httpx.Response, before: dict[str, int]) -> None:
        assert 400 <= r.status_code < 500, r.text
        assert "error" in r.json()
        assert counts(self.sandbox) == before

    @rule(charge=charges, amount=st.none() | st.integers(1, 6000))
    def capture(self, charge: str, amount: int | None) -> None:
        m = self.model[charge]
        before = counts(self.sandbox)
        r = self.http.post(
            f"/v1/charges/{charge}/capture", json={} if amount is None else {"amount": amount}
        )
        ok = not m.failed and m.authorized and (amount is None or amount <= m.amount)
        if ok:
            assert r.status_code == 200, r.text
            m.captured = m.amount if amount is None else amount
            m.authorized = False
        else:
            self._refused(r, before)
            if not m.failed and not m.authorized:
                assert r.json()["error"]["code"] == "charge_already_captured"

    @rule(charge=charges, amount=st.none() | st.integers(1, 6000))
    def refund(self, charge: str, amount: int | None) -> None:
        m = self.model[charge]
        before = counts(self.sandbox)
        r = self.http.post(
            "/v1/refunds", json={"charge": charge} | ({} if amount is None else {"amount": amount})
        )
        left = m.captured - m.refunded
        usable = not m.failed and not m.authorized
        if usable and left > 0 and (amount is None or amount <= left):
            assert r.status_code == 200, r.text
            m.refunded += left if amount is None else amount
            assert r.json()["amount"] == (left if amount is None else amount)
        else:
            self._refused(r, before)
            if usable and left == 0:
                assert r.json()["error"]["code"] == "charge_already_refunded"
            elif usable:
                assert r.json()["error"]["code"] == "amount_too_large"

    @invariant()
    def charges_match_model(self) -> None:
        for charge_id, m in self.model.items():
            ch = self.http.get(f"/v1/charges/{charge_id}").json()
            assert ch["status"] == ("failed" if m.failed else "succeeded")
            assert ch["amount_captured"] == m.captured
            assert ch["amount_refunded"] == m.refunded
            assert 0 <= ch["amount_refunded"] <= ch["amount_captured"] <= ch["amount"]
            assert ch["refunded"] == (m.captured > 0 and m.refunded == m.captured)
            refunds = self.http.get(f"/v1/refunds?charge={charge_id}&limit=100").json()["data"]
            assert sum(r["amount"] for r in refunds) == m.refunded
            order = self.http.get(f"/v1/orders/{self.orders[charge_id]}").json()
            assert order["amount_returned"] == m.refunded
            assert order["amount_paid"] == m.captured


TestMoney = Money.TestCase
TestMoney.settings = settings(
    max_examples=15,
    stateful_step_count=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
