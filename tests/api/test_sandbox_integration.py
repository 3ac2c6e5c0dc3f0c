"""The client against the offline sandbox: in-process and over a real socket, sync and async.

Every error class is reached through real Clover-shaped answers; faults are armed
through the sandbox's HTTP control API (``/_sandbox/faults``).
"""

from __future__ import annotations

import httpx
import pytest

from cloverpay.api import (
    APIConnectionError,
    AuthenticationError,
    CardDeclinedError,
    Charge,
    ConflictError,
    IdempotencyError,
    InvalidRequestError,
    MalformedResponseError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimit,
    RateLimitError,
    RetryPolicy,
    ServerError,
    idempotency_key_for,
)

from .sandbox_env import DECLINE, Env, env, server, socket_env, token

__all__ = ["env", "server", "socket_env"]  # fixtures used below

pytestmark = pytest.mark.anyio


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


@pytest.mark.parametrize("decline_status", [402, 400])
async def test_card_declined(env: Env, decline_status: int) -> None:
    """A decline arrives as 402 or 400 (spec §13.1): either way a CardDeclinedError."""
    r = env._control.post("/_sandbox/config", json={"decline_status": decline_status})
    assert r.status_code < 300, r.text
    try:
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
    finally:
        env._control.post("/_sandbox/config", json={"decline_status": 402})
    err = info.value
    assert err.code == "card_declined"
    assert err.http_status == decline_status
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


async def test_connection_refused_is_connection_error(socket_env: Env) -> None:
    env = socket_env
    c = env.client()
    c._core.environment = type(c._core.environment).custom("http://127.0.0.1:9")
    with pytest.raises(APIConnectionError) as info:
        await env.run(c.charges.retrieve("ABCDEFGHJKMNP"))
    assert type(info.value) is APIConnectionError


async def test_default_limiter_and_retries_get_a_burst_through(env: Env) -> None:
    """Sandbox enforcing 16 req/s and 5 in flight: a burst of 24 gets through with the
    default limiter (which spaces requests) and retries (for the odd 429 that network or
    scheduling jitter still causes); without them the same burst is refused."""
    r = env._control.post("/_sandbox/rate_limits", json={"enabled": True})
    assert r.status_code < 300
    n = 24
    try:
        c = env.client(rate_limit=RateLimit(), retry=RetryPolicy(), real_sleep=True)
        if env.is_async:
            import asyncio

            results = await asyncio.gather(
                *(c.charges.list(limit=1).first_page() for _ in range(n))
            )
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(8) as pool:
                results = list(pool.map(lambda _: c.charges.list(limit=1).first_page(), range(n)))
        assert len(results) == n
        raw = env.client(rate_limit=None, retry=0)

        async def burst() -> None:
            for _ in range(3 * n):  # stops at the first 429
                await env.run(raw.charges.list(limit=1).first_page())

        with pytest.raises(RateLimitError) as info:
            await burst()
        assert info.value.headers.get("x-ratelimit-tokenlimit") == "16"
    finally:
        env._control.post("/_sandbox/rate_limits", json={"enabled": False})


async def test_read_timeout_after_send_is_retried_with_the_same_key(socket_env: Env) -> None:
    """Over a real socket: the first attempt times out while the sandbox is still holding
    it; the retry carries the same key, so whichever attempt the sandbox runs second is
    answered from the first one's stored result (or 409 'in flight', retried). One charge."""
    env = socket_env
    c = env.client(
        timeout=httpx.Timeout(5.0, read=0.3),
        retry=RetryPolicy(initial_backoff=0.5, max_retries=6, rng=lambda: 1.0),
        real_sleep=True,
    )
    tok = await token(env, c)
    keys: list[str] = []

    def seen(request: httpx.Request) -> None:
        if request.url.path == "/v1/charges" and request.method == "POST":
            keys.append(request.headers["idempotency-key"])

    async def aseen(request: httpx.Request) -> None:
        seen(request)

    c.http_client.event_hooks = {"request": [aseen if env.is_async else seen]}
    env.fault(kind="delay", method="POST", path="/v1/charges", delay_s=1.0, count=1)
    charge = await env.run(c.charges.create(amount=5100, currency="usd", source=tok))
    assert [ch.id for ch in await env.items(c.charges.list())] == [charge.id]
    assert len(keys) >= 2
    assert len(set(keys)) == 1


async def test_read_timeout_without_retries_is_outcome_unknown(socket_env: Env) -> None:
    env = socket_env
    c = env.client(timeout=httpx.Timeout(5.0, read=0.3), retry=0)
    tok = await token(env, c)
    env.fault(kind="delay", method="POST", path="/v1/charges", delay_s=0.8, count=1)
    with pytest.raises(OutcomeUnknownError):
        await env.run(c.charges.create(amount=5200, currency="usd", source=tok))
