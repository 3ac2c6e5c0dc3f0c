"""``cloverpay up``'s demo merchant reconnected through OAuth v2 in Debian's Chromium.

Staff press Settings → "Reconnect with Clover"; the sandbox's approval page (its
built-in app, which ``up`` configures as the service's Clover app) is approved; the
browser comes back to the service's ``/oauth/callback``, which exchanges the code. The
merchant then holds an expiring access token and a refresh token instead of the
sandbox's fixed one, and the service's Clover calls work with them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from ..up_process import start_up, stop_up

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


def test_staff_reconnect_the_demo_merchant_through_oauth(page: Any, tmp_path: Path) -> None:
    proc, port, printed = start_up(tmp_path)
    try:
        key = re.search(r"cpk_\S+", printed)
        assert key is not None, printed
        base = f"http://127.0.0.1:{port}"
        db = create_engine(f"sqlite:///{tmp_path}/data/cloverpay.db")
        with db.connect() as conn:
            before = conn.execute(
                text("SELECT refresh_token_enc, access_token_expires_at FROM merchants")
            ).one()
        assert before == (None, None)  # the sandbox's fixed token to start with

        failed: list[str] = []
        page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
        page.goto(f"{base}/dashboard/invoices")
        assert page.url.endswith("/dashboard/login")
        page.fill("#email", "owner@demo.cloverpay.test")
        page.fill("#password", "cloverpay-demo")
        page.click("button[type=submit]")
        page.wait_for_url("**/dashboard/invoices")
        page.goto(f"{base}/dashboard/settings")
        assert "does not expire" in page.locator("#clover-connection").inner_text()
        page.click("#reconnect")
        page.wait_for_url(re.compile(r".*/oauth/v2/authorize.*"))
        page.get_by_role("button", name="Approve").click()
        page.wait_for_url(f"{base}/oauth/callback*")
        assert "is connected to Clover" in page.locator("body").inner_text()

        with db.connect() as conn:
            after = conn.execute(
                text("SELECT refresh_token_enc, access_token_expires_at FROM merchants")
            ).one()
            audit = conn.execute(
                text("SELECT count(*) FROM audit_log WHERE action = 'merchant.reconnected'")
            ).scalar_one()
        db.dispose()
        assert after[0] is not None  # a refresh token, stored encrypted
        assert after[1] is not None  # and when the access token expires
        assert audit == 1
        page.goto(f"{base}/dashboard/settings")
        assert "Connected through OAuth" in page.locator("#clover-connection").inner_text()

        # The service's Clover calls now go out with the new access token.
        auth = {"Authorization": f"Bearer {key.group(0)}"}
        with httpx.Client(base_url=base, headers=auth, timeout=30) as api:
            inv = api.post(
                "/v1/invoices", json={"line_items": [{"description": "Leak", "unit_amount": 6100}]}
            ).json()
            opened = api.post(f"/v1/invoices/{inv['id']}/open")
            assert opened.status_code == 200, opened.text
            assert opened.json()["clover_order_id"]
        # Nothing of the service's failed (its pages name their icon); of the sandbox's,
        # only the browser's own /favicon.ico request.
        assert [u for u in failed if u.startswith(base)] == []
        assert all(u.endswith("/favicon.ico") for u in failed), failed
    finally:
        stop_up(proc)
