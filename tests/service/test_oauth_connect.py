"""Merchants connected through OAuth v2, against the sandbox over real sockets: the
connect redirect (state + PKCE), Clover's authorize page, the callback (code exchange,
tokens encrypted in the merchants row, PAKMS key fetched once), payments through the
refreshed token, and refresh rotation shared by several processes and threads."""

from __future__ import annotations

import html
import json
import multiprocessing
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func, select, update

from cloverpay.api import OAuthClient, OAuthError, OAuthToken
from cloverpay.sandbox import Sandbox, SandboxServer
from cloverpay.sandbox._oauth import OAuthStore
from cloverpay.service.api import create_app
from cloverpay.service.core.config import Settings
from cloverpay.service.db import AuditLog, Merchant, OAuthConnectState, utcnow
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.oauth_store import DbTokenStore, refresh_token_digest

from .conftest import create_schema
from .test_storm import ServiceServer


@dataclass
class World:
    settings: Settings
    sandbox: Sandbox
    sandbox_url: str
    service_url: str
    ctx: ServiceContext


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    create_schema(settings.database_url)
    with Sandbox(seed=21) as sandbox, SandboxServer(sandbox) as server:
        creds = server.credentials
        oauth_settings = Settings.model_validate(
            {
                **settings.model_dump(),
                "clover_app_id": creds.app_id,
                "clover_app_secret": creds.app_secret,
                "clover_base_url": server.base_url,
            }
        )
        ctx = ServiceContext.build(oauth_settings, retry=0, rate_limit=False)
        app = create_app(context=ctx)
        try:
            with ServiceServer(app) as service:
                app.state.web.public_url = service.base_url
                yield World(oauth_settings, sandbox, server.base_url, service.base_url, ctx)
        finally:
            ctx.close()


def _hidden_fields(page: str) -> dict[str, str]:
    return {
        html.unescape(m[0]): html.unescape(m[1])
        for m in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    }


def connect(world: World, http: httpx.Client) -> httpx.Response:
    """The merchant's browser: our connect URL, Clover's page, Approve, our callback."""
    start = http.get(f"{world.service_url}/oauth/connect")
    assert start.status_code == 302
    authorize = start.headers["location"]
    query = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(world.sandbox_url + "/oauth/v2/authorize?")
    assert query["client_id"] == [world.settings.clover_app_id]
    assert query["redirect_uri"] == [world.service_url + "/oauth/callback"]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["state"][0]) >= 40
    assert len(query["code_challenge"][0]) == 43
    page = http.get(authorize)
    assert page.status_code == 200
    fields = _hidden_fields(page.text)
    assert fields["state"] == query["state"][0]
    approved = http.post(
        f"{world.sandbox_url}/oauth/v2/authorize", data={**fields, "decision": "approve"}
    )
    assert approved.status_code == 302
    callback = approved.headers["location"]
    assert callback.startswith(world.service_url + "/oauth/callback?")
    return http.get(callback)


def spent_refreshes(sandbox: Sandbox) -> int:
    return sum(g.spent for g in sandbox.state.domain(OAuthStore).refresh.values())


def pay_invoice_via_api(world: World, api_key: str, token: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=world.service_url, headers=headers, timeout=30) as api:
        inv = api.post(
            "/v1/invoices",
            json={"line_items": [{"description": "Tune-up", "quantity": 1, "unit_amount": 5000}]},
        )
        assert inv.status_code in (200, 201), inv.text
        invoice_id = inv.json()["id"]
        opened = api.post(f"/v1/invoices/{invoice_id}/open")
        assert opened.status_code == 200, opened.text
        return api.post(f"/v1/invoices/{invoice_id}/pay", json={"token": token})


def card_token(world: World, pakms_key: str) -> str:
    with httpx.Client(base_url=world.sandbox_url) as http:
        r = http.post(
            "/v1/tokens",
            headers={"apikey": pakms_key},
            json={
                "card": {
                    "number": "4242424242424242",
                    "exp_month": "12",
                    "exp_year": "2031",
                    "cvv": "123",
                }
            },
        )
        assert r.status_code == 200, r.text
        return str(r.json()["id"])


def merchant_row(ctx: ServiceContext) -> Merchant:
    with ctx.sessions() as s:
        row = s.scalar(select(Merchant))
        assert row is not None
        return row


