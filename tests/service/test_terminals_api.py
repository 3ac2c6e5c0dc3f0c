"""The terminal endpoints of the REST API (in-process app, the emulated terminal over a
real socket): register and list terminals, start a sale and follow its live stage,
refund and void a terminal payment, Idempotency-Key, the one error shape, OpenAPI."""

# ruff: noqa: F811  (the fixtures of terminal_helpers are imported by name)
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cloverpay.sandbox import Sandbox, SandboxServer
from cloverpay.service.db import Merchant, TerminalSale
from cloverpay.service.services import ServiceContext
from cloverpay.service.terminal_runtime import TerminalRuntime

from .conftest import make_token, open_test_invoice
from .terminal_helpers import (  # noqa: F401  (fixtures)
    FAST,
    WAIT_S,
    assert_books,
    control,
    error,
    script,
    terminal_server,
    wait_for,
)

pytestmark = pytest.mark.timeout(120)

#: the longest wait for a terminal's answer the API accepts (``wait_s``)
LONG_WAIT = {"wait_s": 60}


@pytest.fixture
def runtime(ctx: ServiceContext) -> Iterator[TerminalRuntime]:
    rt = TerminalRuntime(ctx, owner="proc-A", options=FAST).start()
    try:
        yield rt
    finally:
        rt.stop()


def follow(api: TestClient, sale_id: str) -> dict[str, Any]:
    stages: list[str] = []

    def final() -> dict[str, Any] | None:
        sale = api.get(f"/v1/terminal_sales/{sale_id}").json()
        stages.append(sale["stage"])
        return sale if sale["stage"] in ("done", "unknown", "expired") else None

    done: dict[str, Any] = wait_for(final, WAIT_S, "the sale to end")
    return done


def test_terminal_endpoints_end_to_end(
    api: TestClient,
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    terminal_server: SandboxServer,
    runtime: TerminalRuntime,
    control: httpx.Client,
) -> None:
    # register and list (no pairing token ever in a response)
    bad = error(api.post("/v1/terminals", json={"name": "X", "url": "http://nope"}), 400)
    assert bad["field"] == "url"
    created = api.post(
        "/v1/terminals", json={"name": "Counter", "url": terminal_server.terminal_url}
    )
    assert created.status_code == 201, created.text
    terminal = created.json()
    assert "auth_token" not in created.text
    dup = error(
        api.post("/v1/terminals", json={"name": "Counter", "url": terminal_server.terminal_url}),
        409,
    )
    assert dup["code"] == "terminal_exists"
    wait_for(
        lambda: api.get(f"/v1/terminals/{terminal['id']}").json()["status"] == "ready",
        what="the terminal to pair",
    )
    listed = api.get("/v1/terminals").json()
    assert [(t["name"], t["lease_owner"]) for t in listed] == [("Counter", "proc-A")]
    error(api.get("/v1/terminals/nope"), 404)

    # a sale: committed at once (queued), its live stage and screen, then the payment
    invoice = open_test_invoice(ctx, merchant)
    script(control, tip=150)
    body = {"invoice_id": invoice.id, "terminal_id": terminal["id"]}
    started = api.post("/v1/terminal_sales", json=body, headers={"Idempotency-Key": "sale-1"})
    assert started.status_code == 202, started.text
    sale = started.json()
    # committed at once; the owner may have taken it (or, on a busy machine, even
    # finished it) before the answer was written: never an intermediate state only
    assert (sale["stage"], sale["state"]) in {
        ("queued", "pending"),
        ("sending", "pending"),
        ("done", "succeeded"),
    }
    assert sale["external_payment_id"]
    replay = api.post("/v1/terminal_sales", json=body, headers={"Idempotency-Key": "sale-1"})
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json()["id"] == sale["id"]
    # a second sale of the invoice: refused while the first is open, or once it is paid
    again = error(api.post("/v1/terminal_sales", json=body), 409)
    assert again["code"] in ("attempt_unresolved", "invoice_not_payable")
    done = follow(api, sale["id"])
    assert (done["state"], done["stage"]) == ("succeeded", "done")
    payment = done["payment"]
    assert payment["amount"] == invoice.total
    assert payment["tip_amount"] == 150
    assert api.get(f"/v1/invoices/{invoice.id}").json()["status"] == "paid"
    with ctx.sessions() as s:
        assert s.scalar(select(func.count()).select_from(TerminalSale)) == 1
    by_invoice = api.get("/v1/terminal_sales", params={"invoice_id": invoice.id}).json()
    assert [x["id"] for x in by_invoice] == [sale["id"]]
    assert_books(ctx, sandbox)

    # a refund of a terminal payment goes through the terminal
    # (waiting for the terminal's answer as long as the API allows: 10 s by default)
    refunded = api.post(
        f"/v1/payments/{payment['id']}/refunds", params=LONG_WAIT, json={"amount": 500}
    )
    assert refunded.status_code == 200, refunded.text
    assert (refunded.json()["kind"], refunded.json()["state"]) == ("refund", "succeeded")
    # a void is refused once it has refunds (Clover refuses it too)
    refused = error(api.post(f"/v1/payments/{payment['id']}/void", json={}), 409)
    assert refused["code"] == "payment_has_refunds"
    assert_books(ctx, sandbox)

    # a void of another sale: the invoice is payable again
    second = open_test_invoice(ctx, merchant)
    sale2 = api.post(
        "/v1/terminal_sales", json={"invoice_id": second.id, "terminal_id": terminal["id"]}
    ).json()
    pay2 = follow(api, sale2["id"])["payment"]
    voided = api.post(
        f"/v1/payments/{pay2['id']}/void",
        params=LONG_WAIT,
        json={"reason": "wrong invoice"},
        headers={"Idempotency-Key": "void-1"},
    )
    assert voided.status_code == 200, voided.text
    assert (voided.json()["kind"], voided.json()["state"]) == ("void", "succeeded")
    assert voided.json()["invoice"]["status"] == "open"
    assert api.get(f"/v1/payments/{pay2['id']}").json()["voided_at"]
    replayed = api.post(
        f"/v1/payments/{pay2['id']}/void",
        params=LONG_WAIT,
        json={"reason": "wrong invoice"},
        headers={"Idempotency-Key": "void-1"},
    )
    assert replayed.headers.get("Idempotent-Replayed") == "true"
    twice = error(api.post(f"/v1/payments/{pay2['id']}/void", json={}), 409)
    assert twice["code"] == "payment_voided"
    assert_books(ctx, sandbox)


