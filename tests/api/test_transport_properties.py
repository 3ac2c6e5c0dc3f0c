"""Property tests of the retry loops: whatever Clover does, money moves at most once and
an unknown outcome is never reported as a failure."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cloverpay.api import (
    APIError,
    AsyncCloverClient,
    CloverClient,
    CloverError,
    OutcomeUnknownError,
    RetryPolicy,
)

from .fake import CHARGE, FakeClover, ecom_error, json_response

OUTCOMES = ["connect", "timeout", 200, 400, 402, 409, 429, 500, 503]
AMBIGUOUS = {"timeout", 409, 500, 503}
DEFINITIVE = {400, 402}
MAX_RETRIES = 3
ROUTES = {
    "money": ("POST", "/v1/charges"),
    "post": ("POST", "/v1/customers"),
    "get": ("GET", "/v1/charges/X"),
}


def reply(outcome: object) -> Any:
    if outcome == "connect":
        return httpx.ConnectError("refused")
    if outcome == "timeout":
        return httpx.ReadTimeout("slow")
    if outcome == 200:
        return json_response(200, {**CHARGE, "id": "C1", "email": "a@example.com"})
    if outcome == 402:
        return ecom_error(402, "card_declined")
    if outcome == 429:
        return json_response(429, {"error": {"code": "rate_limit"}}, {"retry-after": "0"})
    if outcome == 409:
        return json_response(409, {"error": {"type": "idempotency_error", "message": "busy"}})
    return ecom_error(int(outcome), "processing_error")  # type: ignore[call-overload]


def call(client: Any, kind: str) -> Any:
    if kind == "money":
        return client.charges.create(amount=100, currency="usd", source="clv_1")
    if kind == "post":
        return client.customers.create(email="a@example.com")
    return client.charges.retrieve("X")


def run(kind: str, outcomes: list[object], is_async: bool) -> tuple[Any, list[httpx.Request]]:
    fake = FakeClover()
    method, path = ROUTES[kind]
    fake.add(method, path, *(reply(o) for o in outcomes))
    fake.always(method, path, reply(200))
    policy = RetryPolicy(max_retries=MAX_RETRIES, initial_backoff=0.0, max_retry_after=0.0)
    kw: dict[str, Any] = {
        "base_url": "http://clover.test",
        "client_ip": "1.2.3.4",
        "retry": policy,
        "rate_limit": None,
    }
    result: Any
    if is_async:

        async def go() -> Any:
            c = AsyncCloverClient("tok", transport=fake.async_transport(), **kw)

            async def nosleep(_: float) -> None:
                return None

            c._runner.sleep = nosleep
            try:
                return await call(c, kind)
            except CloverError as e:
                return e

        result = asyncio.run(go())
    else:
        c = CloverClient("tok", transport=fake.transport(), **kw)
        c._runner.sleep = lambda _: None
        try:
            result = call(c, kind)
        except CloverError as e:
            result = e
    return result, fake.requests


@settings(max_examples=150, deadline=None)
@example("money", ["timeout", "connect", "connect", "connect"], False)
@example("money", ["timeout", "connect", "connect", "connect"], True)
@example("money", [503, 429, 429, 429], False)
@example("money", ["timeout", 402], True)
@example("money", [409, 409, 409, 409], False)
@example("post", [503], False)
@given(
    st.sampled_from(list(ROUTES)),
    st.lists(st.sampled_from(OUTCOMES), min_size=1, max_size=6),
    st.booleans(),
)
def test_retry_invariants(kind: str, outcomes: list[object], is_async: bool) -> None:
    result, requests = run(kind, outcomes, is_async)
    consumed = (
        outcomes[: len(requests)]
        if len(requests) <= len(outcomes)
        else [*outcomes, *([200] * (len(requests) - len(outcomes)))]
    )

    # At most 1 + max_retries attempts, all with one idempotency key (or none).
    assert 1 <= len(requests) <= 1 + MAX_RETRIES
    keys = {r.headers.get("idempotency-key") for r in requests}
    assert len(keys) == 1
    assert (None in keys) == (kind != "money")

    # A success is always the last thing seen, and is returned.
    if 200 in consumed:
        assert consumed.index(200) == len(consumed) - 1
        assert not isinstance(result, CloverError)
        return
    assert isinstance(result, CloverError)

    # A POST without a key is never sent again once it may have reached Clover.
    if kind == "post":
        for outcome in consumed[:-1]:
            assert outcome not in AMBIGUOUS

    if kind == "money":
        ambiguous = any(o in AMBIGUOUS for o in consumed)
        last = consumed[-1]
        if last in DEFINITIVE:
            assert isinstance(result, APIError)
            assert result.http_status == last
        elif ambiguous:
            assert isinstance(result, OutcomeUnknownError), (consumed, result)
        else:
            assert not isinstance(result, OutcomeUnknownError), (consumed, result)
    if kind == "get":
        assert not isinstance(result, OutcomeUnknownError)