def test_connect_pay_and_refresh_through_the_sandbox(world: World) -> None:
    with httpx.Client(timeout=30) as browser:
        done = connect(world, browser)
        assert done.status_code == 200, done.text
        api_key = re.search(r'<pre class="mono" id="api-key">([^<]+)</pre>', done.text)
        assert api_key is not None
        assert "cloverpay_oauth_state" not in browser.cookies  # cleared after use
        # The same callback again: the state is single-use.
        again = browser.get(str(done.request.url))
        assert again.status_code == 400

    creds = world.sandbox.credentials
    merchant = merchant_row(world.ctx)
    assert merchant.clover_merchant_id == creds.merchant_id
    assert merchant.name == world.sandbox.state.merchant.name
    assert merchant.pakms_key == creds.api_access_key  # fetched once and stored
    stored = DbTokenStore(world.ctx.sessions, world.ctx.cipher).get(creds.merchant_id)
    assert stored is not None
    assert stored.refresh_token is not None
    first_refresh = stored.refresh_token.get_secret_value()
    # Encrypted at rest: no token in clear in the row.
    assert stored.access_token.get_secret_value() not in (merchant.access_token_enc or "")
    assert first_refresh not in (merchant.refresh_token_enc or "")
    assert merchant.refresh_token_sha256 == refresh_token_digest(first_refresh)
    assert world.ctx.gateway.uses_oauth(merchant)

    paid = pay_invoice_via_api(world, api_key.group(1), card_token(world, creds.api_access_key))
    assert paid.status_code == 200, paid.text
    assert spent_refreshes(world.sandbox) == 0

    # Clover's clock moves past the access token's life: the next call gets a 401,
    # refreshes once, and goes through.
    httpx.post(f"{world.sandbox_url}/_sandbox/clock/advance", json={"seconds": 31 * 60})
    paid = pay_invoice_via_api(world, api_key.group(1), card_token(world, creds.api_access_key))
    assert paid.status_code == 200, paid.text
    assert spent_refreshes(world.sandbox) == 1
    after = merchant_row(world.ctx)
    assert after.refresh_token_sha256 != refresh_token_digest(first_refresh)
    with world.ctx.sessions() as s:
        actions = list(s.scalars(select(AuditLog.action).order_by(AuditLog.id)))
    assert "merchant.connected" in actions
    assert actions.count("merchant.token_refreshed") == 1
    # The spent refresh token is dead at Clover; the stored one is alive.
    oauth = OAuthClient(creds.app_id, creds.app_secret, base_url=world.sandbox_url)
    with oauth, pytest.raises(OAuthError):
        oauth.refresh(first_refresh)


def test_callback_refuses_another_browser_and_denials(world: World) -> None:
    with httpx.Client(timeout=30) as attacker, httpx.Client(timeout=30) as victim:
        start = attacker.get(f"{world.service_url}/oauth/connect")
        page = attacker.get(start.headers["location"])
        fields = _hidden_fields(page.text)
        approved = attacker.post(
            f"{world.sandbox_url}/oauth/v2/authorize", data={**fields, "decision": "approve"}
        )
        # The victim's browser is sent to the attacker's callback: no cookie, refused.
        forced = victim.get(approved.headers["location"])
        assert forced.status_code == 400
        assert "another browser" in forced.text
        denied = attacker.post(
            f"{world.sandbox_url}/oauth/v2/authorize", data={**fields, "decision": "deny"}
        )
        assert attacker.get(denied.headers["location"]).status_code == 400
    with world.ctx.sessions() as s:
        assert s.scalar(select(Merchant)) is None
    # A callback without state (an App Market install) starts our own flow instead.
    with httpx.Client(timeout=30) as browser:
        r = browser.get(f"{world.service_url}/oauth/callback?merchant_id=ABC123&code=x")
        assert r.status_code == 302
        assert r.headers["location"] == "/oauth/connect?merchant_id=ABC123"


def test_expired_state_is_refused(world: World) -> None:
    with httpx.Client(timeout=30) as browser:
        start = browser.get(f"{world.service_url}/oauth/connect")
        with world.ctx.sessions.begin() as s:
            s.execute(update(OAuthConnectState).values(expires_at=utcnow() - timedelta(seconds=1)))
        page = browser.get(start.headers["location"])
        approved = browser.post(
            f"{world.sandbox_url}/oauth/v2/authorize",
            data={**_hidden_fields(page.text), "decision": "approve"},
        )
        r = browser.get(approved.headers["location"])
        assert r.status_code == 400
        assert "expired" in r.text


