"""Fixtures of the web-side tests: the service app (pay pages, dashboard) on an
in-process sandbox, a staff login, and a helper to get a signed-in client."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from cloverpay.sandbox import Sandbox
from cloverpay.service.api import create_app
from cloverpay.service.dashboard import create_staff_user
from cloverpay.service.db import Merchant
from cloverpay.service.services import ServiceContext
from cloverpay.service.web import WebSettings

STAFF_EMAIL = "owner@example.com"
STAFF_PASSWORD = "correct horse battery"


@pytest.fixture
def web() -> WebSettings:
    return WebSettings(
        public_url="http://testserver", clover_sdk_url="https://sdk.clover.test/sdk.js"
    )


@pytest.fixture
def app_client(ctx: ServiceContext, web: WebSettings, sandbox: Sandbox) -> Iterator[TestClient]:
    app = create_app(context=ctx)
    app.state.web = web
    with TestClient(app, follow_redirects=False) as client:
        yield client


@pytest.fixture
def staff(ctx: ServiceContext, merchant: Merchant) -> str:
    create_staff_user(ctx, merchant.id, email=STAFF_EMAIL, password=STAFF_PASSWORD, name="Owner")
    return STAFF_EMAIL


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no csrf token in the page"
    return found.group(1)


def login(client: TestClient, email: str = STAFF_EMAIL, password: str = STAFF_PASSWORD) -> str:
    page = client.get("/dashboard/login")
    r = client.post(
        "/dashboard/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/dashboard/invoices"
    return csrf_of(client.get("/dashboard/invoices").text)
