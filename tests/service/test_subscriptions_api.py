"""``/v1/plans``, ``/v1/subscriptions`` and ``/v1/billing_settings``: the one error shape,
Idempotency-Key replays, cancel; and the subscriptions package's public surface."""

from __future__ import annotations

import importlib
from typing import Any

from fastapi.testclient import TestClient

from cloverpay.sandbox import Sandbox
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.subscriptions import BillingRun

from .conftest import assert_invariants, make_token


def _error(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    err: dict[str, Any] = resp.json()["error"]
    assert {"type", "code", "message", "field"} <= set(err)
    return err


def test_plans_subscriptions_cancel_with_idempotency_keys(
    api: TestClient, ctx: ServiceContext, sandbox: Sandbox
) -> None:
    assert (
        _error(api.post("/v1/plans", json={"name": "x", "amount": 0, "interval": "month"}), 422)[
            "field"
        ]
        == "amount"
    )
    assert (
        _error(api.post("/v1/plans", json={"name": "x", "amount": 5, "interval": "day"}), 422)[
            "field"
        ]
        == "interval"
    )
    body = {"name": "Pool care", "amount": 4900, "interval": "month"}
    p1 = api.post("/v1/plans", json=body, headers={"Idempotency-Key": "plan-1"})
    p2 = api.post("/v1/plans", json=body, headers={"Idempotency-Key": "plan-1"})
    assert p1.status_code == p2.status_code == 201, p1.text
    assert p1.json()["id"] == p2.json()["id"]
    assert p2.headers["Idempotent-Replayed"] == "true"
    assert [p["id"] for p in api.get("/v1/plans").json()] == [p1.json()["id"]]
    plan = p1.json()

    cust = api.post("/v1/customers", json={"name": "Ada", "email": "ada@example.com"}).json()
    card = api.post(f"/v1/customers/{cust['id']}/cards", json={"token": make_token(sandbox)})
    assert card.status_code == 201, card.text
    err = _error(
        api.post(
            "/v1/subscriptions",
            json={"customer_id": cust["id"], "card_on_file_id": "nope", "plan_id": plan["id"]},
        ),
        404,
    )
    assert err["field"] == "card_on_file_id"
    sub_body = {
        "customer_id": cust["id"],
        "card_on_file_id": card.json()["id"],
        "plan_id": plan["id"],
    }
    s1 = api.post("/v1/subscriptions", json=sub_body, headers={"Idempotency-Key": "sub-1"})
    s2 = api.post("/v1/subscriptions", json=sub_body, headers={"Idempotency-Key": "sub-1"})
    assert s1.status_code == s2.status_code == 201, s1.text
    assert s1.json()["id"] == s2.json()["id"]
    assert len(api.get("/v1/subscriptions").json()) == 1
    out = s1.json()
    assert (out["status"], out["billing_mode"], out["plan"]["amount"]) == (
        "active",
        "scheduler",
        4900,
    )

    BillingRun(ctx).run_once()
    got = api.get(f"/v1/subscriptions/{out['id']}").json()
    assert got["period_index"] == 1
    canceled = api.post(f"/v1/subscriptions/{out['id']}/cancel")
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "canceled"
    assert api.get("/v1/subscriptions", params={"status": "active"}).json() == []
    assert _error(api.get("/v1/subscriptions/nope"), 404)["field"] == "subscription_id"

    assert api.get("/v1/billing_settings").json() == {"billing_mode": "scheduler"}
    changed = api.post("/v1/billing_settings", json={"billing_mode": "clover_recurring"})
    assert changed.json() == {"billing_mode": "clover_recurring"}
    assert (
        _error(api.post("/v1/billing_settings", json={"billing_mode": "x"}), 422)["field"]
        == "billing_mode"
    )
    assert_invariants(ctx, sandbox)


def test_subscriptions_package_exports() -> None:
    module = importlib.import_module("cloverpay.service.services.subscriptions")
    for name in module.__all__:
        assert hasattr(module, name)
    for private in ("_billing", "_clover", "_manage", "_periods"):
        sub = importlib.import_module(f"cloverpay.service.services.subscriptions.{private}")
        for name in sub.__all__:
            assert name in module.__all__, f"{private}.{name} is not re-exported"
