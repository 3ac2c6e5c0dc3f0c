"""Scenario 4 over real sockets: 50 concurrent pay submits for one invoice (half with
one Idempotency-Key, half with their own keys) to the service under uvicorn, which
calls the sandbox served by uvicorn too. One charge; the rest replayed or 409; no 5xx."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from cloverpay.sandbox import Sandbox, SandboxServer
from cloverpay.service.api import create_app
from cloverpay.service.core.config import Settings
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.merchants import connect_merchant, create_api_key

from .conftest import APPROVE, assert_invariants, create_schema, make_token

N = 50


class ServiceServer:
    def __init__(self, app: FastAPI) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="critical", lifespan="off", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self.port = 0

    def __enter__(self) -> ServiceServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("service did not start")
            time.sleep(0.02)
        self.port = int(self._server.servers[0].sockets[0].getsockname()[1])
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(20)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def served(settings: Settings) -> Iterator[tuple[str, str, ServiceContext, Sandbox]]:
    create_schema(settings.database_url)
    with Sandbox(seed=11) as sandbox, SandboxServer(sandbox) as sandbox_server:
        ctx = ServiceContext.build(settings, retry=0, rate_limit=False)
        creds = sandbox_server.credentials
        merchant = connect_merchant(
            ctx,
            name="Storm HVAC",
            clover_merchant_id=creds.merchant_id,
            access_token=creds.access_token,
            pakms_key=creds.api_access_key,
            clover_base_url=creds.base_url,
        )
        key = create_api_key(ctx, merchant.id)
        try:
            with ServiceServer(create_app(context=ctx)) as server:
                yield server.base_url, key.secret, ctx, sandbox
        finally:
            ctx.close()


def test_double_submit_storm(served: tuple[str, str, ServiceContext, Sandbox]) -> None:
    base_url, secret, ctx, sandbox = served
    headers = {"Authorization": f"Bearer {secret}", "X-Forwarded-For": "198.51.100.7"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as api:
        inv = api.post(
            "/v1/invoices", json={"line_items": [{"description": "Boiler", "unit_amount": 9900}]}
        ).json()
        assert api.post(f"/v1/invoices/{inv['id']}/open").status_code == 200
    token_id = make_token(sandbox, APPROVE)
    barrier = threading.Barrier(N)
    limits = httpx.Limits(max_connections=N, max_keepalive_connections=N)

    def submit(i: int) -> tuple[int, dict[str, Any]]:
        key = "storm-shared" if i % 2 == 0 else f"storm-{i}"
        with httpx.Client(base_url=base_url, headers=headers, timeout=60, limits=limits) as c:
            barrier.wait()
            resp = c.post(
                f"/v1/invoices/{inv['id']}/pay",
                json={"token": token_id},
                headers={"Idempotency-Key": key},
            )
        return resp.status_code, resp.json()

    with ThreadPoolExecutor(N) as pool:
        results = list(pool.map(submit, range(N)))

    statuses = sorted({status for status, _ in results})
    assert all(s < 500 for s in statuses), results
    assert set(statuses) <= {200, 409}, results
    ok = [body for status, body in results if status == 200]
    assert ok, "no submit succeeded"
    assert {body["id"] for body in ok} == {ok[0]["id"]}  # one attempt, replayed
    assert all(body["state"] == "succeeded" for body in ok)
    for status, body in results:
        if status == 409:
            assert body["error"]["code"] in {
                "attempt_unresolved",
                "invoice_not_payable",
                "idempotency_request_in_progress",
            }, body
    # after the storm, the shared key replays the stored result or is refused again
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as api:
        late = api.post(
            f"/v1/invoices/{inv['id']}/pay",
            json={"token": token_id},
            headers={"Idempotency-Key": "storm-shared"},
        )
    assert late.status_code in (200, 409)
    if late.status_code == 200:
        assert late.headers.get("idempotent-replayed") == "true"
        assert late.json()["id"] == ok[0]["id"]
    charges = list(sandbox.state.ecommerce.charges.objects.values())
    assert [c.status for c in charges] == ["succeeded"]
    assert_invariants(ctx, sandbox)
