"""The receipts switch of the dashboard's Settings page: on by default, turned off and
on again by a CSRF-checked form, audited, and obeyed by the next payment."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloverpay.sandbox import Sandbox
from cloverpay.service.db import AuditLog, Merchant
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.payments import pay_invoice

from ..conftest import make_token
from ..receipt_helpers import customer_invoice, receipts
from .conftest import login

CHECKED = 'id="receipts-enabled" checked'


def test_receipts_switch_on_the_settings_page(
    app_client: TestClient, staff: str, ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    csrf = login(app_client)
    assert CHECKED in app_client.get("/dashboard/settings").text  # on by default
    refused = app_client.post("/dashboard/settings/receipts", data={})
    assert refused.status_code == 403  # no CSRF token
    off = app_client.post("/dashboard/settings/receipts", data={"csrf_token": csrf})
    assert off.status_code == 303
    page = app_client.get("/dashboard/settings").text
    assert 'id="receipts-enabled"' in page
    assert CHECKED not in page
    inv = customer_invoice(ctx, merchant)
    pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), amount=500, actor="t")
    assert receipts(ctx) == []

    on = app_client.post("/dashboard/settings/receipts", data={"csrf_token": csrf, "receipts": "1"})
    assert on.status_code == 303
    assert CHECKED in app_client.get("/dashboard/settings").text
    pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    assert len(receipts(ctx)) == 1
    with ctx.sessions() as s:
        audit = s.scalars(
            select(AuditLog).where(AuditLog.action == "settings.receipts").order_by(AuditLog.id)
        ).all()
    assert [(a.from_state, a.to_state) for a in audit] == [("on", "off"), ("off", "on")]
    assert all(a.actor.startswith("staff") for a in audit)
