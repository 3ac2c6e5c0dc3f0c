"""The dashboard's Outbox with HTML emails: the list shows each email's subject and plain
text (escaped), an email's page shows its text and frames its HTML part from a page
served under ``CSP: sandbox; default-src 'none'``; an email queued before HTML emails
shows as plain text only. Staff only, and only the merchant's own emails."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from cloverpay.sandbox import Sandbox
from cloverpay.service.dashboard._routes_outbox import EMAIL_PREVIEW_CSP
from cloverpay.service.db import Merchant, OutboxEvent
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.payments import pay_invoice
from cloverpay.service.services.receipts import PAYMENT_RECEIPT
from cloverpay.service.services.records import add_outbox

from ..conftest import make_token
from ..receipt_helpers import customer_invoice
from .conftest import login

HOSTILE = '<script>alert("pwned")</script> Dana'
OLD_TEXT = "Hello Dana,\n\nthank you for your payment (queued by the previous release).\n"


def _merchant(ctx: ServiceContext) -> Merchant:
    with ctx.sessions() as s:
        return s.scalars(select(Merchant)).one()


def _emails(ctx: ServiceContext, sandbox: Sandbox) -> tuple[OutboxEvent, OutboxEvent, int]:
    """A receipt with an HTML part (to a customer whose name holds a script), a receipt
    queued before HTML emails (text only), and a CRM event's id."""
    merchant = _merchant(ctx)
    inv = customer_invoice(ctx, merchant, name=HOSTILE)
    pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    with ctx.sessions.begin() as s:
        old_id = add_outbox(
            s,
            merchant_id=merchant.id,
            topic=PAYMENT_RECEIPT,
            channel="email",
            dedupe_key=f"{PAYMENT_RECEIPT}:old",
            payload={"to": "old@example.com", "subject": "Old receipt", "text": OLD_TEXT},
            now=ctx.now(),
        )
    with ctx.sessions() as s:
        new = s.scalars(
            select(OutboxEvent).where(
                OutboxEvent.topic == PAYMENT_RECEIPT, OutboxEvent.id != old_id
            )
        ).one()
        old = s.get_one(OutboxEvent, old_id)
        event_id = s.scalars(select(OutboxEvent.id).where(OutboxEvent.channel == "webhook")).first()
    assert event_id is not None
    return new, old, event_id


def test_outbox_lists_emails_by_their_text_and_links_each(
    app_client: TestClient, ctx: ServiceContext, staff: str, sandbox: Sandbox
) -> None:
    new, old, _ = _emails(ctx, sandbox)
    login(app_client)
    page = app_client.get("/dashboard/outbox")
    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt; Dana" in page.text
    assert "Old receipt" in page.text
    assert "queued by the previous release" in page.text
    assert f'href="/dashboard/outbox/{new.id}">View email (text and HTML)' in page.text
    assert f'href="/dashboard/outbox/{old.id}">View email<' in page.text
    assert "<iframe" not in page.text  # the list shows text only


def test_an_email_page_frames_its_html_part_in_a_sandbox(
    app_client: TestClient, ctx: ServiceContext, staff: str, sandbox: Sandbox
) -> None:
    new, _, _ = _emails(ctx, sandbox)
    html = json.loads(new.payload_json)["html"]
    login(app_client)
    page = app_client.get(f"/dashboard/outbox/{new.id}")
    assert page.status_code == 200
    frames = re.findall(r"<iframe[^>]*>", page.text)
    assert frames == [
        f'<iframe class="mail-preview" sandbox src="/dashboard/outbox/{new.id}/html" '
        'title="HTML part of the email" referrerpolicy="no-referrer">'
    ]
    assert "frame-src 'self'" in page.headers["content-security-policy"]
    assert "script-src 'self';" in page.headers["content-security-policy"]
    assert "<script>alert" not in page.text  # the text part, escaped
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt; Dana" in page.text
    assert "plain text and HTML" in page.text
    framed = app_client.get(f"/dashboard/outbox/{new.id}/html")
    assert framed.status_code == 200
    assert framed.headers["content-type"].startswith("text/html")
    assert framed.text == html
    assert framed.headers["content-security-policy"] == EMAIL_PREVIEW_CSP
    policy = [d.strip() for d in EMAIL_PREVIEW_CSP.split(";")]
    assert "sandbox" in policy  # no script, no forms, an opaque origin
    assert "default-src 'none'" in policy  # nothing fetched
    assert "frame-ancestors 'self'" in policy
    assert framed.headers["x-frame-options"] == "SAMEORIGIN"
    assert framed.headers["x-content-type-options"] == "nosniff"
    assert framed.headers["cache-control"] == "no-store"


def test_an_email_queued_before_html_emails_shows_as_plain_text(
    app_client: TestClient, ctx: ServiceContext, staff: str, sandbox: Sandbox
) -> None:
    _, old, _ = _emails(ctx, sandbox)
    login(app_client)
    page = app_client.get(f"/dashboard/outbox/{old.id}")
    assert page.status_code == 200
    assert "plain text only" in page.text
    assert "queued by the previous release" in page.text
    assert "<iframe" not in page.text
    assert "frame-src 'none'" in page.headers["content-security-policy"]
    assert app_client.get(f"/dashboard/outbox/{old.id}/html").status_code == 404


def test_email_pages_are_staff_only_and_the_merchants_own(
    app_client: TestClient, ctx: ServiceContext, staff: str, sandbox: Sandbox
) -> None:
    new, _, event_id = _emails(ctx, sandbox)
    for path in (f"/dashboard/outbox/{new.id}", f"/dashboard/outbox/{new.id}/html"):
        r = app_client.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"] == "/dashboard/login"
    login(app_client)
    # a CRM event is no email; an id nobody has is nothing
    for missing in (event_id, 999_999):
        assert app_client.get(f"/dashboard/outbox/{missing}").status_code == 404
        assert app_client.get(f"/dashboard/outbox/{missing}/html").status_code == 404
    # another merchant's email is not shown
    other = Merchant(name="Other Shop", clover_merchant_id="OTHERMID0001")
    with ctx.sessions.begin() as s:
        s.add(other)
        s.flush()
        s.execute(update(OutboxEvent).where(OutboxEvent.id == new.id).values(merchant_id=other.id))
    assert app_client.get(f"/dashboard/outbox/{new.id}").status_code == 404
    assert app_client.get(f"/dashboard/outbox/{new.id}/html").status_code == 404
