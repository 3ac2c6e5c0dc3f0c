"""CloverOAuth: bearer header, refresh before expiry and on 401, one refresh however
many requests race, never the same refresh token twice."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from cloverpay.api import (
    CloverOAuth,
    InMemoryTokenStore,
    MissingTokenError,
    OAuthClient,
    OAuthError,
    OAuthToken,
)

MERCHANT = "MERCHANT00001"
API = "https://apisandbox.dev.clover.com"
NOW = 1_800_000_000.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeClover:
    """Clover's refresh endpoint and one protected resource, strict about single use.

    Spending a refresh token that was already spent is recorded in ``reused`` and
    answered 400, like Clover. ``slow`` widens the race window of the refresh call so
    that unsynchronised callers would overlap (correctness does not depend on it).
    """

    def __init__(self, clock: Callable[[], float], *, slow: float = 0.05) -> None:
        self.clock = clock
        self.slow = slow
        self.lock = threading.Lock()
        self.access: dict[str, float] = {}
        self.refresh_live: set[str] = set()
        self.refresh_spent: set[str] = set()
        self.reused: list[str] = []
        self.refresh_calls = 0
        self.resource_calls = 0
        self.revoke_on_refresh = True

    def issue(self, lifetime: float = 3600) -> OAuthToken:
        with self.lock:
            access, refresh = secrets.token_hex(8), secrets.token_hex(8)
            self.access[access] = self.clock() + lifetime
            self.refresh_live.add(refresh)
        return OAuthToken.model_validate(
            {
                "access_token": access,
                "access_token_expiration": int(self.clock() + lifetime),
                "refresh_token": refresh,
                "refresh_token_expiration": int(self.clock() + 86400),
            }
        )

    def _refresh(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        spent = body["refresh_token"]
        with self.lock:
            self.refresh_calls += 1
            if spent in self.refresh_spent:
                self.reused.append(spent)
            if spent not in self.refresh_live:
                return httpx.Response(400, json={"message": f"invalid refresh token {spent}"})
            self.refresh_live.discard(spent)
            self.refresh_spent.add(spent)
            if self.revoke_on_refresh:
                self.access.clear()
        return httpx.Response(200, json=self.issue().to_storage_dict())

    def _resource(self, request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("authorization", "")
        with self.lock:
            self.resource_calls += 1
            expiry = self.access.get(auth.removeprefix("Bearer "))
        if expiry is None or expiry <= self.clock():
            return httpx.Response(401, json={"message": "401 Unauthorized"})
        return httpx.Response(200, json={"ok": True, "echo": request.content.decode()})

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/v2/refresh":
            time.sleep(self.slow)
            return self._refresh(request)
        return self._resource(request)

    async def ahandler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/v2/refresh":
            await asyncio.sleep(self.slow)
            return self._refresh(request)
        await asyncio.sleep(0)
        return self._resource(request)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def make(
    fake: FakeClover, clock: Clock, token: OAuthToken, **kw: object
) -> tuple[CloverOAuth, InMemoryTokenStore]:
    store = InMemoryTokenStore({MERCHANT: token})
    auth = CloverOAuth("APP", MERCHANT, store=store, clock=clock, **kw)  # type: ignore[arg-type]
    return auth, store


URL = f"https://scl-sandbox.dev.clover.com/v1/merchants/{MERCHANT}/thing"


def test_sends_bearer_and_does_not_refresh_a_fresh_token() -> None:
    clock = Clock()
    fake = FakeClover(clock)
    token = fake.issue()
    auth, _ = make(fake, clock, token)
    with httpx.Client(transport=httpx.MockTransport(fake.handler), auth=auth) as http:
        response = http.get(URL)
    assert response.status_code == 200
    assert response.request.headers["authorization"] == (
        f"Bearer {token.access_token.get_secret_value()}"
    )
    assert fake.refresh_calls == 0


def test_refreshes_within_skew_and_saves_with_cas() -> None:
    clock = Clock()
    fake = FakeClover(clock)
    token = fake.issue(lifetime=30)  # inside the default 60 s skew
    auth, store = make(fake, clock, token)
    with httpx.Client(transport=httpx.MockTransport(fake.handler), auth=auth) as http:
        assert http.post(URL, json={"a": 1}).status_code == 200
    assert fake.refresh_calls == 1
    stored = store.get(MERCHANT)
    assert stored is not None
    assert not stored.same_grant(token)
    assert auth.refresh_count == 1
    # the refresh went to the api host, the resource to its own host
    assert fake.refresh_spent == {token.refresh_token.get_secret_value()}  # type: ignore[union-attr]


def test_refresh_on_401_resends_the_body_once() -> None:
    clock = Clock()
    fake = FakeClover(clock)
    token = fake.issue()
    fake.access.clear()  # revoked server-side although not expired by the clock
    auth, _ = make(fake, clock, token)
    with httpx.Client(transport=httpx.MockTransport(fake.handler), auth=auth) as http:
        response = http.post(URL, content=b"payload-bytes")
    assert response.status_code == 200
    assert response.json()["echo"] == "payload-bytes"
    assert fake.refresh_calls == 1
    assert [r.status_code for r in response.history] == [401, 200]


def test_second_401_is_returned_without_looping() -> None:
    clock = Clock()
    fake = FakeClover(clock)
    auth, _ = make(fake, clock, fake.issue())

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/v2/refresh":
            return fake.handler(request)
        return httpx.Response(401, json={"message": "missing permission"})

    with httpx.Client(transport=httpx.MockTransport(handler), auth=auth) as http:
        response = http.get(URL)
    assert response.status_code == 401
    assert fake.refresh_calls == 1


def test_401_without_refresh_token_is_returned_as_is() -> None:
    clock = Clock()
    fake = FakeClover(clock)
    token = OAuthToken.model_validate({"access_token": "no-refresh"})
    auth, _ = make(fake, clock, token)
    with httpx.Client(transport=httpx.MockTransport(fake.handler), auth=auth) as http:
        assert http.get(URL).status_code == 401
    assert fake.refresh_calls == 0


def test_refresh_on_401_can_be_switched_off() -> None:
    clock = Clock()
    fake = FakeClover(clock)
    token = fake.issue()
    fake.access.clear()
    auth, _ = make(fake, clock, token, refresh_on_401=False)
    with httpx.Client(transport=httpx.MockTransport(fake.handler), auth=auth) as http:
        assert http.get(URL).status_code == 401
    assert fake.refresh_calls == 0


def test_missing_token_is_a_clear_error() -> None:
    auth = CloverOAuth("APP", MERCHANT, store=InMemoryTokenStore())
    with (
        httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200)), auth=auth) as h,
        pytest.raises(MissingTokenError, match=MERCHANT),
    ):
        h.get(URL)


def test_failed_refresh_raises_without_leaking_the_token(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    fake = FakeClover(clock)
    token = fake.issue(lifetime=1)
    fake.refresh_live.clear()  # Clover no longer knows the refresh token
    auth, _ = make(fake, clock, token)
    caplog.set_level(logging.DEBUG)
    with (
        httpx.Client(transport=httpx.MockTransport(fake.handler), auth=auth) as http,
        pytest.raises(OAuthError, match="http_status=400") as info,
    ):
        http.get(URL)
    refresh = token.refresh_token.get_secret_value()  # type: ignore[union-attr]
    assert refresh not in str(info.value)
    assert refresh not in caplog.text
    assert token.access_token.get_secret_value() not in caplog.text
    assert refresh not in repr(auth)


def test_tokens_never_logged_on_success(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    fake = FakeClover(clock)
    token = fake.issue(lifetime=1)
    auth, store = make(fake, clock, token)
    caplog.set_level(logging.DEBUG)
    with httpx.Client(transport=httpx.MockTransport(fake.handler), auth=auth) as http:
        http.get(URL)
    new = store.get(MERCHANT)
    assert new is not None
    assert "refreshed OAuth token" in caplog.text
    for secret in (token, new):
        assert secret.access_token.get_secret_value() not in caplog.text
        assert secret.refresh_token.get_secret_value() not in caplog.text  # type: ignore[union-attr]


@pytest.mark.parametrize("reason", ["expired", "revoked"])
def test_threads_share_one_refresh(reason: str) -> None:
    clock = Clock()
    fake = FakeClover(clock)
    token = fake.issue(lifetime=10 if reason == "expired" else 3600)
    if reason == "revoked":
        fake.access.clear()
    auth, _ = make(fake, clock, token)
    n = 16
    barrier = threading.Barrier(n)
    with httpx.Client(transport=httpx.MockTransport(fake.handler), auth=auth) as http:

        def call(_: int) -> int:
            barrier.wait()
            return http.get(URL).status_code

        with ThreadPoolExecutor(n) as pool:
            statuses = list(pool.map(call, range(n)))
    assert statuses == [200] * n
    assert fake.reused == []
    assert fake.refresh_calls == 1


@pytest.mark.parametrize("reason", ["expired", "revoked"])
@pytest.mark.anyio
async def test_tasks_share_one_refresh(reason: str) -> None:
    clock = Clock()
    fake = FakeClover(clock)
    token = fake.issue(lifetime=10 if reason == "expired" else 3600)
    if reason == "revoked":
        fake.access.clear()
    auth, _ = make(fake, clock, token)
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake.ahandler), auth=auth) as http:
        responses = await asyncio.gather(*(http.get(URL) for _ in range(25)))
    assert [r.status_code for r in responses] == [200] * 25
    assert fake.reused == []
    assert fake.refresh_calls == 1


def test_two_auth_instances_over_one_store_refresh_once() -> None:
    """Two CloverOAuth objects (as two workers would have) share the store's lock; the
    one that waited adopts the other's new token instead of spending the old one."""
    clock = Clock()
    fake = FakeClover(clock)
    token = fake.issue(lifetime=10)
    store = InMemoryTokenStore({MERCHANT: token})
    auths = [CloverOAuth("APP", MERCHANT, store=store, clock=clock) for _ in range(2)]
    clients = [httpx.Client(transport=httpx.MockTransport(fake.handler), auth=a) for a in auths]
    barrier = threading.Barrier(8)

    def call(i: int) -> int:
        barrier.wait()
        return clients[i % 2].get(URL).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(call, range(8))) == [200] * 8
    assert fake.refresh_calls == 1
    assert fake.reused == []
    # a later 401 (Clover revoked the old access token) adopts, never re-spends
    for c in clients:
        assert c.get(URL).status_code == 200
        c.close()
    assert fake.refresh_calls == 1


