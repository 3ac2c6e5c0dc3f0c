"""Retry loop behaviour, sync and async, over httpx.MockTransport."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cloverpay.api import (
    APIConnectionError,
    AsyncCloverClient,
    CardDeclinedError,
    CloverClient,
    ConfigurationError,
    InvalidRequestError,
    MalformedResponseError,
    OutcomeUnknownError,
    RateLimitError,
    RetryPolicy,
    ServerError,
)

from .fake import CHARGE, FakeClover, ecom_error, json_response

TOKEN = "access-token-0123456789abcdef"
NO_WAIT = RetryPolicy(initial_backoff=0.0, max_retries=3)


class Clients:
    """Builds the sync or async client over the same fake and records sleeps."""

    def __init__(self, fake: FakeClover, is_async: bool) -> None:
        self.fake = fake
        self.is_async = is_async
        self.slept: list[float] = []

    def make(self, **kw: Any) -> Any:
        kw.setdefault("retry", NO_WAIT)
        kw.setdefault("client_ip", "198.51.100.1")
        if self.is_async:
            client: Any = AsyncCloverClient(
                TOKEN, base_url="http://clover.test", transport=self.fake.async_transport(), **kw
            )

            async def sleep(s: float) -> None:
                self.slept.append(s)
        else:
            client = CloverClient(
                TOKEN, base_url="http://clover.test", transport=self.fake.transport(), **kw
            )
            sleep = self.slept.append  # type: ignore[assignment]
        client._runner.sleep = sleep
        return client

    async def call(self, fn: Any) -> Any:
        result = fn()
        if self.is_async:
            return await result
        return result


@pytest.fixture(params=[False, True], ids=["sync", "async"])
def clients(request: pytest.FixtureRequest, fake: FakeClover) -> Clients:
    return Clients(fake, request.param)


def charge(c: Any, **kw: Any) -> Any:
    return c.charges.create(amount=1000, currency="usd", source="clv_1x", **kw)


pytestmark = pytest.mark.anyio


async def test_connect_error_is_retried(clients: Clients) -> None:
    clients.fake.add(
        "POST", "/v1/charges", httpx.ConnectError("refused"), json_response(200, CHARGE)
    )
    c = clients.make()
    assert (await clients.call(lambda: charge(c))).id == CHARGE["id"]
    assert len(clients.fake.requests) == 2


async def test_read_timeout_after_send_retries_with_same_key(clients: Clients) -> None:
    clients.fake.add(
        "POST",
        "/v1/charges",
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("dropped"),
        json_response(200, CHARGE),
    )
    c = clients.make()
    await clients.call(lambda: charge(c))
    keys = {r.headers["idempotency-key"] for r in clients.fake.requests}
    assert len(clients.fake.requests) == 3
    assert len(keys) == 1


async def test_exhausted_retries_after_send_raise_outcome_unknown(clients: Clients) -> None:
    clients.fake.always("POST", "/v1/charges", httpx.ReadTimeout("slow"))
    c = clients.make(retry=RetryPolicy(initial_backoff=0, max_retries=2))
    with pytest.raises(OutcomeUnknownError) as info:
        await clients.call(lambda: charge(c, idempotency_key="order-7-attempt-1"))
    assert info.value.idempotency_key == "order-7-attempt-1"
    assert info.value.attempts == 3
    assert len(clients.fake.requests) == 3


async def test_post_without_key_is_not_resent_after_send(clients: Clients) -> None:
    clients.fake.always("POST", "/v1/customers", httpx.ReadError("reset"))
    c = clients.make()
    with pytest.raises(OutcomeUnknownError):
        await clients.call(lambda: c.customers.create(email="a@example.com"))
    assert len(clients.fake.requests) == 1


async def test_get_read_error_retried_then_connection_error(clients: Clients) -> None:
    clients.fake.always("GET", "/v1/charges/X", httpx.ReadError("reset"))
    c = clients.make(retry=RetryPolicy(initial_backoff=0, max_retries=1))
    with pytest.raises(APIConnectionError) as info:
        await clients.call(lambda: c.charges.retrieve("X"))
    assert type(info.value) is APIConnectionError
    assert len(clients.fake.requests) == 2


async def test_429_honours_retry_after(clients: Clients) -> None:
    clients.fake.add(
        "POST",
        "/v1/customers",
        json_response(429, {"error": {"code": "rate_limit"}}, {"retry-after": "2"}),
        json_response(200, {"id": "C1"}),
    )
    c = clients.make()
    await clients.call(lambda: c.customers.create(email="a@example.com"))
    assert clients.slept == [2.0]


async def test_429_exhausted_raises_rate_limit_error(clients: Clients) -> None:
    clients.fake.always(
        "GET", "/v1/charges/X", json_response(429, {"message": "slow down"}, {"retry-after": "1"})
    )
    c = clients.make(retry=RetryPolicy(initial_backoff=0, max_retries=2))
    with pytest.raises(RateLimitError) as info:
        await clients.call(lambda: c.charges.retrieve("X"))
    assert info.value.retry_after == 1.0
    assert clients.slept == [1.0, 1.0]


async def test_5xx_on_money_move_is_retried_then_outcome_unknown(clients: Clients) -> None:
    clients.fake.always("POST", "/v1/charges", ecom_error(503, "processing_error"))
    c = clients.make(retry=RetryPolicy(initial_backoff=0, max_retries=1))
    with pytest.raises(OutcomeUnknownError) as info:
        await clients.call(lambda: charge(c))
    assert info.value.http_status == 503
    assert isinstance(info.value.__cause__, ServerError)
    assert len(clients.fake.requests) == 2


async def test_5xx_on_read_is_server_error(clients: Clients) -> None:
    clients.fake.add(
        "GET", "/v1/charges/X", ecom_error(500, "processing_error"), json_response(200, CHARGE)
    )
    c = clients.make()
    assert (await clients.call(lambda: c.charges.retrieve("X"))).id == CHARGE["id"]
    clients.fake.always("GET", "/v1/charges/Y", ecom_error(500, "processing_error"))
    c = clients.make(retry=0)
    with pytest.raises(ServerError):
        await clients.call(lambda: c.charges.retrieve("Y"))


async def test_5xx_on_non_money_post_is_not_retried(clients: Clients) -> None:
    clients.fake.always("POST", "/v1/orders", ecom_error(500, "processing_error"))
    c = clients.make()
    with pytest.raises(ServerError):
        await clients.call(lambda: c.orders.create(currency="usd"))
    assert len(clients.fake.requests) == 1


async def test_decline_is_final(clients: Clients) -> None:
    clients.fake.add(
        "POST",
        "/v1/charges",
        ecom_error(402, "card_declined", decline_code="insufficient_funds", charge="TC4DGCJW1K4EW"),
    )
    c = clients.make()
    with pytest.raises(CardDeclinedError) as info:
        await clients.call(lambda: charge(c, idempotency_key="k-1"))
    err = info.value
    assert (err.decline_code, err.charge, err.idempotency_key) == (
        "insufficient_funds",
        "TC4DGCJW1K4EW",
        "k-1",
    )
    assert len(clients.fake.requests) == 1


async def test_malformed_bodies(clients: Clients) -> None:
    clients.fake.add("GET", "/v1/charges/X", httpx.Response(200, content=b"{not json"))
    clients.fake.add("POST", "/v1/charges", httpx.Response(200, content=b"<html>"))
    c = clients.make()
    with pytest.raises(MalformedResponseError):
        await clients.call(lambda: c.charges.retrieve("X"))
    with pytest.raises(OutcomeUnknownError) as info:
        await clients.call(lambda: charge(c))
    assert info.value.http_status == 200


async def test_invalid_request_names_param(clients: Clients) -> None:
    clients.fake.add("POST", "/v1/charges", ecom_error(400, "parameter_missing", param="amount"))
    c = clients.make()
    with pytest.raises(InvalidRequestError) as info:
        await clients.call(lambda: charge(c))
    assert info.value.param == "amount"


async def test_unsupported_protocol_is_not_retried(clients: Clients) -> None:
    clients.fake.always("GET", "/v1/charges/X", httpx.UnsupportedProtocol("nope"))
    c = clients.make()
    with pytest.raises(APIConnectionError):
        await clients.call(lambda: c.charges.retrieve("X"))
    assert len(clients.fake.requests) == 1


async def test_missing_client_ip_is_a_clear_error(clients: Clients) -> None:
    c = clients.make(client_ip=None)
    with pytest.raises(ConfigurationError) as info:
        await clients.call(lambda: charge(c))
    assert info.value.param == "client_ip"
    assert clients.fake.requests == []


async def test_rate_limiter_can_be_disabled(clients: Clients) -> None:
    clients.fake.add("GET", "/v1/charges/X", json_response(200, CHARGE))
    c = clients.make(rate_limit=None)
    assert c._runner.limiter is None
    await clients.call(lambda: c.charges.retrieve("X"))


async def test_already_done_after_a_lost_attempt_is_outcome_unknown(clients: Clients) -> None:
    """Attempt 1 reached Clover (timeout); the retry says the token was used: by attempt 1."""
    clients.fake.add(
        "POST", "/v1/charges", httpx.ReadTimeout("slow"), ecom_error(400, "token_already_used")
    )
    c = clients.make()
    with pytest.raises(OutcomeUnknownError) as info:
        await clients.call(lambda: charge(c))
    assert isinstance(info.value.__cause__, InvalidRequestError)


async def test_already_done_on_a_first_attempt_is_a_plain_error(clients: Clients) -> None:
    clients.fake.add("POST", "/v1/charges", ecom_error(400, "token_already_used"))
    c = clients.make()
    with pytest.raises(InvalidRequestError):
        await clients.call(lambda: charge(c))
