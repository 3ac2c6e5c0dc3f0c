"""Recurring plans and subscriptions through the HTTP API; billing on clock advance goes
through the Ecommerce charge logic (charges appear in /v1/charges)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from cloverpay.sandbox import Sandbox, SandboxServer

DAY = 24 * 3600


@pytest.fixture
def rc(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with sandbox.client(headers={"X-Clover-Merchant-Id": sandbox.credentials.merchant_id}) as c:
        yield c


def _customer(rc: httpx.Client, sandbox: Sandbox, number: str = "4242424242424242") -> str:
    tok = rc.post(
        "/v1/tokens",
        json={"card": {"number": number, "exp_month": "12", "exp_year": "2039", "cvv": "123"}},
        headers={"apikey": sandbox.credentials.api_access_key},
    )
    assert tok.status_code == 200, tok.text
    r = rc.post("/v1/customers", json={"email": "sub@example.com", "source": tok.json()["id"]})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def _plan(rc: httpx.Client, **extra: Any) -> dict[str, Any]:
    body = {"name": "Gold", "amount": 2500, "interval": "MONTH", "intervalCount": 1, **extra}
    r = rc.post("/recurring/v1/plans", json=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _date(sandbox: Sandbox, days: float) -> str:
    dt = datetime.fromtimestamp(sandbox.state.clock.now(), UTC) + timedelta(days=days)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _subscribe(rc: httpx.Client, plan_id: str, customer: str, **extra: Any) -> dict[str, Any]:
    body = {"customerId": customer, "collectionMethod": "CHARGE_AUTOMATICALLY", **extra}
    r = rc.post(f"/recurring/v1/plans/{plan_id}/subscriptions", json=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _charges(rc: httpx.Client) -> list[dict[str, Any]]:
    return list(rc.get("/v1/charges", params={"limit": 100}).json()["data"])


def _advance(rc: httpx.Client, seconds: float) -> None:
    assert rc.post("/_sandbox/clock/advance", json={"seconds": seconds}).status_code == 200


def test_plan_crud_and_validation(rc: httpx.Client) -> None:
    plan = _plan(rc, note="best")
    assert plan["object"] == "plan"
    assert plan["interval"] == "MONTH"
    assert plan["merchantId"] == rc.headers["X-Clover-Merchant-Id"]
    assert "+0000" in plan["createdTime"]
    assert [p["id"] for p in rc.get("/recurring/v1/plans").json()] == [plan["id"]]
    r = rc.put(f"/recurring/v1/plans/{plan['id']}", json={"amount": 3000, "note": "better"})
    assert r.json()["amount"] == 3000
    assert rc.get(f"/recurring/v1/plans/{plan['id']}").json()["note"] == "better"
    bad = rc.post("/recurring/v1/plans", json={"name": "x", "amount": 1, "interval": "HOUR"})
    assert bad.status_code == 400
    assert "interval" in bad.json()["message"]
    bad = rc.post("/recurring/v1/plans", json={"amount": 1, "interval": "WEEK"})
    assert "name" in bad.json()["message"]
    bad = rc.post("/recurring/v1/plans", json={"name": "x", "amount": -5, "interval": "WEEK"})
    assert "amount" in bad.json()["message"]
    assert rc.put(f"/recurring/v1/plans/{plan['id']}", json={"merchantId": "X"}).status_code == 400
    assert rc.delete(f"/recurring/v1/plans/{plan['id']}").json()["deleted"] is True
    missing = rc.get(f"/recurring/v1/plans/{plan['id']}")
    assert missing.status_code == 404
    assert "message" in missing.json()


def test_needs_merchant_header(sandbox: Sandbox, http: httpx.Client) -> None:
    r = http.get("/recurring/v1/plans")
    assert r.status_code == 400
    assert "X-Clover-Merchant-Id" in r.json()["message"]


def test_subscription_validation(rc: httpx.Client, sandbox: Sandbox) -> None:
    plan = _plan(rc)
    url = f"/recurring/v1/plans/{plan['id']}/subscriptions"
    r = rc.post(url, json={"collectionMethod": "CHARGE_AUTOMATICALLY"})
    assert "customerId" in r.json()["message"]
    r = rc.post(url, json={"customerId": "NOPE", "collectionMethod": "CHARGE_AUTOMATICALLY"})
    assert r.status_code == 400
    assert "customerId" in r.json()["message"]
    cust = _customer(rc, sandbox)
    r = rc.post(url, json={"customerId": cust, "collectionMethod": "SEND_INVOICE"})
    assert "collectionMethod" in r.json()["message"]
    r = rc.post(
        url,
        json={
            "customerId": cust,
            "collectionMethod": "CHARGE_AUTOMATICALLY",
            "startDate": "tomorrow",
        },
    )
    assert "startDate" in r.json()["message"]


def test_clock_advance_bills_once_per_period(rc: httpx.Client, sandbox: Sandbox) -> None:
    cust = _customer(rc, sandbox)
    plan = _plan(rc)
    sub = _subscribe(rc, plan["id"], cust, startDate=_date(sandbox, 1), tipAmount=100)
    assert sub["total"] == 2600
    assert sub["customerUuid"] == cust
    assert _charges(rc) == []
    _advance(rc, DAY + 60)
    charges = _charges(rc)
    assert len(charges) == 1
    assert charges[0]["amount"] == 2500
    assert charges[0]["tip_amount"] == 100
    assert charges[0]["customer"] == cust
    assert charges[0]["status"] == "succeeded"
    # Billing triggered again in the same period: nothing new.
    _advance(rc, 60)
    assert rc.post("/_sandbox/recurring/run").status_code == 200
    assert len(_charges(rc)) == 1
    _advance(rc, 31 * DAY)
    assert len(_charges(rc)) == 2
    got = rc.get(f"/recurring/v1/subscriptions/{sub['id']}").json()
    assert got["lastRunDate"] is not None
    listed = rc.get("/recurring/v1/subscriptions").json()
    assert isinstance(listed, list)
    assert [s["id"] for s in listed] == [sub["id"]]
    per_plan = rc.get(f"/recurring/v1/plans/{plan['id']}/subscriptions").json()
    assert [s["id"] for s in per_plan] == [sub["id"]]
    invoices = rc.get("/_sandbox/recurring/invoices").json()["invoices"]
    assert [i["status"] for i in invoices] == ["PAID", "PAID"]


def test_start_today_bills_at_creation(rc: httpx.Client, sandbox: Sandbox) -> None:
    cust = _customer(rc, sandbox)
    plan = _plan(rc, interval="WEEK")
    _subscribe(rc, plan["id"], cust)
    assert len(_charges(rc)) == 1
    _advance(rc, 3 * DAY)
    assert len(_charges(rc)) == 1
    _advance(rc, 4 * DAY)
    assert len(_charges(rc)) == 2


def test_five_failures_deactivate(rc: httpx.Client, sandbox: Sandbox) -> None:
    cust = _customer(rc, sandbox, number="4005571702222222")
    plan = _plan(rc)
    sub = _subscribe(rc, plan["id"], cust)
    assert [c["status"] for c in _charges(rc)] == ["failed"]
    for _ in range(3):
        _advance(rc, DAY)
    assert rc.get(f"/recurring/v1/subscriptions/{sub['id']}").json()["active"] is True
    _advance(rc, DAY)
    assert len(_charges(rc)) == 5
    assert rc.get(f"/recurring/v1/subscriptions/{sub['id']}").json()["active"] is False
    _advance(rc, 40 * DAY)
    assert len(_charges(rc)) == 5


def test_edit_and_cancel(rc: httpx.Client, sandbox: Sandbox) -> None:
    cust = _customer(rc, sandbox)
    plan = _plan(rc)
    sub = _subscribe(rc, plan["id"], cust, startDate=_date(sandbox, 2))
    url = f"/recurring/v1/subscriptions/{sub['id']}"
    r = rc.put(url, json={"amount": 999, "note": "discount"})
    assert r.json()["amount"] == 999
    assert rc.put(url, json={"customerId": "X"}).status_code == 400
    past = rc.put(url, json={"startDate": _date(sandbox, -1)})
    assert past.status_code == 400
    assert "startDate" in past.json()["message"]
    _advance(rc, 2 * DAY + 60)
    assert [c["amount"] for c in _charges(rc)] == [999]
    canceled = rc.delete(url).json()
    assert canceled["active"] is False
    _advance(rc, 40 * DAY)
    assert len(_charges(rc)) == 1
    assert rc.delete(f"/recurring/v1/plans/{plan['id']}").status_code == 200


def test_billing_over_a_real_socket(sandbox: Sandbox) -> None:
    with SandboxServer(sandbox) as server:
        creds = server.credentials
        headers = {
            "Authorization": f"Bearer {creds.access_token}",
            "X-Clover-Merchant-Id": creds.merchant_id,
        }
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=10) as client:
            cust = _customer(client, sandbox)
            plan = _plan(client, interval="DAY")
            _subscribe(client, plan["id"], cust, startDate=_date(sandbox, 1))
            _advance(client, 2 * DAY + 60)
            assert len(_charges(client)) == 2


def test_concurrent_billing_runs_charge_once_per_period(sandbox: Sandbox) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with SandboxServer(sandbox) as server:
        creds = server.credentials
        headers = {
            "Authorization": f"Bearer {creds.access_token}",
            "X-Clover-Merchant-Id": creds.merchant_id,
        }
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=20) as client:
            cust = _customer(client, sandbox)
            plan = _plan(client, interval="WEEK")
            for _ in range(3):
                _subscribe(client, plan["id"], cust, startDate=_date(sandbox, 1))
            # Move the clock without the billing hook: the concurrent runs do the billing.
            sandbox.state.clock.advance(15 * DAY)  # three weekly periods due for each
            assert _charges(client) == []

            def run(_: int) -> int:
                with httpx.Client(base_url=server.base_url, timeout=20) as c:
                    return c.post("/_sandbox/recurring/run").status_code

            with ThreadPoolExecutor(max_workers=6) as pool:
                assert set(pool.map(run, range(12))) == {200}
            assert len(_charges(client)) == 9


def test_retry_settings(rc: httpx.Client, sandbox: Sandbox) -> None:
    r = rc.post(
        "/_sandbox/recurring/settings",
        json={"retry_interval_s": 3600, "max_consecutive_failures": 2},
    )
    assert r.json() == {"retry_interval_s": 3600, "max_consecutive_failures": 2}
    assert rc.post("/_sandbox/recurring/settings", json={"bogus": 1}).status_code == 400
    assert rc.post("/_sandbox/recurring/settings", json={"retry_interval_s": 0}).status_code == 400
    cust = _customer(rc, sandbox, number="4005571702222222")
    sub = _subscribe(rc, _plan(rc)["id"], cust)
    _advance(rc, 3600)
    assert len(_charges(rc)) == 2
    assert rc.get(f"/recurring/v1/subscriptions/{sub['id']}").json()["active"] is False
