"""The service's dashboard and pay page in Debian's Chromium, over real sockets.

Staff sign in, add a customer, create an invoice and send its link; the customer opens
the link from the outbox, pays in Clover's card iframe (the sandbox's stand-in) and
saves the card; the dashboard shows the invoice paid, the card on file, and a partial
refund made from the payments page. The service never sees the card number.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")


from cloverpay.sandbox import Sandbox, SandboxServer
from cloverpay.service.db import CardOnFile, Payment, Refund
from cloverpay.service.services import ServiceContext

from ._service import service_with_merchant, serving
from .test_browser_merchant_page import type_card

EMAIL, PASSWORD = "owner@shop.example", "a long staff password"


@dataclass
class RunningService:
    base_url: str
    ctx: ServiceContext
    sandbox: Sandbox


@pytest.fixture
def service(tmp_path: Path) -> Iterator[RunningService]:
    sandbox = Sandbox(seed=3)
    server = SandboxServer(sandbox).start()
    ctx, _ = service_with_merchant(tmp_path, server, email=EMAIL, password=PASSWORD)
    try:
        with serving(ctx) as base:
            yield RunningService(base, ctx, sandbox)
    finally:
        server.stop()
        ctx.engine.dispose()


def test_staff_invoice_link_customer_pays_saving_card_then_refund(
    browser: Any, service: RunningService, shots_dir: Path
) -> None:
    staff = browser.new_context(viewport={"width": 1280, "height": 900})
    staff.set_default_timeout(10_000)
    pg = staff.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("dialog", lambda d: d.accept())

    # No page without login.
    pg.goto(service.base_url + "/dashboard/invoices")
    assert pg.url.endswith("/dashboard/login")
    pg.screenshot(path=str(shots_dir / "service-login.png"))
    pg.fill("#email", EMAIL)
    pg.fill("#password", PASSWORD)
    pg.click("button[type=submit]")
    pg.wait_for_url("**/dashboard/invoices")

    # A customer, then an invoice for them.
    pg.click("text=Customers")
    pg.fill("#c-name", "Dana Scully")
    pg.fill("#c-email", "dana@example.com")
    pg.click("text=Add customer")
    pg.wait_for_selector("text=Customer Dana Scully added.")
    pg.click("text=Invoices")
    pg.click("#new-invoice")
    pg.select_option("#customer_id", label="Dana Scully (dana@example.com)")
    pg.locator("input[name=description]").nth(0).fill("Kitchen sink repair")
    pg.locator("input[name=unit_price]").nth(0).fill("120.00")
    pg.locator("input[name=description]").nth(1).fill("Parts")
    pg.locator("input[name=quantity]").nth(1).fill("2")
    pg.locator("input[name=unit_price]").nth(1).fill("15.50")
    pg.fill("#tax", "12.40")
    assert pg.inner_text("#invoice-total") == "$163.40"  # computed as staff type
    pg.screenshot(path=str(shots_dir / "service-invoice-new.png"), full_page=True)
    pg.click("#create-invoice")
    pg.wait_for_selector("text=created.")
    assert pg.text_content("#invoice-status") == "draft"
    pg.click("#send-link")
    pg.wait_for_selector("text=Payment link sent to dana@example.com.")
    assert pg.text_content("#invoice-status") == "open"
    invoice_url = pg.url

    # The email is captured in the outbox; the customer takes the link from there.
    pg.click("text=Outbox")
    pg.click("text=Deliver due emails now")
    pg.wait_for_selector("text=1 email(s) delivered.")
    row = pg.locator("tr.email-row").first
    row.locator("summary").click()
    assert "captured" in row.text_content()
    pg.screenshot(path=str(shots_dir / "service-outbox.png"), full_page=True)
    mail = row.locator("pre.mail").inner_text()
    link = re.search(r"(http://127\.0\.0\.1:\d+/pay/\S+)", mail)
    assert link, mail

    customer = browser.new_context(viewport={"width": 520, "height": 900})
    customer.set_default_timeout(10_000)
    cp = customer.new_page()
    csp_violations: list[str] = []
    cp.on(
        "console", lambda m: csp_violations.append(m.text) if "Content Security" in m.text else None
    )
    posted: list[str] = []
    cp.on("request", lambda r: posted.append(r.post_data or "") if r.method == "POST" else None)
    cp.goto(link.group(1))
    assert "$163.40" in cp.inner_text(".amount")
    type_card(cp, "4242424242424242")
    cp.check("#save-card")
    cp.screenshot(path=str(shots_dir / "service-pay-page.png"), full_page=True)
    cp.click("#pay-button")
    cp.wait_for_selector("#paid-title")
    assert "is paid" in cp.inner_text("#paid-title")
    cp.screenshot(path=str(shots_dir / "service-paid.png"), full_page=True)
    ours = [p for p in posted if "attempt_nonce" in p]
    assert len(ours) == 1
    assert "clv_" in ours[0]
    assert "4242424242424242" not in ours[0]
    assert csp_violations == []

    # The dashboard shows it paid, with the card saved.
    pg.goto(invoice_url)
    assert pg.text_content("#invoice-status") == "paid"
    pg.screenshot(path=str(shots_dir / "service-invoice-paid.png"), full_page=True)
    pg.click("text=Customers")
    assert "Visa •••• 4242" in pg.inner_text("table")
    with service.ctx.sessions() as s:
        assert s.query(CardOnFile).count() == 1
        assert [p.amount for p in s.query(Payment)] == [16340]

    # A partial refund from the payments page.
    pg.click("text=Payments")
    pg.locator("input[name=amount]").first.fill("40.00")
    pg.locator("text=Refund").last.click()
    pg.wait_for_selector("text=Refunded $40.00.")
    pg.click("nav >> text=Refunds")
    assert "$40.00" in pg.inner_text("table")
    pg.click("nav >> text=Reports")
    pg.screenshot(path=str(shots_dir / "service-reports.png"), full_page=True)
    pg.click("nav >> text=Audit log")
    pg.screenshot(path=str(shots_dir / "service-audit.png"), full_page=True)
    pg.goto(service.base_url + "/dashboard/invoices")
    pg.screenshot(path=str(shots_dir / "service-invoices.png"), full_page=True)
    with service.ctx.sessions() as s:
        assert [r.amount for r in s.query(Refund)] == [4000]
    assert errors == []
    customer.close()
    staff.close()
