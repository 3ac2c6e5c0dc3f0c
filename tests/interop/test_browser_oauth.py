"""Installing an app with OAuth v2 in Debian's Chromium (spec §3).

The app's site sends the merchant to the sandbox's authorize page; a person clicks
Approve (or Deny); the browser comes back to the app's callback, whose backend
exchanges the code for tokens with plain httpx and uses the access token.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from ._peers import RunningSandbox
from ._site import LocalSite, Received, local_site

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]


@dataclass
class AppSite:
    """The app's site and the token responses its backend got."""

    site: LocalSite
    tokens: list[dict[str, Any]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.site.url(path)


@pytest.fixture
def app_site(sandbox_server: RunningSandbox) -> Iterator[AppSite]:
    """The app's site; its ``/callback`` exchanges the code and records the tokens."""
    with local_site() as site:
        app = AppSite(site)

        def callback(req: Received) -> tuple[int, Any]:
            code = req.query.get("code", [""])[0]
            if not code:
                error = html.escape(req.query.get("error", ["?"])[0])
                return 200, f"<!DOCTYPE html><h1 id=result>Not connected: {error}</h1>"
            resp = httpx.post(
                f"{sandbox_server.base_url}/oauth/v2/token",
                json={
                    "client_id": sandbox_server.app_id,
                    "client_secret": sandbox_server.app_secret,
                    "code": code,
                },
                timeout=10,
            )
            resp.raise_for_status()
            app.tokens.append(resp.json())
            return 200, "<!DOCTYPE html><h1 id=result>Connected to Clover</h1>"

        site.route("GET", "/callback", callback)
        yield app


def authorize_url(sandbox: RunningSandbox, site: AppSite) -> str:
    query = {
        "client_id": sandbox.app_id,
        "redirect_uri": site.url("/callback"),
        "response_type": "code",
        "state": "install-42",
    }
    return f"{sandbox.base_url}/oauth/v2/authorize?{urlencode(query)}"


def test_merchant_approves_and_the_app_gets_working_tokens(
    page: Any, sandbox_server: RunningSandbox, app_site: AppSite
) -> None:
    page.goto(authorize_url(sandbox_server, app_site))
    assert sandbox_server.app_id in page.locator("body").inner_text()
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(app_site.url("/callback") + "*")
    assert page.locator("#result").inner_text() == "Connected to Clover"

    (back,) = app_site.site.requests_to("/callback")
    assert back.query["merchant_id"] == [sandbox_server.merchant_id]
    assert back.query["client_id"] == [sandbox_server.app_id]
    assert back.query["state"] == ["install-42"]

    (tokens,) = app_site.tokens
    assert tokens["access_token"] != sandbox_server.access_token
    assert tokens["refresh_token"]
    assert tokens["access_token_expiration"] > time.time()  # epoch seconds

    # The new token works as the app's bearer token.
    resp = httpx.get(
        f"{sandbox_server.base_url}/pakms/apikey",
        headers={"authorization": f"Bearer {tokens['access_token']}"},
        timeout=10,
    )
    assert resp.status_code == 200
    assert resp.json()["apiAccessKey"] == sandbox_server.api_access_key


def test_merchant_denies_and_no_code_is_issued(
    page: Any, sandbox_server: RunningSandbox, app_site: AppSite
) -> None:
    page.goto(authorize_url(sandbox_server, app_site))
    page.get_by_role("button", name="Deny").click()
    page.wait_for_url(app_site.url("/callback") + "*")
    assert "access_denied" in page.locator("#result").inner_text()
    (back,) = app_site.site.requests_to("/callback")
    assert "code" not in back.query
    assert app_site.tokens == []
    assert sandbox_server.requests("POST", "/oauth/v2/token") == []
