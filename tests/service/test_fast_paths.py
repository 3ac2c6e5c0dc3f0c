"""The shortcuts of the request path: answers stored in the request's last transaction
(replayed byte for byte, a declined payment included), the API key look-up cache
(revocation within its TTL), invoice numbers drawn in one statement, the open answer
built from the rows of its transaction."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from cloverpay.sandbox import Sandbox
from cloverpay.service.db import ApiKeyRow, IdempotencyKey, Merchant
from cloverpay.service.services import ServiceContext
from cloverpay.service.services import merchants as merchants_svc
from cloverpay.service.services.merchants import create_api_key

from .conftest import DECLINE, assert_invariants, make_token


def _stored(ctx: ServiceContext, key: str) -> IdempotencyKey:
    with ctx.sessions() as s:
        row = s.scalar(select(IdempotencyKey).where(IdempotencyKey.key == key))
        assert row is not None
        return row


def _invoice(api: TestClient) -> dict[str, object]:
    body = {"line_items": [{"description": "Boiler service", "quantity": 1, "unit_amount": 4200}]}
    created = api.post("/v1/invoices", json=body, headers={"Idempotency-Key": "c-" + str(id(body))})
    assert created.status_code == 201, created.text
    return dict(created.json())


def test_answers_stored_with_the_work_replay_byte_for_byte(
    api: TestClient, ctx: ServiceContext, sandbox: Sandbox
) -> None:
    inv = _invoice(api)
    opened = api.post(f"/v1/invoices/{inv['id']}/open", headers={"Idempotency-Key": "open-1"})
    assert opened.status_code == 200, opened.text
    assert opened.json()["status"] == "open"
    assert opened.json()["line_items"][0]["description"] == "Boiler service"
    row = _stored(ctx, "open-1")
    assert (row.status, row.response_status, row.response_body) == ("done", 200, opened.content)
    again = api.post(f"/v1/invoices/{inv['id']}/open", headers={"Idempotency-Key": "open-1"})
    assert again.content == opened.content
    assert again.headers.get("idempotent-replayed") == "true"

    # a decline (402) is stored with the settle too, and replayed as it was
    body = {"token": make_token(sandbox, DECLINE)}
    path = f"/v1/invoices/{inv['id']}/pay"
    declined = api.post(path, json=body, headers={"Idempotency-Key": "pay-d"})
    assert declined.status_code == 402, declined.text
    row = _stored(ctx, "pay-d")
    assert (row.status, row.response_status, row.response_body) == ("done", 402, declined.content)
    replay = api.post(path, json=body, headers={"Idempotency-Key": "pay-d"})
    assert (replay.status_code, replay.content) == (402, declined.content)

    body = {"token": make_token(sandbox)}
    paid = api.post(path, json=body, headers={"Idempotency-Key": "pay-1"})
    assert paid.status_code == 200, paid.text
    out = paid.json()
    assert out["state"] == "succeeded"
    assert (out["payment"]["amount"], out["payment"]["amount_refunded"]) == (4200, 0)
    assert out["invoice"]["status"] == "paid"
    assert (out["invoice"]["amount_paid"], out["invoice"]["amount_due"]) == (4200, 0)
    assert out["invoice"]["line_items"][0]["unit_amount"] == 4200
    # the answer built in the settle is what a fresh read says
    fresh = api.get(f"/v1/attempts/{out['id']}").json()
    assert fresh["payment"] == out["payment"]
    assert api.get(f"/v1/invoices/{inv['id']}").json() == out["invoice"]
    row = _stored(ctx, "pay-1")
    assert (row.status, row.response_status, row.response_body) == ("done", 200, paid.content)
    replay = api.post(path, json=body, headers={"Idempotency-Key": "pay-1"})
    assert (replay.status_code, replay.content) == (200, paid.content)
    other = api.post(path, json={"token": "clv_other"}, headers={"Idempotency-Key": "pay-1"})
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    # an error is not stored: the key can be used again once the request is fixed
    refused = api.post(path, json=body, headers={"Idempotency-Key": "pay-2"})
    assert refused.status_code == 409
    with ctx.sessions() as s:
        assert s.scalar(select(IdempotencyKey).where(IdempotencyKey.key == "pay-2")) is None
    assert_invariants(ctx, sandbox)


def test_revoked_key_refused_within_the_cache_ttl(
    api: TestClient, ctx: ServiceContext, merchant: Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(merchants_svc.time, "monotonic", lambda: now[0])
    key = create_api_key(ctx, merchant.id, name="revoke-me")
    auth = {"Authorization": f"Bearer {key.secret}"}
    assert api.get("/v1/invoices", headers=auth).status_code == 200
    with ctx.sessions.begin() as s:
        s.execute(
            update(ApiKeyRow)
            .where(ApiKeyRow.prefix == key.prefix)
            .values(revoked_at=datetime.now(UTC).replace(tzinfo=None))
        )
    now[0] += merchants_svc.AUTH_CACHE_TTL_S + 0.01
    assert api.get("/v1/invoices", headers=auth).status_code == 401
    r = api.post(
        "/v1/invoices",
        json={"line_items": [{"description": "x", "unit_amount": 100}]},
        headers={**auth, "Idempotency-Key": "after-revoke"},
    )
    assert r.status_code == 401
    # an unknown key is never cached: each attempt is looked up
    assert api.get("/v1/invoices", headers={"Authorization": "Bearer cpk_nope"}).status_code == 401
    assert all(v[1].merchant_id == merchant.id for v in ctx.auth_cache.values())


def test_invoice_numbers_drawn_in_one_statement(
    api: TestClient, ctx: ServiceContext, merchant: Merchant
) -> None:
    first = _invoice(api)
    second = _invoice(api)
    assert (first["number"], second["number"]) == ("INV-000001", "INV-000002")
    with ctx.sessions.begin() as s:
        s.execute(update(Merchant).where(Merchant.id == merchant.id).values(invoice_seq=999_999))
    big = _invoice(api)
    assert big["number"] == "INV-1000000"
    assert api.get(f"/v1/invoices/{big['id']}").json()["number"] == "INV-1000000"


def test_create_answer_stored_and_pay_answer_counts_earlier_refunds(
    api: TestClient, ctx: ServiceContext, sandbox: Sandbox
) -> None:
    body = {"line_items": [{"description": "Radiator", "quantity": 2, "unit_amount": 2500}]}
    created = api.post("/v1/invoices", json=body, headers={"Idempotency-Key": "create-1"})
    assert created.status_code == 201, created.text
    row = _stored(ctx, "create-1")
    assert (row.status, row.response_status, row.response_body) == ("done", 201, created.content)
    replay = api.post("/v1/invoices", json=body, headers={"Idempotency-Key": "create-1"})
    assert (replay.status_code, replay.content) == (201, created.content)
    assert replay.headers.get("idempotent-replayed") == "true"
    inv = created.json()
    assert api.get(f"/v1/invoices/{inv['id']}").json() == inv

    assert api.post(f"/v1/invoices/{inv['id']}/open").status_code == 200
    path = f"/v1/invoices/{inv['id']}/pay"
    first = api.post(path, json={"token": make_token(sandbox), "amount": 3000})
    assert first.status_code == 200, first.text
    refund = api.post(f"/v1/payments/{first.json()['payment']['id']}/refunds", json={"amount": 700})
    assert refund.status_code < 300, refund.text
    # the settle's answer carries the invoice's totals as a fresh read gives them,
    # the refund of the earlier payment included
    rest = api.post(path, json={"token": make_token(sandbox)}, headers={"Idempotency-Key": "p-2"})
    assert rest.status_code == 200, rest.text
    out = rest.json()["invoice"]
    assert (out["status"], out["amount_paid"], out["amount_refunded"]) == ("paid", 5000, 700)
    assert api.get(f"/v1/invoices/{inv['id']}").json() == out
    assert_invariants(ctx, sandbox)