def test_stale_cached_token_adopts_the_stored_one() -> None:
    clock = Clock()
    fake = FakeClover(clock)
    token = fake.issue()
    store = InMemoryTokenStore({MERCHANT: token})
    first = CloverOAuth("APP", MERCHANT, store=store, clock=clock)
    second = CloverOAuth("APP", MERCHANT, store=store, clock=clock)
    transport = httpx.MockTransport(fake.handler)
    with (
        httpx.Client(transport=transport, auth=first) as a,
        httpx.Client(transport=transport, auth=second) as b,
    ):
        assert b.get(URL).status_code == 200  # second caches the original token
        clock.now += 3590  # both now see it as expiring
        assert a.get(URL).status_code == 200  # first refreshes
        assert b.get(URL).status_code == 200  # second adopts from the store
    assert fake.refresh_calls == 1
    assert (first.refresh_count, second.refresh_count) == (1, 0)


def test_adopted_token_that_is_itself_expiring_is_refreshed() -> None:
    clock = Clock()
    fake = FakeClover(clock)
    old = fake.issue(lifetime=10)
    auth, store = make(fake, clock, old)
    with httpx.Client(transport=httpx.MockTransport(fake.handler), auth=auth) as http:
        assert http.get(URL).status_code == 200
        clock.now += 3590  # our cached pair is now expiring, and meanwhile
        # another process stored a pair that is itself near expiry
        other = fake.issue(lifetime=5)
        store.save(MERCHANT, other)
        assert http.get(URL).status_code == 200
    assert fake.refresh_calls == 2
    assert fake.refresh_spent == {
        old.refresh_token.get_secret_value(),  # type: ignore[union-attr]
        other.refresh_token.get_secret_value(),  # type: ignore[union-attr]
    }


