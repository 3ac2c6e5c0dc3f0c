"""The client authenticated by OAuth (``auth=CloverOAuth``) against the sandbox: the token
expires at the sandbox, Clover answers 401, the auth refreshes once and the call goes
through; the client's own retries and idempotency key are unaffected."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from cloverpay.api import AuthenticationError, CloverOAuth, OAuthClient

from .sandbox_env import Env, env, server, token

__all__ = ["env", "server"]  # fixtures used below

pytestmark = pytest.mark.anyio


def oauth_token(env: Env):  # type: ignore[no-untyped-def]
    creds = env.creds
    r = env._control.get(
        "/oauth/v2/authorize",
        params={
            "client_id": creds.app_id,
            "redirect_uri": "https://app.example/cb",
            "response_type": "code",
            "sandbox_auto_approve": "true",
        },
    )
    assert r.status_code == 302, r.text
    code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
    transport = env.sb.sync_transport() if env.mode == "inproc" else None
    with OAuthClient(
        creds.app_id, creds.app_secret, base_url=env.base_url, transport=transport
    ) as app:
        return app.exchange_code(code)


async def test_expired_token_is_refreshed_transparently(env: Env) -> None:
    tok = oauth_token(env)
    auth = CloverOAuth(env.creds.app_id, env.creds.merchant_id, token=tok, base_url=env.base_url)
    c = env.client(access_token=None, auth=auth)
    assert "Bearer" not in repr(c)
    first = await env.run(c.charges.create(amount=100, currency="usd", source=await token(env, c)))
    assert auth.refresh_count == 0

    now = env._control.get("/_sandbox/clock").json()["now_s"]
    lifetime = int(tok.access_token_expiration) - int(now)
    r = env._control.post("/_sandbox/clock/advance", json={"seconds": lifetime + 5})
    assert r.status_code < 300

    again = await env.run(c.charges.retrieve(first.id))
    assert again.id == first.id
    assert auth.refresh_count == 1
    second = await env.run(c.charges.create(amount=200, currency="usd", source=await token(env, c)))
    assert second.id != first.id


async def test_without_auth_an_expired_token_is_an_authentication_error(env: Env) -> None:
    tok = oauth_token(env)
    c = env.client(access_token=tok.access_token.get_secret_value())
    await env.run(c.charges.list(limit=1).first_page())
    now = env._control.get("/_sandbox/clock").json()["now_s"]
    env._control.post(
        "/_sandbox/clock/advance",
        json={"seconds": int(tok.access_token_expiration) - int(now) + 5},
    )
    with pytest.raises(AuthenticationError):
        await env.run(c.charges.list(limit=1).first_page())
