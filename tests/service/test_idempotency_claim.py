"""The Idempotency-Key claimed in the route's own first write transaction (creating and
paying an invoice): one transaction for a create, nothing written for a request refused
before its work committed, and a key held by another request answered as before (in
progress, reused, replayed, a stale one taken over), with none of the route's work done."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, insert, select

from cloverpay.sandbox import Sandbox
from cloverpay.service.api.idempotency import _fingerprint
from cloverpay.service.db import IdempotencyKey, Invoice, Merchant, PaymentAttempt
from cloverpay.service.services import ServiceContext

from .conftest import assert_invariants, make_token

BODY = {"line_items": [{"description": "Gutter repair", "quantity": 1, "unit_amount": 3100}]}


def _rows(ctx: ServiceContext, key: str) -> list[IdempotencyKey]:
    with ctx.sessions() as s:
        return list(s.scalars(select(IdempotencyKey).where(IdempotencyKey.key == key)))


def _count(ctx: ServiceContext, model: Any) -> int:
    with ctx.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _hold(
    ctx: ServiceContext, merchant: Merchant, key: str, path: str, body: Any, **row: Any
) -> None:
    """A row for ``key`` as another request with this path and body left it (claimed,
    running)."""
    values = {
        "merchant_id": merchant.id,
        "key": key,
        "method": "POST",
        "path": path,
        "request_fingerprint": _fingerprint("POST", path, json.dumps(body).encode()),
        "status": "in_progress",
        "created_at": ctx.now(),
        **row,
    }
    with ctx.sessions.begin() as s:
        s.execute(insert(IdempotencyKey), values)


def test_create_is_one_transaction_with_its_claim_and_answer(
    api: TestClient, ctx: ServiceContext
) -> None:
    api.post("/v1/invoices", json=BODY, headers={"Idempotency-Key": "warm"})  # caches warm
    commits: list[int] = []
    listener = lambda *_a: commits.append(1)  # noqa: E731
    event.listen(ctx.engine, "commit", listener)
    try:
        created = api.post("/v1/invoices", json=BODY, headers={"Idempotency-Key": "one-tx"})
    finally:
        event.remove(ctx.engine, "commit", listener)
    assert created.status_code == 201, created.text
    (row,) = _rows(ctx, "one-tx")
    assert (row.status, row.response_status, row.response_body) == ("done", 201, created.content)
    if ctx.dialect == "postgresql":  # SQLite's autocommit statements count as commits too
        assert len(commits) == 1


def test_refused_before_anything_committed_writes_no_key(
    api: TestClient, ctx: ServiceContext, sandbox: Sandbox
) -> None:
    missing = api.post(
        "/v1/invoices/nope/pay",
        json={"token": make_token(sandbox)},
        headers={"Idempotency-Key": "k"},
    )
    assert missing.status_code == 404, missing.text
    assert _rows(ctx, "k") == []
    bad = {"line_items": [{"description": "x", "quantity": 1, "unit_amount": 0}]}
    refused = api.post("/v1/invoices", json=bad, headers={"Idempotency-Key": "k"})
    assert refused.status_code == 400, refused.text
    assert _rows(ctx, "k") == []
    # the key is free: the corrected request runs under it
    fixed = api.post("/v1/invoices", json=BODY, headers={"Idempotency-Key": "k"})
    assert fixed.status_code == 201, fixed.text
    assert [r.status for r in _rows(ctx, "k")] == ["done"]


def test_a_pay_refused_in_its_intent_gives_the_key_back(
    api: TestClient, ctx: ServiceContext, sandbox: Sandbox
) -> None:
    inv = api.post("/v1/invoices", json=BODY).json()
    assert api.post(f"/v1/invoices/{inv['id']}/open").status_code == 200
    path = f"/v1/invoices/{inv['id']}/pay"
    token = make_token(sandbox)
    too_much = api.post(
        path, json={"token": token, "amount": 99_999}, headers={"Idempotency-Key": "p"}
    )
    assert too_much.status_code == 400, too_much.text
    assert too_much.json()["error"]["field"] == "amount"
    assert _rows(ctx, "p") == []
    assert _count(ctx, PaymentAttempt) == 0
    paid = api.post(path, json={"token": token}, headers={"Idempotency-Key": "p"})
    assert paid.status_code == 200, paid.text
    replay = api.post(path, json={"token": token}, headers={"Idempotency-Key": "p"})
    assert (replay.status_code, replay.content) == (200, paid.content)
    assert replay.headers.get("idempotent-replayed") == "true"
    assert _count(ctx, PaymentAttempt) == 1
    assert_invariants(ctx, sandbox)


@pytest.mark.parametrize("route", ["create", "pay"])
def test_a_key_held_by_a_running_request_stops_the_route_before_its_work(
    api: TestClient, ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, route: str
) -> None:
    if route == "create":
        path, body = "/v1/invoices", BODY
    else:
        inv = api.post("/v1/invoices", json=BODY).json()
        assert api.post(f"/v1/invoices/{inv['id']}/open").status_code == 200
        path, body = f"/v1/invoices/{inv['id']}/pay", {"token": make_token(sandbox)}
    invoices, attempts = _count(ctx, Invoice), _count(ctx, PaymentAttempt)
    _hold(ctx, merchant, "held", path, body)
    answer = api.post(path, json=body, headers={"Idempotency-Key": "held"})
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "idempotency_request_in_progress"
    assert (_count(ctx, Invoice), _count(ctx, PaymentAttempt)) == (invoices, attempts)
    assert [r.status for r in _rows(ctx, "held")] == ["in_progress"]  # left to its holder


def test_a_key_of_another_request_is_refused_and_a_stale_one_taken_over(
    api: TestClient, ctx: ServiceContext, merchant: Merchant
) -> None:
    other = {"line_items": [{"description": "Other", "quantity": 1, "unit_amount": 100}]}
    _hold(ctx, merchant, "done-elsewhere", "/v1/invoices", other, status="done")
    reused = api.post("/v1/invoices", json=BODY, headers={"Idempotency-Key": "done-elsewhere"})
    assert reused.status_code == 409, reused.text
    assert reused.json()["error"]["code"] == "idempotency_key_reused"

    created = api.post("/v1/invoices", json=BODY, headers={"Idempotency-Key": "mine"})
    again = api.post("/v1/invoices", json=BODY, headers={"Idempotency-Key": "mine"})
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.content == created.content

    invoices = _count(ctx, Invoice)
    long_ago = ctx.now() - timedelta(minutes=10)  # its holder died
    _hold(ctx, merchant, "stale", "/v1/invoices", BODY, created_at=long_ago)
    taken = api.post("/v1/invoices", json=BODY, headers={"Idempotency-Key": "stale"})
    assert taken.status_code == 201, taken.text
    assert _count(ctx, Invoice) == invoices + 1
    (row,) = _rows(ctx, "stale")
    assert (row.status, row.response_body) == ("done", taken.content)


@pytest.mark.parametrize("authorization", ["Bearer cpk_not_a_key", "Basic abc", ""])
def test_a_caller_without_a_valid_key_is_refused_and_claims_nothing(
    api: TestClient, ctx: ServiceContext, authorization: str
) -> None:
    refused = api.post(
        "/v1/invoices",
        json=BODY,
        headers={"Authorization": authorization, "Idempotency-Key": "who"},
    )
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["field"] == "Authorization"
    assert _rows(ctx, "who") == []
    assert _count(ctx, Invoice) == 0
