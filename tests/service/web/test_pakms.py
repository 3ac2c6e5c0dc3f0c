"""The PAKMS key: fetched from Clover once when the pay page first needs it, stored in
``merchants.pakms_key``, then read from the row (no further Clover calls)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from cloverpay.sandbox import Sandbox
from cloverpay.service.db import Merchant
from cloverpay.service.services import ServiceContext
from cloverpay.service.web import WebSettings, pay_link_for

from ..conftest import open_test_invoice


def _page_key(html: str) -> str:
    found = re.search(r'data-pakms-key="([^"]*)"', html)
    assert found
    return found.group(1)


def test_pay_page_fetches_the_pakms_key_once(
    app_client: TestClient,
    ctx: ServiceContext,
    merchant: Merchant,
    web: WebSettings,
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with ctx.sessions.begin() as s:
        s.execute(update(Merchant).values(pakms_key=None))
    merchant.pakms_key = None
    calls: list[str] = []
    from cloverpay.api import _resources

    original = _resources.Pakms.get

    def counting(self: _resources.Pakms) -> object:
        calls.append("pakms")
        return original(self)

    monkeypatch.setattr(_resources.Pakms, "get", counting)
    invoice = open_test_invoice(ctx, merchant)
    url, _ = pay_link_for(ctx, web, invoice.id)
    path = url.removeprefix(web.public_url)
    first = app_client.get(path)
    assert first.status_code == 200
    assert _page_key(first.text) == sandbox.credentials.api_access_key
    second = app_client.get(path)
    assert _page_key(second.text) == sandbox.credentials.api_access_key
    assert calls == ["pakms"]
    with ctx.sessions() as s:
        assert s.get_one(Merchant, merchant.id).pakms_key == sandbox.credentials.api_access_key


def test_pay_page_without_a_key_and_clover_down_says_so(
    app_client: TestClient,
    ctx: ServiceContext,
    merchant: Merchant,
    web: WebSettings,
    sandbox: Sandbox,
) -> None:
    with ctx.sessions.begin() as s:
        s.execute(update(Merchant).values(pakms_key=None))
    invoice = open_test_invoice(ctx, merchant)
    with sandbox.client() as http:
        r = http.post(
            "/_sandbox/faults",
            json={"path": "/pakms/apikey", "kind": "status", "status": 500, "count": 5},
        )
        assert r.status_code < 300, r.text
    url, _ = pay_link_for(ctx, web, invoice.id)
    page = app_client.get(url.removeprefix(web.public_url))
    assert page.status_code == 503
    assert "not available right now" in page.text