# --- refresh rotation shared across processes and threads ----------------------------


def _expire_stored_access_token(ctx: ServiceContext) -> None:
    with ctx.sessions.begin() as s:
        s.execute(update(Merchant).values(access_token_expires_at=utcnow() - timedelta(hours=1)))


def _call_clover(settings_json: str, barrier: threading.Barrier | None = None) -> str:
    """One service process: its own engine, gateway and CloverOAuth."""
    settings = Settings.model_validate_json(settings_json)
    ctx = ServiceContext.build(settings, retry=0, rate_limit=False)
    try:
        with ctx.sessions() as s:
            merchant = s.scalar(select(Merchant))
            assert merchant is not None
        if barrier is not None:
            barrier.wait(30)
        with ctx.gateway.client(merchant) as client:
            return client.pakms.get().api_access_key
    finally:
        ctx.close()


def _process_main(settings_json: str, barrier: threading.Barrier, out: Any) -> None:
    try:
        out.put(("ok", _call_clover(settings_json, barrier)))
    except BaseException as exc:  # reported to the test
        out.put(("error", f"{type(exc).__name__}: {exc}"))


def _settings_json(world: World) -> str:
    data = world.settings.model_dump(mode="json")
    for name in ("secret_key", "clover_app_secret"):
        data[name] = getattr(world.settings, name).get_secret_value()
    return json.dumps(data)


def _assert_one_valid_token(world: World) -> None:
    assert spent_refreshes(world.sandbox) == 1
    creds = world.sandbox.credentials
    stored = DbTokenStore(world.ctx.sessions, world.ctx.cipher).get(creds.merchant_id)
    assert stored is not None
    assert stored.refresh_token is not None
    # The stored refresh token is the live one: Clover takes it.
    with OAuthClient(creds.app_id, creds.app_secret, base_url=world.sandbox_url) as oauth:
        assert isinstance(oauth.refresh(stored.refresh_token), OAuthToken)


def test_two_processes_refresh_at_once_one_token_survives(world: World) -> None:
    with httpx.Client(timeout=30) as browser:
        assert connect(world, browser).status_code == 200
    _expire_stored_access_token(world.ctx)
    mp = multiprocessing.get_context("spawn")
    barrier = mp.Barrier(2)
    out = mp.Queue()
    procs = [
        mp.Process(target=_process_main, args=(_settings_json(world), barrier, out))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=90) for _ in procs]
    for p in procs:
        p.join(30)
    assert results == [("ok", world.sandbox.credentials.api_access_key)] * 2
    _assert_one_valid_token(world)


@pytest.mark.parametrize("trigger", ["expiring", "401"])
def test_threads_with_their_own_contexts_refresh_once(world: World, trigger: str) -> None:
    with httpx.Client(timeout=30) as browser:
        assert connect(world, browser).status_code == 200
    if trigger == "expiring":  # each sees an expiring token before sending
        _expire_stored_access_token(world.ctx)
    else:  # Clover's clock moved on: each gets a 401 with the token it holds
        httpx.post(f"{world.sandbox_url}/_sandbox/clock/advance", json={"seconds": 31 * 60})
    n = 6
    barrier = threading.Barrier(n)
    results: list[str] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(_call_clover(_settings_json(world), barrier))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(results) == n
    _assert_one_valid_token(world)


def test_cas_save_refuses_a_spent_refresh_token(ctx: ServiceContext, merchant: Merchant) -> None:
    store = DbTokenStore(ctx.sessions, ctx.cipher)
    mid = merchant.clover_merchant_id
    first = OAuthToken(access_token="a1", refresh_token="r1", access_token_expiration=2_000_000_000)
    assert store.save(mid, first)  # unconditional
    second = OAuthToken(access_token="a2", refresh_token="r2")
    assert store.save(mid, second, replaces="r1")
    # Another refresher spent r1 too (no lock): its save loses, the winner's pair stays.
    assert not store.save(mid, OAuthToken(access_token="a3", refresh_token="r3"), replaces="r1")
    got = store.get(mid)
    assert got is not None
    assert got.same_grant(second)
    assert not store.save("NOSUCHMERCHANT", first)
    assert store.get("NOSUCHMERCHANT") is None
    assert got.access_token_expiration is None
    third = store.get(mid)
    assert third is not None
    assert store.save(mid, first, replaces="r2")
    again = store.get(mid)
    assert again is not None
    assert again.access_token_expiration == 2_000_000_000