def test_adopted_token_that_is_refused_too_is_then_refreshed() -> None:
    """Found by the state machine below: our cached token is stale, the store holds a
    newer one that Clover has since revoked as well. Adopt, get a 401 again, then spend
    the stored refresh token once and succeed, instead of failing the request."""
    clock = Clock()
    fake = FakeClover(clock)
    first = fake.issue()
    auth, store = make(fake, clock, first)
    with httpx.Client(transport=httpx.MockTransport(fake.handler), auth=auth) as http:
        assert http.get(URL).status_code == 200  # caches `first`
        newer = fake.issue()
        store.save(MERCHANT, newer)  # another process refreshed...
        with fake.lock:
            fake.access.clear()  # ...and then every access token was revoked
        response = http.get(URL)
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401, 401, 200]
    assert fake.refresh_spent == {newer.refresh_token.get_secret_value()}  # type: ignore[union-attr]
    assert fake.reused == []


def test_oauth_client_auth_helper_uses_its_api_host() -> None:
    fake = FakeClover(time.time)  # OAuthClient.auth uses the real clock
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return fake.handler(request)

    store = InMemoryTokenStore({MERCHANT: fake.issue(lifetime=1)})
    oauth = OAuthClient("APP", base_url="http://127.0.0.1:8999")
    auth = oauth.auth(MERCHANT, store)
    with httpx.Client(transport=httpx.MockTransport(handler), auth=auth) as http:
        http.get(URL)
    assert seen[0] == "http://127.0.0.1:8999/oauth/v2/refresh"
    oauth.close()


