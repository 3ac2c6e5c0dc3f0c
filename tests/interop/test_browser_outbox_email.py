"""An email's page on the dashboard's Outbox, in Debian's Chromium: the HTML part shows in
its sandboxed frame with its inline styles, and a script in it does not run, even one
that escaping would never let through (a row written by hand here, as a bug or a
tampered database could)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")

from cloverpay.service.db import Merchant
from cloverpay.service.services.emails import email_payload, render_email
from cloverpay.service.services.records import add_outbox

from .test_browser_service import EMAIL, PASSWORD, RunningService, service

__all__ = ["service"]  # the fixture, imported by name

FORGED_HTML = (
    '<!DOCTYPE html><html><body style="margin:0">'
    '<p id="probe" style="font-size:31px;color:#123456">probe</p>'
    "<script>document.body.setAttribute('data-ran', '1');"
    "try { parent.document.title = 'pwned'; } catch (e) {}</script>"
    "<img src=\"x\" onerror=\"document.body.setAttribute('data-ran', '2')\">"
    "</body></html>"
)


def _queue(service: RunningService) -> tuple[int, int]:
    ctx = service.ctx
    content = render_email(
        "payment_receipt",
        {
            "customer_name": "<script>alert(1)</script> Dana",
            "merchant_name": "Bright Plumbing Co.",
            "invoice_number": "INV-000042",
            "date": "May 01, 2025",
            "amount": 1000,
            "tip": 150,
            "currency": "usd",
            "paid_with": "VISA ending in 4242",
            "due": 0,
            "payment_id": "pay_1",
        },
    )
    with ctx.sessions.begin() as s:
        merchant_id = s.query(Merchant.id).scalar()
        ids = [
            add_outbox(
                s,
                merchant_id=merchant_id,
                topic="email.payment_receipt",
                channel="email",
                dedupe_key=f"email.payment_receipt:{key}",
                payload=payload,
                now=ctx.now(),
            )
            for key, payload in (
                ("rendered", email_payload(to="d@example.com", subject="Receipt", content=content)),
                (
                    "forged",
                    {"to": "d@example.com", "subject": "Forged", "text": "t", "html": FORGED_HTML},
                ),
            )
        ]
    return ids[0], ids[1]


def test_the_html_part_shows_styled_in_a_frame_where_no_script_runs(
    browser: Any, service: RunningService, shots_dir: Path
) -> None:
    rendered, forged = _queue(service)
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(10_000)
    pg = context.new_page()
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.goto(service.base_url + "/dashboard/login")
    pg.fill("#email", EMAIL)
    pg.fill("#password", PASSWORD)
    pg.click("button[type=submit]")
    pg.wait_for_url("**/dashboard/invoices")

    pg.goto(f"{service.base_url}/dashboard/outbox/{rendered}")
    frame = pg.frame_locator("iframe.mail-preview")
    heading = frame.locator("text=Receipt for invoice INV-000042").first
    heading.wait_for()
    assert heading.evaluate("e => getComputedStyle(e).fontSize") == "22px"  # inline style
    assert "<script>alert(1)</script> Dana" in frame.locator("body").inner_text()  # as text
    pg.screenshot(path=str(shots_dir / "service-outbox-email.png"), full_page=True)

    pg.goto(f"{service.base_url}/dashboard/outbox/{forged}")
    probe = pg.frame_locator("iframe.mail-preview").locator("#probe")
    probe.wait_for()
    assert probe.evaluate("e => getComputedStyle(e).fontSize") == "31px"
    assert probe.evaluate("e => e.ownerDocument.body.getAttribute('data-ran')") is None
    assert pg.title() == "Email Forged · cloverpay"  # not set from the frame
    assert dialogs == []
    context.close()
