"""A merchant whose OAuth grant is gone (Clover refuses the refresh), against the sandbox
over real sockets, on SQLite and PostgreSQL: a charge whose request never left fails
with ``merchant_reconnect_required`` (409, one alert for staff per dead grant); a charge
that did leave (a 401, then the refused refresh) stays unknown; the reconciler never
turns an attempt it cannot ask Clover about into a failure."""

# ruff: noqa: F811  (the fixture of test_oauth_connect is imported by name)
from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from cloverpay.sandbox._oauth import OAuthStore
from cloverpay.service.api import create_app
from cloverpay.service.db import AuditLog, Merchant, OutboxEvent, PaymentAttempt, utcnow
from cloverpay.service.services import Reconciler, ServiceContext

from .conftest import assert_invariants
from .test_oauth_connect import (  # noqa: F401  (fixture)
    World,
    card_token,
    connect,
    merchant_row,
    world,
)

pytestmark = pytest.mark.timeout(120)

RECONNECT = "merchant_reconnect_required"


def _connected(world: World) -> str:
    """Connect the merchant through the sandbox; its first API key."""
    with httpx.Client(timeout=30) as browser:
        done = connect(world, browser)
    assert done.status_code == 200, done.text
    key = re.search(r'<pre class="mono" id="api-key">([^<]+)</pre>', done.text)
    assert key is not None
    return key.group(1)


def _open_invoice(world: World, api_key: str) -> str:
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=world.service_url, headers=headers, timeout=30) as api:
        inv = api.post(
            "/v1/invoices",
            json={"line_items": [{"description": "Tune-up", "quantity": 1, "unit_amount": 5000}]},
        )
        assert inv.status_code in (200, 201), inv.text
        invoice_id = str(inv.json()["id"])
        opened = api.post(f"/v1/invoices/{invoice_id}/open")
        assert opened.status_code == 200, opened.text
        return invoice_id


def _revoke_grant(world: World) -> None:
    """Clover no longer takes the merchant's refresh token (e.g. the app was removed)."""
    for grant in world.sandbox.state.domain(OAuthStore).refresh.values():
        grant.evicted = True


def _expire_stored_access_token(ctx: ServiceContext) -> None:
    with ctx.sessions.begin() as s:
        s.execute(update(Merchant).values(access_token_expires_at=utcnow() - timedelta(hours=1)))


def _charges(world: World) -> int:
    return len(world.sandbox.state.ecommerce.charges.objects)


def _count(ctx: ServiceContext, model: type[AuditLog] | type[OutboxEvent], what: str) -> int:
    column = AuditLog.action if model is AuditLog else OutboxEvent.topic
    with ctx.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(column == what)) or 0)


@pytest.fixture
def fresh(world: World) -> Iterator[ServiceContext]:
    """Another process of the service: nothing cached, the token read from the database."""
    ctx = ServiceContext.build(world.settings, retry=0, rate_limit=False)
    try:
        yield ctx
    finally:
        ctx.close()


def test_refresh_refused_before_the_charge_is_sent_fails_it_and_alerts_once(
    world: World, fresh: ServiceContext
) -> None:
    api_key = _connected(world)
    invoice_id = _open_invoice(world, api_key)
    token = card_token(world, world.sandbox.credentials.api_access_key)
    before = _charges(world)
    _revoke_grant(world)
    _expire_stored_access_token(world.ctx)  # the token is refreshed before sending

    with TestClient(create_app(context=fresh)) as api:
        api.headers["Authorization"] = f"Bearer {api_key}"
        r = api.post(f"/v1/invoices/{invoice_id}/pay", json={"token": token})
        assert r.status_code == 409, r.text
        error = r.json()["error"]
        assert (error["type"], error["code"], error["field"]) == (
            "conflict_error",
            RECONNECT,
            "merchant",
        )
        assert "connection to Clover" in error["message"]
        assert (error["attempt"]["state"], error["attempt"]["failure_code"]) == (
            "failed",
            RECONNECT,
        )
        # nothing was sent: no charge; the invoice is payable again, and fails the same way
        assert _charges(world) == before
        again = api.post(f"/v1/invoices/{invoice_id}/pay", json={"token": token})
        assert again.status_code == 409, again.text
        assert again.json()["error"]["code"] == RECONNECT

    assert _charges(world) == before
    # one alert for the dead grant, however many attempts failed on it
    assert _count(world.ctx, OutboxEvent, "merchant.reconnect_required") == 1
    assert _count(world.ctx, AuditLog, "merchant.reconnect_required") == 1
    assert _count(world.ctx, OutboxEvent, "payment.failed") == 2
    with world.ctx.sessions() as s:
        alert = s.scalar(
            select(OutboxEvent).where(OutboxEvent.topic == "merchant.reconnect_required")
        )
        assert alert is not None
        assert alert.channel == "alert"
    assert_invariants(world.ctx, world.sandbox)


def test_refresh_refused_after_the_charge_was_sent_stays_unknown(
    world: World, fresh: ServiceContext
) -> None:
    """The charge left and Clover answered 401; the refresh that follows is refused. The
    request did reach Clover: nothing proves it did not act, so the attempt is unknown
    (202), and the reconciler, unable to ask Clover, keeps it unknown."""
    api_key = _connected(world)
    invoice_id = _open_invoice(world, api_key)
    token = card_token(world, world.sandbox.credentials.api_access_key)
    _revoke_grant(world)
    # Clover's clock moves past the access token's life; ours still thinks it valid
    httpx.post(f"{world.sandbox_url}/_sandbox/clock/advance", json={"seconds": 31 * 60})

    with TestClient(create_app(context=fresh)) as api:
        api.headers["Authorization"] = f"Bearer {api_key}"
        r = api.post(f"/v1/invoices/{invoice_id}/pay", json={"token": token})
    assert r.status_code == 202, r.text
    attempt_id = r.json()["id"]
    assert r.json()["state"] == "unknown"
    assert _count(world.ctx, OutboxEvent, "merchant.reconnect_required") == 0

    # The reconciler resends before the refresh (expired here too): never sent, so it
    # looks the charge up, which cannot be sent either: still unknown, never failed.
    _expire_stored_access_token(world.ctx)
    with world.ctx.sessions.begin() as s:
        s.execute(
            update(PaymentAttempt)
            .where(PaymentAttempt.id == attempt_id)
            .values(next_check_at=utcnow() - timedelta(seconds=1))
        )
    reconciler_ctx = ServiceContext.build(world.settings, retry=0, rate_limit=False)
    try:
        report = Reconciler(reconciler_ctx).run_once()
    finally:
        reconciler_ctx.close()
    assert report.checked == [attempt_id]
    assert report.resolved == {}
    with world.ctx.sessions() as s:
        attempt = s.get_one(PaymentAttempt, attempt_id)
    assert (attempt.state, attempt.failure_code) == ("unknown", RECONNECT)
    assert _charges(world) == 0