def test_constructor_validation() -> None:
    token = OAuthToken.model_validate({"access_token": "a"})
    with pytest.raises(ValueError, match="not both"):
        CloverOAuth("APP", MERCHANT, store=InMemoryTokenStore(), token=token)
    with pytest.raises(ValueError, match="merchant_id"):
        CloverOAuth("APP", "", token=token)
    with pytest.raises(ValueError, match="client_id"):
        CloverOAuth("", MERCHANT, token=token)
    assert "a" not in repr(CloverOAuth("APP", MERCHANT, token=token)).split("'")[1::2][2:]


class RefreshMachine(RuleBasedStateMachine):
    """Random interleavings of clock jumps, server-side revocations, requests through
    two CloverOAuth instances over one store, and a third party refreshing properly
    (under the store lock, with CAS). The grant must never be lost or double-spent."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.fake = FakeClover(self.clock, slow=0)
        self.store = InMemoryTokenStore({MERCHANT: self.fake.issue()})
        transport = httpx.MockTransport(self.fake.handler)
        self.clients = [
            httpx.Client(
                transport=transport,
                auth=CloverOAuth("APP", MERCHANT, store=self.store, clock=self.clock),
            )
            for _ in range(2)
        ]
        self.oauth = OAuthClient("APP", transport=transport)

    @rule(seconds=st.integers(min_value=0, max_value=4000))
    def advance(self, seconds: int) -> None:
        self.clock.now += seconds

    @rule()
    def revoke_access_tokens(self) -> None:
        with self.fake.lock:
            self.fake.access.clear()

    @rule(which=st.integers(min_value=0, max_value=1))
    def request(self, which: int) -> None:
        assert self.clients[which].get(URL).status_code == 200

    @rule()
    def third_party_refresh(self) -> None:
        with self.store.lock(MERCHANT):
            current = self.store.get(MERCHANT)
            assert current is not None
            assert current.refresh_token is not None
            spent = current.refresh_token.get_secret_value()
            assert self.store.save(MERCHANT, self.oauth.refresh(spent), replaces=spent)

    @invariant()
    def never_double_spent_and_grant_alive(self) -> None:
        assert self.fake.reused == []
        current = self.store.get(MERCHANT)
        assert current is not None
        assert current.refresh_token is not None
        assert current.refresh_token.get_secret_value() in self.fake.refresh_live

    def teardown(self) -> None:
        for client in self.clients:
            client.close()
        self.oauth.close()


RefreshMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
test_refresh_state_machine = RefreshMachine.TestCase
