"""The OAuth client against the offline sandbox's OAuth server (in-process and over a
real socket): authorize redirect, high- and low-trust code exchange, and CloverOAuth
refreshing exactly once when the sandbox clock expires the token under concurrency."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cloverpay.api import (
    PKCE,
    AsyncOAuthClient,
    CloverOAuth,
    InMemoryTokenStore,
    OAuthClient,
    OAuthError,
    OAuthToken,
    authorize_url,
    parse_authorize_callback,
)

sandbox_mod = pytest.importorskip("cloverpay.sandbox")

REDIRECT = "https://app.example/oauth/callback"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sandbox() -> Iterator[Any]:
    sb = sandbox_mod.Sandbox(seed=5)
    try:
        yield sb
    finally:
        sb.close()


@pytest.fixture
def server(sandbox: Any) -> Iterator[Any]:
    with sandbox_mod.SandboxServer(sandbox) as srv:
        yield srv


def approve(http: httpx.Client, url: str) -> dict[str, list[str]]:
    """Follow the authorize URL as the merchant's browser would, approving at once."""
    r = http.get(url + "&sandbox_auto_approve=true")
    assert r.status_code == 302, r.text
    location = r.headers["location"]
    assert location.startswith(REDIRECT)
    return parse_qs(urlsplit(location).query)


def test_callback_parsing_on_approve_and_deny(sandbox: Any) -> None:
    creds = sandbox.credentials
    with httpx.Client(transport=sandbox.sync_transport()) as browser:
        url = authorize_url(creds.app_id, REDIRECT, state="csrf-1", base_url=sandbox.base_url)
        r = browser.get(url + "&sandbox_auto_approve=true")
        callback = parse_authorize_callback(r.headers["location"], expected_state="csrf-1")
        assert callback.merchant_id == creds.merchant_id
        assert callback.client_id == creds.app_id
        with pytest.raises(OAuthError, match="state does not match"):
            parse_authorize_callback(r.headers["location"], expected_state="csrf-2")
        page = browser.get(url)  # the approval page; the merchant clicks Deny
        fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
        denied = browser.post(url.split("?")[0], data={**fields, "decision": "deny"})
        assert denied.status_code == 302
        with pytest.raises(OAuthError, match="access_denied"):
            parse_authorize_callback(denied.headers["location"], expected_state="csrf-1")


def test_high_trust_flow_in_process(sandbox: Any) -> None:
    creds = sandbox.credentials
    transport = sandbox.sync_transport()
    with (
        OAuthClient(
            creds.app_id, creds.app_secret, base_url=sandbox.base_url, transport=transport
        ) as oauth,
        httpx.Client(transport=transport) as browser,
    ):
        url = oauth.authorize_url(REDIRECT, state="st-9", merchant_id=creds.merchant_id)
        query = approve(browser, url)
        assert query["state"] == ["st-9"]
        assert query["merchant_id"] == [creds.merchant_id]
        token = oauth.exchange_code(query["code"][0])
        assert token.refresh_token is not None
        with pytest.raises(OAuthError) as info:  # codes are single-use too
            oauth.exchange_code(query["code"][0])
        assert info.value.status_code in (400, 401)
        auth = oauth.auth(creds.merchant_id, InMemoryTokenStore({creds.merchant_id: token}))
        with httpx.Client(transport=transport, base_url=sandbox.base_url, auth=auth) as api:
            assert api.get(f"/v3/merchants/{creds.merchant_id}").status_code == 200
        assert auth.refresh_count == 0


def test_low_trust_pkce_flow_and_a_wrong_verifier(sandbox: Any) -> None:
    creds = sandbox.credentials
    transport = sandbox.sync_transport()
    with (
        OAuthClient(creds.app_id, base_url=sandbox.base_url, transport=transport) as oauth,
        httpx.Client(transport=transport) as browser,
    ):
        pkce = PKCE.generate()
        code = approve(browser, oauth.authorize_url(REDIRECT, pkce=pkce))["code"][0]
        token = oauth.exchange_code(code, code_verifier=pkce.code_verifier)
        assert token.access_token.get_secret_value()
        code = approve(browser, oauth.authorize_url(REDIRECT, pkce=PKCE.generate()))["code"][0]
        with pytest.raises(OAuthError) as info:
            oauth.exchange_code(code, code_verifier=pkce.code_verifier)
        assert pkce.code_verifier not in str(info.value)


def test_no_refresh_token_flag(sandbox: Any) -> None:
    creds = sandbox.credentials
    transport = sandbox.sync_transport()
    with (
        OAuthClient(
            creds.app_id, creds.app_secret, base_url=sandbox.base_url, transport=transport
        ) as oauth,
        httpx.Client(transport=transport) as browser,
    ):
        code = approve(browser, oauth.authorize_url(REDIRECT))["code"][0]
        assert oauth.exchange_code(code, no_refresh_token=True).refresh_token is None


def _expired_pair(server: Any) -> tuple[Any, OAuthToken]:
    """A pair from the sandbox whose access token the sandbox clock has since expired
    (our own clock still thinks it is valid, so the 401 path is what refreshes)."""
    creds = server.credentials
    with (
        httpx.Client(base_url=server.base_url, timeout=10) as control,
        OAuthClient(creds.app_id, creds.app_secret, base_url=server.base_url) as oauth,
    ):
        assert control.post("/_sandbox/oauth/settings", json={"access_token_ttl": 600}).is_success
        code = approve(control, oauth.authorize_url(REDIRECT))["code"][0]
        token = oauth.exchange_code(code)
        assert control.post("/_sandbox/clock/advance", json={"seconds": 601}).is_success
        me = control.get(
            f"/v3/merchants/{creds.merchant_id}",
            headers={"Authorization": f"Bearer {token.access_token.get_secret_value()}"},
        )
        assert me.status_code == 401
    return creds, token


def test_threads_over_a_real_socket_refresh_once(server: Any) -> None:
    creds, token = _expired_pair(server)
    store = InMemoryTokenStore({creds.merchant_id: token})
    auth = CloverOAuth(creds.app_id, creds.merchant_id, store=store, base_url=server.base_url)
    n = 8
    barrier = threading.Barrier(n)
    with httpx.Client(base_url=server.base_url, auth=auth, timeout=10) as api:

        def call(_: int) -> int:
            barrier.wait()
            return api.get(f"/v3/merchants/{creds.merchant_id}").status_code

        with ThreadPoolExecutor(n) as pool:
            assert list(pool.map(call, range(n))) == [200] * n
    assert auth.refresh_count == 1
    # the spent refresh token is dead at the sandbox: it was spent, and only once
    with (
        OAuthClient(creds.app_id, base_url=server.base_url) as oauth,
        pytest.raises(OAuthError),
    ):
        oauth.refresh(token.refresh_token)  # type: ignore[arg-type]
    stored = store.get(creds.merchant_id)
    assert stored is not None
    assert not stored.same_grant(token)


@pytest.mark.anyio
async def test_tasks_over_a_real_socket_refresh_once(server: Any) -> None:
    creds, token = await asyncio.to_thread(_expired_pair, server)
    store = InMemoryTokenStore({creds.merchant_id: token})
    async with AsyncOAuthClient(creds.app_id, base_url=server.base_url) as oauth:
        auth = oauth.auth(creds.merchant_id, store)
        async with httpx.AsyncClient(base_url=server.base_url, auth=auth, timeout=10) as api:
            responses = await asyncio.gather(
                *(api.get(f"/v3/merchants/{creds.merchant_id}") for _ in range(12))
            )
    assert [r.status_code for r in responses] == [200] * 12
    assert auth.refresh_count == 1
