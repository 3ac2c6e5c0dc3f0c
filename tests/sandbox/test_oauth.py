"""OAuth v2: authorize page, code exchange (high- and low-trust), single-use refresh,
refresh-token cap, expiry on the sandbox clock."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cloverpay.sandbox import OAuthError, OAuthStore, Sandbox, SandboxServer, pkce_challenge

REDIRECT = "https://app.example/callback?x=1"


def _code(http: httpx.Client, sandbox: Sandbox, **extra: str) -> str:
    creds = sandbox.credentials
    params = {
        "client_id": creds.app_id,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "state": "st-1",
        "sandbox_auto_approve": "true",
        **extra,
    }
    r = http.get("/oauth/v2/authorize", params=params)
    assert r.status_code == 302, r.text
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert query["merchant_id"] == [creds.merchant_id]
    assert query["client_id"] == [creds.app_id]
    assert query["state"] == ["st-1"]
    assert query["x"] == ["1"]
    return query["code"][0]


def _exchange(http: httpx.Client, sandbox: Sandbox, code: str, **params: str) -> httpx.Response:
    creds = sandbox.credentials
    return http.post(
        "/oauth/v2/token",
        params=params,
        json={"client_id": creds.app_id, "client_secret": creds.app_secret, "code": code},
    )


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_authorize_page_approve_and_deny(http: httpx.Client, sandbox: Sandbox) -> None:
    creds = sandbox.credentials
    params = {"client_id": creds.app_id, "redirect_uri": REDIRECT, "state": "abc"}
    page = http.get("/oauth/v2/authorize", params=params)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert creds.app_id in page.text
    assert 'id="approve"' in page.text
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    approve = http.post("/oauth/v2/authorize", data={**fields, "decision": "approve"})
    assert approve.status_code == 302
    query = parse_qs(urlsplit(approve.headers["location"]).query)
    assert query["code"]
    assert query["state"] == ["abc"]
    deny = http.post("/oauth/v2/authorize", data={**fields, "decision": "deny"})
    assert parse_qs(urlsplit(deny.headers["location"]).query)["error"] == ["access_denied"]


def test_authorize_refuses_unknown_app_and_bad_redirect(
    http: httpx.Client, sandbox: Sandbox
) -> None:
    r = http.get("/oauth/v2/authorize", params={"client_id": "NOPE", "redirect_uri": REDIRECT})
    assert r.status_code == 400
    assert "client_id" in r.json()["message"]
    reg = http.post(
        "/_sandbox/oauth/apps",
        json={"client_id": "APP2", "redirect_uris": ["https://good.example/"]},
    )
    assert reg.status_code == 200
    r = http.get(
        "/oauth/v2/authorize",
        params={"client_id": "APP2", "redirect_uri": "https://evil.example/cb"},
    )
    assert r.status_code == 400
    assert "redirect_uri" in r.json()["message"]


def test_high_trust_exchange_and_token_use(http: httpx.Client, sandbox: Sandbox) -> None:
    code = _code(http, sandbox)
    r = _exchange(http, sandbox, code)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {
        "access_token",
        "access_token_expiration",
        "refresh_token",
        "refresh_token_expiration",
    }
    now_s = sandbox.state.clock.now_s()
    assert now_s < body["access_token_expiration"] < now_s + 10 * 24 * 3600  # seconds, not ms
    assert body["refresh_token_expiration"] > body["access_token_expiration"]
    mid = sandbox.credentials.merchant_id
    with httpx.Client(transport=sandbox.sync_transport(), base_url=sandbox.base_url) as anon:
        ok = anon.get(f"/v3/merchants/{mid}", headers=_bearer(body["access_token"]))
        assert ok.status_code == 200
        assert ok.json()["id"] == mid
        assert anon.get("/pakms/apikey", headers=_bearer(body["access_token"])).status_code == 200
    again = _exchange(http, sandbox, code)
    assert again.status_code == 401
    assert "already been used" in again.json()["message"]


def test_wrong_secret_and_missing_proof(http: httpx.Client, sandbox: Sandbox) -> None:
    creds = sandbox.credentials
    code = _code(http, sandbox)
    bad = http.post(
        "/oauth/v2/token",
        json={"client_id": creds.app_id, "client_secret": "wrong", "code": code},
    )
    assert bad.status_code == 401
    assert "client_secret" in bad.json()["message"]
    none = http.post("/oauth/v2/token", json={"client_id": creds.app_id, "code": code})
    assert none.status_code == 400
    assert "code_verifier" in none.json()["message"]
    assert "wrong" not in bad.text


def test_low_trust_pkce(http: httpx.Client, sandbox: Sandbox) -> None:
    creds = sandbox.credentials
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    assert pkce_challenge(verifier) == challenge.decode()
    code = _code(http, sandbox, code_challenge=challenge.decode(), code_challenge_method="S256")
    wrong = http.post(
        "/oauth/v2/token",
        json={"client_id": creds.app_id, "code": code, "code_verifier": "x" * 50},
    )
    assert wrong.status_code == 401
    right = http.post(
        "/oauth/v2/token",
        json={"client_id": creds.app_id, "code": code, "code_verifier": verifier},
    )
    assert right.status_code == 200, right.text
    assert "refresh_token" in right.json()


def test_no_refresh_token_flag(http: httpx.Client, sandbox: Sandbox) -> None:
    r = _exchange(http, sandbox, _code(http, sandbox), no_refresh_token="true")
    assert r.status_code == 200
    assert set(r.json()) == {"access_token", "access_token_expiration"}


def test_refresh_is_single_use(http: httpx.Client, sandbox: Sandbox) -> None:
    creds = sandbox.credentials
    first = _exchange(http, sandbox, _code(http, sandbox)).json()
    r = http.post(
        "/oauth/v2/refresh",
        json={"client_id": creds.app_id, "refresh_token": first["refresh_token"]},
    )
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    spent = http.post(
        "/oauth/v2/refresh",
        json={"client_id": creds.app_id, "refresh_token": first["refresh_token"]},
    )
    assert spent.status_code == 401
    assert "single-use" in spent.json()["message"]
    assert first["refresh_token"] not in spent.text
    third = http.post(
        "/oauth/v2/refresh",
        json={"client_id": creds.app_id, "refresh_token": second["refresh_token"]},
    )
    assert third.status_code == 200
    missing = http.post("/oauth/v2/refresh", json={"client_id": creds.app_id})
    assert missing.status_code == 400
    assert "refresh_token" in missing.json()["message"]


def test_refresh_token_cap_evicts_oldest(http: httpx.Client, sandbox: Sandbox) -> None:
    creds = sandbox.credentials
    r = http.post("/_sandbox/oauth/settings", json={"max_active_refresh_tokens": 2})
    assert r.json()["max_active_refresh_tokens"] == 2
    pairs = [_exchange(http, sandbox, _code(http, sandbox)).json() for _ in range(3)]
    oldest = http.post(
        "/oauth/v2/refresh",
        json={"client_id": creds.app_id, "refresh_token": pairs[0]["refresh_token"]},
    )
    assert oldest.status_code == 401
    assert "too many" in oldest.json()["message"]
    newest = http.post(
        "/oauth/v2/refresh",
        json={"client_id": creds.app_id, "refresh_token": pairs[2]["refresh_token"]},
    )
    assert newest.status_code == 200


def test_access_token_expires_on_sandbox_clock(http: httpx.Client, sandbox: Sandbox) -> None:
    http.post("/_sandbox/oauth/settings", json={"access_token_ttl": 600})
    body = _exchange(http, sandbox, _code(http, sandbox)).json()
    mid = sandbox.credentials.merchant_id
    with httpx.Client(transport=sandbox.sync_transport(), base_url=sandbox.base_url) as anon:
        assert anon.get(f"/v3/merchants/{mid}", headers=_bearer(body["access_token"])).is_success
        http.post("/_sandbox/clock/advance", json={"seconds": 601})
        v3 = anon.get(f"/v3/merchants/{mid}", headers=_bearer(body["access_token"]))
        assert v3.status_code == 401
        assert v3.json() == {"message": "401 Unauthorized"}
        ecom = anon.get("/pakms/apikey", headers=_bearer(body["access_token"]))
        assert ecom.status_code == 401
    # the refresh token still works and yields a live access token
    r = http.post(
        "/oauth/v2/refresh",
        json={"client_id": sandbox.credentials.app_id, "refresh_token": body["refresh_token"]},
    )
    assert r.status_code == 200
    assert r.json()["access_token_expiration"] > sandbox.state.clock.now_s()


def test_settings_validation(http: httpx.Client) -> None:
    r = http.post("/_sandbox/oauth/settings", json={"access_token_ttl": -1})
    assert r.status_code == 400
    assert "access_token_ttl" in r.json()["error"]["message"]
    r = http.post("/_sandbox/oauth/settings", json={"bogus": 1})
    assert r.status_code == 400


def test_store_repr_hides_secrets() -> None:
    store = OAuthStore()
    app = store.register_app("APP", "topsecret")
    assert "topsecret" not in repr(app)
    code = store.issue_code(client_id="APP", merchant_id="M", redirect_uri="https://x/", now=0)
    pair, _ = store.exchange_code(client_id="APP", code=code, client_secret="topsecret", now=1)
    assert pair.access_token not in repr(pair)
    assert pair.refresh_token is not None
    assert pair.refresh_token not in repr(store)
    with pytest.raises(OAuthError) as err:
        store.exchange_code(client_id="APP", code=code, client_secret="topsecret", now=1)
    assert err.value.status == 401


def test_code_expires() -> None:
    store = OAuthStore()
    store.register_app("APP", "s")
    code = store.issue_code(client_id="APP", merchant_id="M", redirect_uri="https://x/", now=0)
    with pytest.raises(OAuthError, match="expired"):
        store.exchange_code(
            client_id="APP", code=code, client_secret="s", now=store.settings.code_ttl
        )


def test_full_flow_over_a_real_socket(sandbox: Sandbox) -> None:
    with SandboxServer(sandbox) as server:
        creds = server.credentials
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            r = client.get(
                "/oauth/v2/authorize",
                params={
                    "client_id": creds.app_id,
                    "redirect_uri": REDIRECT,
                    "sandbox_auto_approve": "1",
                },
            )
            assert r.status_code == 302
            code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
            tok = client.post(
                "/oauth/v2/token",
                json={"client_id": creds.app_id, "client_secret": creds.app_secret, "code": code},
            )
            assert tok.status_code == 200
            me = client.get(
                f"/v3/merchants/{creds.merchant_id}", headers=_bearer(tok.json()["access_token"])
            )
            assert me.status_code == 200


def test_legacy_token_and_migration(http: httpx.Client, sandbox: Sandbox) -> None:
    creds = sandbox.credentials
    r = http.get(
        "/oauth/authorize",
        params={"client_id": creds.app_id, "redirect_uri": REDIRECT, "sandbox_auto_approve": "1"},
    )
    code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
    legacy = http.get(
        "/oauth/token",
        params={"client_id": creds.app_id, "client_secret": creds.app_secret, "code": code},
    )
    assert legacy.status_code == 200
    token = legacy.json()["access_token"]
    assert set(legacy.json()) == {"access_token"}
    mid = creds.merchant_id
    with httpx.Client(transport=sandbox.sync_transport(), base_url=sandbox.base_url) as anon:
        http.post("/_sandbox/clock/advance", json={"seconds": 400 * 24 * 3600})
        assert anon.get(f"/v3/merchants/{mid}", headers=_bearer(token)).status_code == 200
        migrated = http.post(
            "/oauth/token/migrate_v2",
            json={
                "client_id": creds.app_id,
                "client_secret": creds.app_secret,
                "access_token": token,
            },
        )
        assert migrated.status_code == 200, migrated.text
        pair = migrated.json()
        assert "refresh_token" in pair
        assert anon.get(f"/v3/merchants/{mid}", headers=_bearer(token)).status_code == 401
        fresh = anon.get(f"/v3/merchants/{mid}", headers=_bearer(pair["access_token"]))
        assert fresh.status_code == 200
    again = http.post(
        "/oauth/token/migrate_v2",
        json={"client_id": creds.app_id, "client_secret": creds.app_secret, "access_token": token},
    )
    assert again.status_code == 401


def test_authorize_page_lets_the_person_pick_a_merchant(
    http: httpx.Client, sandbox: Sandbox
) -> None:
    other = sandbox.state.add_merchant("Second Shop")
    creds = sandbox.credentials
    page = http.get(
        "/oauth/v2/authorize", params={"client_id": creds.app_id, "redirect_uri": REDIRECT}
    )
    assert '<select id="merchant_id"' in page.text
    assert other.merchant_id in page.text
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    assert "merchant_id" not in fields
    r = http.post(
        "/oauth/v2/authorize",
        data={**fields, "merchant_id": other.merchant_id, "decision": "approve"},
    )
    assert parse_qs(urlsplit(r.headers["location"]).query)["merchant_id"] == [other.merchant_id]
    pinned = http.get(
        "/oauth/v2/authorize",
        params={
            "client_id": creds.app_id,
            "redirect_uri": REDIRECT,
            "merchant_id": other.merchant_id,
        },
    )
    assert "<select" not in pinned.text
    assert "Second Shop" in pinned.text
