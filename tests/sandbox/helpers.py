"""Shared helpers for sandbox tests (plain httpx, no cloverpay.api)."""

from __future__ import annotations

from typing import Any

import httpx

from cloverpay.sandbox import Sandbox

XFF = {"x-forwarded-for": "203.0.113.9"}


def client(sandbox: Sandbox) -> httpx.Client:
    return sandbox.client(headers=XFF)


def tokenize(
    http: httpx.Client, sandbox: Sandbox, number: str = "4242424242424242", **card: Any
) -> str:
    body = {"card": {"number": number, "exp_month": "12", "exp_year": "2030", "cvv": "123", **card}}
    r = http.post(
        "/v1/tokens", json=body, headers={"apikey": sandbox.state.merchant.api_access_key}
    )
    assert r.status_code == 200, r.text
    token_id: str = r.json()["id"]
    return token_id


def charge(
    http: httpx.Client,
    sandbox: Sandbox,
    amount: int = 1000,
    number: str = "4242424242424242",
    **extra: Any,
) -> httpx.Response:
    body = {"amount": amount, "currency": "usd", "source": tokenize(http, sandbox, number), **extra}
    return http.post("/v1/charges", json=body)


def error(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    assert "error" in body, body
    err: dict[str, Any] = body["error"]
    return err


def counts(sandbox: Sandbox) -> dict[str, int]:
    e = sandbox.state.ecommerce
    return {
        "tokens": len(e.tokens),
        "charges": len(e.charges),
        "orders": len(e.orders),
        "customers": len(e.customers),
        "cards": len(e.cards),
        "refunds": len(e.refunds),
        "returns": len(e.returns),
    }
