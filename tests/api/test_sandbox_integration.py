"""The client against the offline sandbox: in-process and over a real socket, sync and async.

Every error class is reached through real Clover-shaped answers; faults are armed
through the sandbox's HTTP control API (``/_sandbox/faults``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from cloverpay.api import (
    APIConnectionError,
    AsyncCloverClient,
    AuthenticationError,
    CardDeclinedError,
    Charge,
    CloverClient,
    ConflictError,
    IdempotencyError,
    InvalidRequestError,
    MalformedResponseError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    idempotency_key_for,
)

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

    def client(self, **kw: Any) -> Any:
        kw.setdefault("merchant_id", self.creds.merchant_id)
        kw.setdefault("api_access_key", self.creds.api_access_key)
        kw.setdefault("client_ip", IP)
        kw.setdefault("retry", RetryPolicy(initial_backoff=0.0, max_retries=3))
        kw.setdefault("timeout", 10.0)
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
        body = r.json()
        return body["data"] if isinstance(body, dict) and "data" in body else body  # type: ignore[no-any-return]

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
    mode, is_async = request.param
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


pytestmark = pytest.mark.anyio


async def token(env: Env, c: Any, number: str = APPROVE) -> str:
    tok = await env.run(
        c.tokens.create(
            card={"number": number, "exp_month": "12", "exp_year": "2030", "cvv": "123"}
        )
    )
    assert tok.id.startswith("clv_")
    return str(tok.id)


async def test_charge_capture_refund_flow(env: Env) -> None:
    c = env.client()
    charge = await env.run(
        c.charges.create(amount=1500, currency="usd", source=await token(env, c), capture=False)
    )
    assert isinstance(charge, Charge)
    assert charge.amount == 1500
    captured = await env.run(c.charges.capture(charge.id))
    assert captured.id == charge.id
    refund = await env.run(c.refunds.create(charge=charge.id, amount=500))
    assert refund.charge == charge.id
    assert refund.amount == 500
    again = await env.run(c.charges.retrieve(charge.id))
    assert again.amount_refunded == 500


async def test_card_declined(env: Env) -> None:
    c = env.client()
    with pytest.raises(CardDeclinedError) as info:
        await env.run(
            c.charges.create(
                amount=100,
                currency="usd",
                source=await token(env, c, DECLINE),
                idempotency_key="decline-1",
            )
        )
    err = info.value
    assert err.code == "card_declined"
    assert err.http_status in (400, 402)
    assert err.idempotency_key == "decline-1"


async def test_invalid_request_token_reuse(env: Env) -> None:
    c = env.client()
    tok = await token(env, c)
    await env.run(c.charges.create(amount=100, currency="usd", source=tok))
    with pytest.raises(InvalidRequestError) as info:
        await env.run(c.charges.create(amount=100, currency="usd", source=tok))
    assert info.value.code == "token_already_used"


async def test_authentication_error(env: Env) -> None:
    c = env.client(access_token="not-a-real-token-000000000")
    with pytest.raises(AuthenticationError) as info:
        await env.run(c.charges.retrieve("ABCDEFGHJKMNP"))
    assert "not-a-real-token-000000000" not in str(info.value)


async def test_not_found(env: Env) -> None:
    with pytest.raises(NotFoundError):
        await env.run(env.client().charges.retrieve("ABCDEFGHJKMNP"))


@pytest.mark.parametrize(
    ("status", "cls"),
    [(403, PermissionDeniedError), (409, ConflictError), (503, ServerError)],
)
async def test_status_faults(env: Env, status: int, cls: type[Exception]) -> None:
    env.fault(kind="status", method="GET", path="/v1/charges/*", status=status, count=5)
    with pytest.raises(cls) as info:
        await env.run(env.client(retry=0).charges.retrieve("ABCDEFGHJKMNP"))
    assert info.value.http_status == status  # type: ignore[attr-defined]


async def test_idempotency_key_reused_with_other_body(env: Env) -> None:
    c = env.client()
    key = idempotency_key_for("test-invoice", env.mode + str(env.is_async))
    await env.run(
        c.charges.create(
            amount=100, currency="usd", source=await token(env, c), idempotency_key=key
        )
    )
    with pytest.raises(IdempotencyError):
        await env.run(
            c.charges.create(
                amount=999, currency="usd", source=await token(env, c), idempotency_key=key
            )
        )


async def test_rate_limit_retry_honours_retry_after(env: Env) -> None:
    c = env.client()
    env.fault(kind="rate_limit", method="GET", path="/v1/charges", count=1)
    assert await env.items(c.charges.list()) == []
    assert env.slept
    assert env.slept[0] >= 1.0


async def test_rate_limit_error_when_retries_run_out(env: Env) -> None:
    env.fault(kind="rate_limit", method="GET", path="/v1/charges", count=5)
    with pytest.raises(RateLimitError) as info:
        await env.items(env.client(retry=1).charges.list())
    assert info.value.retry_after is not None


async def test_commit_then_drop_retried_with_same_key_yields_one_charge(env: Env) -> None:
    c = env.client()
    tok = await token(env, c)
    env.fault(kind="commit_then_drop", method="POST", path="/v1/charges", count=1)
    charge = await env.run(
        c.charges.create(amount=4200, currency="usd", source=tok, external_reference_id="INV42")
    )
    charges = await env.items(c.charges.list())
    assert [ch.id for ch in charges] == [charge.id]
    assert len(env.slept) == 1


async def test_commit_then_drop_without_retries_is_outcome_unknown(env: Env) -> None:
    c = env.client(retry=0)
    tok = await token(env, c)
    env.fault(kind="commit_then_drop", method="POST", path="/v1/charges", count=1)
    with pytest.raises(OutcomeUnknownError) as info:
        await env.run(
            c.charges.create(amount=4300, currency="usd", source=tok, idempotency_key="unknown-1")
        )
    assert info.value.idempotency_key == "unknown-1"
    # The caller retries later with the same key: replayed, still one charge.
    charge = await env.run(
        c.charges.create(amount=4300, currency="usd", source=tok, idempotency_key="unknown-1")
    )
    assert [ch.id for ch in await env.items(c.charges.list())] == [charge.id]


async def test_drop_before_commit_is_retried(env: Env) -> None:
    c = env.client()
    tok = await token(env, c)
    env.fault(kind="drop_before_commit", method="POST", path="/v1/charges", count=2)
    charge = await env.run(c.charges.create(amount=100, currency="usd", source=tok))
    assert [ch.id for ch in await env.items(c.charges.list())] == [charge.id]


async def test_malformed_answers(env: Env) -> None:
    c = env.client()
    charge = await env.run(c.charges.create(amount=100, currency="usd", source=await token(env, c)))
    env.fault(kind="malformed", method="GET", path="/v1/charges/*", count=1)
    with pytest.raises(MalformedResponseError):
        await env.run(c.charges.retrieve(charge.id))
    env.fault(kind="malformed", method="POST", path="/v1/charges", count=1)
    with pytest.raises(OutcomeUnknownError):
        await env.run(c.charges.create(amount=100, currency="usd", source=await token(env, c)))


async def test_paging_over_several_pages(env: Env) -> None:
    c = env.client()
    made = []
    for i in range(5):
        ch = await env.run(
            c.charges.create(amount=100 + i, currency="usd", source=await token(env, c))
        )
        made.append(ch.id)
    got = [ch.id for ch in await env.items(c.charges.list(limit=2))]
    assert sorted(got) == sorted(made)
    assert len(got) == 5


async def test_connection_refused_is_connection_error(env: Env) -> None:
    if env.mode != "socket":
        pytest.skip("needs a real socket")
    c = env.client()
    c._core.environment = type(c._core.environment).custom("http://127.0.0.1:9")
    with pytest.raises(APIConnectionError) as info:
        await env.run(c.charges.retrieve("ABCDEFGHJKMNP"))
    assert type(info.value) is APIConnectionError
