"""The REST API in-process (TestClient) against the in-process sandbox: auth, the one
error shape, Idempotency-Key, customers/cards, invoices, pay, refunds, audit log."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from cloverpay.sandbox import Sandbox
from cloverpay.service.services import ServiceContext

from .conftest import DECLINE, assert_invariants, make_token


def _error(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    err: dict[str, Any] = body["error"]
    assert {"type", "code", "message", "field"} <= set(err)
    return err


def _open_invoice(api: TestClient, **extra: Any) -> dict[str, Any]:
    body = {
        "line_items": [{"description": "Water heater flush", "quantity": 2, "unit_amount": 1000}],
        "tax_amount": 160,
        **extra,
    }
    created = api.post("/v1/invoices", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "draft"
    opened = api.post(f"/v1/invoices/{created.json()['id']}/open")
    assert opened.status_code == 200, opened.text
    out: dict[str, Any] = opened.json()
    assert out["status"] == "open"
    assert out["clover_order_id"]
    return out


def test_auth_and_error_shape(api: TestClient) -> None:
    anonymous = TestClient(api.app)
    err = _error(anonymous.get("/v1/invoices"), 401)
    assert (err["type"], err["field"]) == ("authentication_error", "Authorization")
    err = _error(anonymous.get("/v1/invoices", headers={"Authorization": "Bearer nope"}), 401)
    assert err["code"] == "invalid_api_key"
    assert _error(api.get("/v1/nowhere"), 404)["type"] == "not_found_error"
    err = _error(api.post("/v1/invoices", json={"tax_amount": 1}), 422)
    assert (err["code"], err["field"]) == ("parameter_missing", "line_items")
    bad_item = {"line_items": [{"description": "x", "unit_amount": -1}]}
    assert _error(api.post("/v1/invoices", json=bad_item), 422)["field"] == (
        "line_items.0.unit_amount"
    )
    err = _error(api.post("/v1/invoices", json={**bad_item, "surprise": 1}), 422)
    assert "surprise" in {d["field"] for d in err["details"]}
    assert _error(api.get("/v1/invoices/missing"), 404)["field"] == "invoice_id"
    assert _error(api.post("/v1/invoices", content=b"{not json"), 422)["type"] == (
        "invalid_request_error"
    )
    spec = api.get("/openapi.json").json()
    assert "/v1/invoices/{invoice_id}/pay" in spec["paths"]
    assert "/v1/payments/{payment_id}/refunds" in spec["paths"]


def test_invoice_pay_refund_and_audit(
    api: TestClient, ctx: ServiceContext, sandbox: Sandbox
) -> None:
    inv = _open_invoice(api)
    assert inv["total"] == 2160
    assert inv["number"].startswith("INV-")
    err = _error(api.post(f"/v1/invoices/{inv['id']}/pay", json={"token": "tok_x"}), 422)
    assert err["field"] == "token"
    paid = api.post(
        f"/v1/invoices/{inv['id']}/pay",
        json={"token": make_token(sandbox), "tip_amount": 200},
        headers={"X-Forwarded-For": "198.51.100.4"},
    )
    assert paid.status_code == 200, paid.text
    attempt = paid.json()
    assert attempt["state"] == "succeeded"
    assert attempt["invoice"]["status"] == "paid"
    assert attempt["invoice"]["amount_due"] == 0
    payment_id = attempt["payment"]["id"]
    refund = api.post(f"/v1/payments/{payment_id}/refunds", json={"amount": 600})
    assert refund.status_code == 200, refund.text
    err = _error(api.post(f"/v1/payments/{payment_id}/refunds", json={"amount": 2000}), 400)
    assert (err["code"], err["field"]) == ("amount_too_large", "amount")
    assert api.get(f"/v1/payments/{payment_id}").json()["amount_refunded"] == 600
    assert api.get(f"/v1/invoices/{inv['id']}").json()["amount_refunded"] == 600
    err = _error(api.post(f"/v1/invoices/{inv['id']}/void"), 409)
    assert err["code"] == "invoice_has_payments"
    log = api.get("/v1/audit_log", params={"entity_id": inv["id"]}).json()
    assert [(e["from_state"], e["to_state"]) for e in log if e["from_state"]] == [
        ("open", "paid"),
        ("draft", "open"),
    ]
    assert_invariants(ctx, sandbox)


def test_decline_and_unknown(api: TestClient, ctx: ServiceContext, sandbox: Sandbox) -> None:
    inv = _open_invoice(api)
    declined = api.post(
        f"/v1/invoices/{inv['id']}/pay", json={"token": make_token(sandbox, DECLINE)}
    )
    err = _error(declined, 402)
    assert err["type"] == "card_error"
    assert err["attempt"]["state"] == "failed"
    sandbox.state.faults.arm("commit_then_drop", method="POST", path="/v1/orders/*/pay")
    lost = api.post(f"/v1/invoices/{inv['id']}/pay", json={"token": make_token(sandbox)})
    assert lost.status_code == 202, lost.text
    assert lost.json()["state"] == "unknown"
    retry = api.post(f"/v1/invoices/{inv['id']}/pay", json={"token": make_token(sandbox)})
    assert _error(retry, 409)["code"] == "attempt_unresolved"
    assert _error(api.post(f"/v1/invoices/{inv['id']}/void"), 409)["code"] == "attempt_unresolved"
    assert_invariants(ctx, sandbox)


def test_idempotency_key(api: TestClient, ctx: ServiceContext, sandbox: Sandbox) -> None:
    body = {"line_items": [{"description": "Visit", "unit_amount": 5000}]}
    first = api.post("/v1/invoices", json=body, headers={"Idempotency-Key": "k-1"})
    again = api.post("/v1/invoices", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert len(api.get("/v1/invoices").json()) == 1
    other = api.post(
        "/v1/invoices",
        json={"line_items": [{"description": "Visit", "unit_amount": 6000}]},
        headers={"Idempotency-Key": "k-1"},
    )
    err = _error(other, 409)
    assert (err["code"], err["field"]) == ("idempotency_key_reused", "Idempotency-Key")
    # a validation error is not stored: the caller may fix the body and reuse the key
    _error(api.post("/v1/invoices", json={}, headers={"Idempotency-Key": "k-2"}), 422)
    fixed = api.post("/v1/invoices", json=body, headers={"Idempotency-Key": "k-2"})
    assert fixed.status_code == 201
    # pay: the same key replays the first answer, never charges again
    inv = _open_invoice(api)
    token = make_token(sandbox)
    pay = {"token": token}
    p1 = api.post(f"/v1/invoices/{inv['id']}/pay", json=pay, headers={"Idempotency-Key": "pay-1"})
    p2 = api.post(f"/v1/invoices/{inv['id']}/pay", json=pay, headers={"Idempotency-Key": "pay-1"})
    assert p1.status_code == p2.status_code == 200
    assert p1.json()["id"] == p2.json()["id"]
    assert_invariants(ctx, sandbox)


def test_customer_card_on_file(api: TestClient, ctx: ServiceContext, sandbox: Sandbox) -> None:
    created = api.post("/v1/customers", json={"name": "Ada", "email": "ada@example.com"})
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    err = _error(api.post("/v1/customers", json={"email": "not-an-email"}), 422)
    assert err["field"] == "email"
    card = api.post(
        f"/v1/customers/{cid}/cards",
        json={
            "token": make_token(sandbox),
            "brand": "VISA",
            "last4": "4242",
            "exp_month": "12",
            "exp_year": "2031",
        },
    )
    assert card.status_code == 201, card.text
    assert "number" not in card.json()
    [listed] = api.get(f"/v1/customers/{cid}/cards").json()
    assert listed["last4"] == "4242"
    inv = _open_invoice(api, customer_id=cid)
    paid = api.post(
        f"/v1/invoices/{inv['id']}/pay",
        json={"card_on_file_id": listed["id"], "amount": 1000, "initiator": "MERCHANT"},
    )
    assert paid.status_code == 200, paid.text
    assert paid.json()["invoice"]["status"] == "partially_paid"
    again = api.post(f"/v1/invoices/{inv['id']}/pay", json={"card_on_file_id": listed["id"]})
    assert again.status_code == 200, again.text
    assert again.json()["invoice"]["status"] == "paid"
    charges = [
        c for c in sandbox.state.ecommerce.charges.objects.values() if c.status == "succeeded"
    ]
    sequences = sorted((c.stored_credentials or {}).get("sequence") for c in charges)
    assert sequences == ["FIRST", "SUBSEQUENT"]
    assert_invariants(ctx, sandbox)


def test_alternate_tender_is_recorded(
    api: TestClient, ctx: ServiceContext, sandbox: Sandbox
) -> None:
    inv = _open_invoice(api)
    both = api.post(f"/v1/invoices/{inv['id']}/pay", json={"tender": "cash", "token": "clv_x"})
    assert _error(both, 400)["field"] == "token"
    assert (
        _error(api.post(f"/v1/invoices/{inv['id']}/pay", json={"tender": "gold"}), 422)["field"]
        == "tender"
    )
    cash = api.post(f"/v1/invoices/{inv['id']}/pay", json={"tender": "cash", "amount": 1000})
    assert cash.status_code == 200, cash.text
    assert cash.json()["payment"]["tender"] == "cash"
    check = api.post(f"/v1/invoices/{inv['id']}/pay", json={"tender": "check"})
    assert check.status_code == 200, check.text
    assert check.json()["invoice"]["status"] == "paid"
    assert_invariants(ctx, sandbox)
