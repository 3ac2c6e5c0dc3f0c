"""The async in-process transport: a full payment flow, and concurrency limits."""

from __future__ import annotations

import anyio
import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cloverpay.sandbox import Sandbox
from cloverpay.sandbox._http import json_response

XFF = {"x-forwarded-for": "192.0.2.1"}


@pytest.mark.anyio
async def test_async_payment_flow(sandbox: Sandbox) -> None:
    async with sandbox.async_client(headers=XFF) as http:
        key = sandbox.state.merchant.api_access_key
        tok = await http.post(
            "/v1/tokens",
            json={
                "card": {
                    "number": "378282246310005",
                    "exp_month": "12",
                    "exp_year": "2031",
                    "cvv": "1234",
                }
            },
            headers={"apikey": key},
        )
        assert tok.json()["card"]["brand"] == "AMEX"
        ch = (
            await http.post(
                "/v1/charges", json={"amount": 4200, "currency": "usd", "source": tok.json()["id"]}
            )
        ).json()
        refund = (await http.post("/v1/refunds", json={"charge": ch["id"]})).json()
        assert refund["amount"] == 4200
        charge = (await http.get(f"/v1/charges/{ch['id']}")).json()
        assert charge["refunded"] is True
        listed = (await http.get("/v1/refunds", params={"charge": ch["id"]})).json()
        assert [r["id"] for r in listed["data"]] == [refund["id"]]


@pytest.mark.anyio
async def test_concurrency_limit_429(sandbox: Sandbox) -> None:
    release = anyio.Event()
    all_in = anyio.Event()
    entered = 0

    async def slow(request: Request) -> Response:
        nonlocal entered
        entered += 1
        if entered == 5:
            all_in.set()
        await release.wait()
        return json_response({"ok": True})

    sandbox.app.router.routes.append(Route("/v1/_slow", slow, methods=["GET"]))
    sandbox.state.ratelimiter.enabled = True
    results: list[httpx.Response] = []
    async with sandbox.async_client() as http:

        async def one() -> None:
            results.append(await http.get("/v1/_slow"))

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(one)
            with anyio.fail_after(5):
                await all_in.wait()
            sixth = await http.get("/v1/_slow")
            release.set()
    assert sixth.status_code == 429
    assert sixth.headers["x-ratelimit-tokenconcurrentlimit"] == "5"
    assert sixth.headers["retry-after"] == "1"
    assert [r.status_code for r in results] == [200] * 5
