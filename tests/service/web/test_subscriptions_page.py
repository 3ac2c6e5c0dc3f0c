"""The dashboard's subscriptions page: listed with plan, status and failures; the
nav links it; cancel needs the CSRF token."""

from __future__ import annotations

from fastapi.testclient import TestClient

from cloverpay.sandbox import Sandbox
from cloverpay.service.db import Merchant
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.subscriptions import BillingRun

from ..conftest import DECLINE
from ..test_subscriptions import sub_row, subscribe
from .conftest import login


def test_subscriptions_page_lists_and_cancels(
    app_client: TestClient, staff: str, ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    sub = subscribe(ctx, merchant, sandbox, card=DECLINE)
    BillingRun(ctx).run_once()
    csrf = login(app_client)
    page = app_client.get("/dashboard/subscriptions")
    assert page.status_code == 200
    assert 'href="/dashboard/subscriptions"' in page.text
    assert "Maintenance" in page.text
    assert "past due" in page.text
    assert (
        app_client.get("/dashboard/subscriptions?status=canceled").text.count("Cancel</button>")
        == 0
    )
    refused = app_client.post(f"/dashboard/subscriptions/{sub.id}/cancel", data={})
    assert refused.status_code == 403
    assert sub_row(ctx, sub.id).status == "past_due"
    done = app_client.post(f"/dashboard/subscriptions/{sub.id}/cancel", data={"csrf_token": csrf})
    assert done.status_code == 303
    assert sub_row(ctx, sub.id).status == "canceled"