def test_terminal_errors_and_openapi(
    api: TestClient, ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    anonymous = TestClient(api.app)
    error(anonymous.get("/v1/terminals"), 401)
    error(anonymous.post("/v1/terminal_sales", json={}), 401)
    missing = error(api.post("/v1/terminal_sales", json={"invoice_id": "x"}), 422)
    assert missing["field"] == "terminal_id"
    extra = error(
        api.post("/v1/terminal_sales", json={"invoice_id": "x", "terminal_id": "y", "pin": 1}),
        422,
    )
    assert extra["field"] == "pin"
    invoice = open_test_invoice(ctx, merchant)
    nope = error(
        api.post("/v1/terminal_sales", json={"invoice_id": invoice.id, "terminal_id": "nope"}),
        404,
    )
    assert nope["field"] == "terminal_id"
    error(api.get("/v1/terminal_sales/nope"), 404)
    error(api.post("/v1/payments/nope/void", json={}), 404)
    error(api.post("/v1/payments/nope/void", params={"wait_s": 99}, json={}), 422)
    # a payment taken online is voided online (all of it back, recorded as a refund)
    token_paid = api.post(f"/v1/invoices/{invoice.id}/open")
    assert token_paid.status_code in (200, 409)
    paid = api.post(f"/v1/invoices/{invoice.id}/pay", json={"token": make_token(sandbox)})
    assert paid.status_code == 200, paid.text
    online = api.post(f"/v1/payments/{paid.json()['payment']['id']}/void")
    assert online.status_code == 200, online.text
    assert (online.json()["kind"], online.json()["state"]) == ("void", "succeeded")
    assert online.json()["invoice"]["amount_refunded"] == online.json()["amount"]
    paths = api.get("/openapi.json").json()["paths"]
    for path in (
        "/v1/terminals",
        "/v1/terminals/{terminal_id}",
        "/v1/terminal_sales",
        "/v1/terminal_sales/{sale_id}",
        "/v1/payments/{payment_id}/void",
    ):
        assert path in paths, path
    assert "post" in paths["/v1/terminal_sales"]
