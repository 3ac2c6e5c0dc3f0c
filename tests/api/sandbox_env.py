"""Reaching the sandbox four ways (in-process or socket, sync or async) for integration tests.

Fixtures ``server`` (one real-socket sandbox per module) and ``env`` are re-exported by
the test modules that use them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from cloverpay.api import AsyncCloverClient, CloverClient, RateLimit, RetryPolicy

sandbox_mod = pytest.importorskip("cloverpay.sandbox")

APPROVE = "4242424242424242"
DECLINE = "4005571702222222"
IP = "198.51.100.1"


class Env:
    """One way of reaching the sandbox: in-process or socket, sync or async."""

    def __init__(self, sb: Any, base_url: str, mode: str, is_async: bool) -> None:
        self.sb = sb
        self.base_url = base_url
        self.mode = mode
        self.is_async = is_async
        self.slept: list[float] = []
        creds = sb.credentials_for(base_url)
        self.creds = creds
        self._control = httpx.Client(
            base_url=base_url,
            transport=sb.sync_transport() if mode == "inproc" else None,
            timeout=10,
        )
        self._clients: list[Any] = []

    def client(self, real_sleep: bool = False, **kw: Any) -> Any:
        kw.setdefault("merchant_id", self.creds.merchant_id)
        kw.setdefault("api_access_key", self.creds.api_access_key)
        kw.setdefault("client_ip", IP)
        kw.setdefault("retry", RetryPolicy(initial_backoff=0.0, max_retries=3))
        kw.setdefault("timeout", 10.0)
        # Clients of one token share a limiter; keep it out of the way unless a test
        # is about it.
        kw.setdefault("rate_limit", RateLimit(requests_per_second=10_000, max_in_flight=50))
        token = kw.pop("access_token", self.creds.access_token)
        if self.is_async:
            if self.mode == "inproc":
                kw["transport"] = self.sb.async_transport()
            c: Any = AsyncCloverClient(token, base_url=self.base_url, **kw)

            async def sleep(s: float) -> None:
                self.slept.append(s)
        else:
            if self.mode == "inproc":
                kw["transport"] = self.sb.sync_transport()
            c = CloverClient(token, base_url=self.base_url, **kw)
            sleep = self.slept.append  # type: ignore[assignment]
        if not real_sleep:
            c._runner.sleep = sleep  # record backoff instead of waiting
        self._clients.append(c)
        return c

    async def run(self, result: Any) -> Any:
        if self.is_async:
            return await result
        return result

    async def items(self, pager: Any) -> list[Any]:
        if self.is_async:
            return [x async for x in pager]
        return list(pager)

    def fault(self, **rule: Any) -> None:
        r = self._control.post("/_sandbox/faults", json=rule)
        assert r.status_code < 300, r.text

    def events(self) -> list[dict[str, Any]]:
        r = self._control.get("/_sandbox/events", params={"kind": "request"})
        events: list[dict[str, Any]] = r.json()["events"]
        return events

    async def close(self) -> None:
        for c in self._clients:
            if self.is_async:
                await c.aclose()
            else:
                c.close()
        self._control.close()


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    sb = sandbox_mod.Sandbox(seed=7)
    srv = sandbox_mod.SandboxServer(sb).start()
    try:
        yield srv
    finally:
        srv.stop()
        sb.close()


@pytest.fixture(
    params=[("inproc", False), ("inproc", True), ("socket", False), ("socket", True)],
    ids=["inproc-sync", "inproc-async", "socket-sync", "socket-async"],
)
async def env(request: pytest.FixtureRequest, server: Any) -> AsyncIterator[Env]:
    async for e in _make_env(request.param, server):
        yield e


@pytest.fixture(params=[("socket", False), ("socket", True)], ids=["socket-sync", "socket-async"])
async def socket_env(request: pytest.FixtureRequest, server: Any) -> AsyncIterator[Env]:
    """Only the real-socket ways (timeouts and refused connections need a socket)."""
    async for e in _make_env(request.param, server):
        yield e


async def _make_env(param: tuple[str, bool], server: Any) -> AsyncIterator[Env]:
    mode, is_async = param
    if mode == "inproc":
        sb = sandbox_mod.Sandbox(seed=11)
        e = Env(sb, sb.base_url, mode, is_async)
    else:
        e = Env(server.sandbox, server.base_url, mode, is_async)
        e._control.post("/_sandbox/reset")
        e.creds = server.sandbox.credentials_for(server.base_url)
    try:
        yield e
    finally:
        await e.close()
        if mode == "inproc":
            e.sb.close()


async def token(env: Env, c: Any, number: str = APPROVE) -> str:
    tok = await env.run(
        c.tokens.create(
            card={"number": number, "exp_month": "12", "exp_year": "2030", "cvv": "123"}
        )
    )
    assert tok.id.startswith("clv_")
    return str(tok.id)