def test_store_lock_excludes_other_store_instances(ctx: ServiceContext, merchant: Merchant) -> None:
    """Two stores (as two processes would have) never hold one merchant's lock together."""
    stores = [DbTokenStore(ctx.sessions, ctx.cipher) for _ in range(2)]
    mid = merchant.clover_merchant_id
    inside = 0
    worst = 0
    guard = threading.Lock()

    def work(store: DbTokenStore) -> None:
        nonlocal inside, worst
        for _ in range(5):
            with store.lock(mid):
                with guard:
                    inside += 1
                    worst = max(worst, inside)
                threading.Event().wait(0.01)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=work, args=(stores[i % 2],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert worst == 1


def _staff_login(world: World, http: httpx.Client) -> str:
    from cloverpay.service.dashboard import create_staff_user

    merchant = merchant_row(world.ctx)
    create_staff_user(world.ctx, merchant.id, email="o@example.com", password="pw-long-enough-1")
    page = http.get(f"{world.service_url}/dashboard/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    r = http.post(
        f"{world.service_url}/dashboard/login",
        data={"email": "o@example.com", "password": "pw-long-enough-1", "csrf_token": csrf[1]},
    )
    assert r.status_code == 303, r.text
    settings_page = http.get(f"{world.service_url}/dashboard/settings")
    assert "Connected through OAuth" in settings_page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', settings_page.text)
    assert csrf is not None
    return csrf[1]


def test_staff_reconnect_keeps_the_merchant_and_refuses_another_one(world: World) -> None:
    other = world.sandbox.add_merchant("Someone Else")
    with httpx.Client(timeout=30) as browser:
        assert connect(world, browser).status_code == 200
        before = merchant_row(world.ctx)
        csrf = _staff_login(world, browser)
        for chosen, expected in ((other.merchant_id, 400), (before.clover_merchant_id, 200)):
            start = browser.post(
                f"{world.service_url}/dashboard/settings/clover/connect", data={"csrf_token": csrf}
            )
            assert start.status_code == 303
            query = parse_qs(urlsplit(start.headers["location"]).query)
            assert query["merchant_id"] == [before.clover_merchant_id]
            page = browser.get(start.headers["location"])
            fields = {**_hidden_fields(page.text), "merchant_id": chosen}
            approved = browser.post(
                f"{world.sandbox_url}/oauth/v2/authorize", data={**fields, "decision": "approve"}
            )
            done = browser.get(approved.headers["location"])
            assert done.status_code == expected, done.text
        assert "tokens were replaced" in done.text
        assert 'id="api-key"' not in done.text  # no new key on a reconnect
    after = merchant_row(world.ctx)
    assert after.id == before.id
    assert after.refresh_token_sha256 != before.refresh_token_sha256
    with world.ctx.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Merchant)) == 1
        actions = list(s.scalars(select(AuditLog.action)))
    assert actions.count("merchant.reconnected") == 1


def test_connect_without_an_app_configured_says_so(ctx: ServiceContext) -> None:
    from fastapi.testclient import TestClient

    with TestClient(create_app(context=ctx), follow_redirects=False) as client:
        r = client.get("/oauth/connect")
        assert r.status_code == 503
        assert "CLOVERPAY_CLOVER_APP_ID" in r.text
        assert "cloverpay_oauth_state" not in r.cookies
        assert client.get("/oauth/connect?merchant_id=../x").status_code == 422


def test_clover_out_of_reach_at_the_exchange_says_so_and_stores_nothing(world: World) -> None:
    """The code exchange cannot reach Clover: the person gets a page that says so (502,
    not an internal error), no merchant is stored, and the spent state cannot be reused."""
    with httpx.Client(timeout=30) as browser:
        start = browser.get(f"{world.service_url}/oauth/connect")
        page = browser.get(start.headers["location"])
        approved = browser.post(
            f"{world.sandbox_url}/oauth/v2/authorize",
            data={**_hidden_fields(page.text), "decision": "approve"},
        )
        world.ctx.settings.clover_base_url = "http://127.0.0.1:9"  # nothing listens there
        done = browser.get(approved.headers["location"])
        assert done.status_code == 502, done.text
        assert "could not reach Clover" in done.text
        world.ctx.settings.clover_base_url = world.sandbox_url
        again = browser.get(approved.headers["location"])
        assert again.status_code == 400  # the state is spent (and its cookie cleared)
    with world.ctx.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Merchant)) == 0
