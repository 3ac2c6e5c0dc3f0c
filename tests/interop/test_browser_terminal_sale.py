"""A terminal sale from the service's dashboard, in Debian's Chromium, over real sockets.

Staff sign in, open an invoice and press "Charge on terminal"; the test then acts as the
customer on the emulated terminal's screen page (``/terminal``: insert a card, skip the
receipt); the dashboard follows the sale live and shows the invoice paid; staff then
refund part of it through the terminal, and part without it (through Clover's REST API).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("fastapi")


from cloverpay.sandbox import Sandbox, SandboxServer
from cloverpay.service.db import Payment, Refund
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.invoices import LineItemInput, create_invoice, open_invoice
from cloverpay.service.services.terminals import register_terminal
from cloverpay.service.terminal_runtime import RuntimeOptions, TerminalRuntime

from ._service import service_with_merchant, serving

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

#: how long a page waits for what the service and the device do (a deadline for a hang)
WAIT_MS = 60_000

EMAIL, PASSWORD = "clerk@shop.example", "a long staff password"


@dataclass
class RunningService:
    base_url: str
    ctx: ServiceContext
    server: SandboxServer
    invoice_id: str
    invoice_number: str


@pytest.fixture
def service(tmp_path: Path) -> Iterator[RunningService]:
    sandbox = Sandbox(seed=5)
    server = SandboxServer(sandbox, terminal_port=0).start()
    ctx, merchant = service_with_merchant(tmp_path, server, email=EMAIL, password=PASSWORD)
    assert server.terminal_url is not None
    register_terminal(ctx, merchant.id, name="Counter", url=server.terminal_url, actor="test")
    draft = create_invoice(
        ctx,
        merchant.id,
        line_items=[LineItemInput("Boiler service", 1, 8900)],
        tax_amount=712,
        actor="test",
    )
    invoice = open_invoice(ctx, merchant.id, draft.id, actor="test")
    runtime = TerminalRuntime(
        ctx, options=RuntimeOptions(tick_s=0.2, sale_timeout_s=90, heartbeat_interval_s=None)
    ).start()
    try:
        with serving(ctx) as base:
            yield RunningService(base, ctx, server, invoice.id, invoice.number)
    finally:
        runtime.stop()
        server.stop()
        ctx.engine.dispose()
        sandbox.close()


def test_staff_charge_on_terminal_customer_pays_on_the_device_then_refund(
    browser: Any, service: RunningService, shots_dir: Path
) -> None:
    # a person will be at the terminal: it waits for them at each step
    with httpx.Client(base_url=service.server.base_url) as http:
        http.post("/_sandbox/terminal/script", json={"human": True}).raise_for_status()

    staff = browser.new_context(viewport={"width": 1280, "height": 900})
    staff.set_default_timeout(WAIT_MS)
    pg = staff.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("dialog", lambda d: d.accept())
    pg.goto(service.base_url + "/dashboard/login")
    pg.fill("#email", EMAIL)
    pg.fill("#password", PASSWORD)
    pg.click("button[type=submit]")
    pg.wait_for_url("**/dashboard/invoices")

    # the terminal is listed, connected by this service process
    pg.click("nav >> text=Terminals")
    pg.wait_for_selector("[data-terminal-status=Counter]:text('ready')")
    pg.screenshot(path=str(shots_dir / "service-terminals.png"), full_page=True)

    pg.goto(f"{service.base_url}/dashboard/invoices/{service.invoice_id}")
    assert pg.text_content("#invoice-status") == "open"
    pg.select_option("#terminal-id", label="Counter (ready)")
    pg.click("#charge-terminal")
    pg.wait_for_selector("text=Sale sent to the terminal")
    pg.wait_for_selector("#terminal-sale-screen:has-text('On the terminal')")
    pg.screenshot(path=str(shots_dir / "service-terminal-sale-waiting.png"), full_page=True)

    # the customer, at the device
    customer = browser.new_context(viewport={"width": 520, "height": 900})
    customer.set_default_timeout(WAIT_MS)
    cp = customer.new_page()
    cp.goto(f"{service.server.base_url}/terminal")
    cp.get_by_text("Insert, tap, or swipe card").wait_for()
    cp.get_by_text("$96.12").first.wait_for()
    cp.select_option("#card", "MC")
    cp.get_by_role("button", name="Insert card").click()
    deadline = time.monotonic() + WAIT_MS / 1000
    # "Approved", then the POS shows its thank-you screen
    while not (cp.get_by_text("Approved").count() or cp.get_by_text("Thank you").count()):
        if time.monotonic() > deadline:
            cp.screenshot(path=str(shots_dir / "terminal-stuck.png"))
            raise AssertionError(f"never approved; the device shows: {cp.inner_text('body')}")
        for label in ("No tip", "No receipt"):
            button = cp.get_by_role("button", name=label)
            if button.count():
                button.click()
        time.sleep(0.1)
    cp.screenshot(path=str(shots_dir / "terminal-customer-approved.png"))

    # the dashboard follows the sale and shows the invoice paid (page reloads when final)
    pg.wait_for_selector("#invoice-status:text('paid')")
    assert "Approved" in pg.inner_text("#terminal-sale")
    assert "Mastercard •••• 4084" in pg.inner_text("main")  # the MC the customer inserted
    pg.screenshot(path=str(shots_dir / "service-terminal-sale-paid.png"), full_page=True)
    with service.ctx.sessions() as s:
        [payment] = s.query(Payment).all()
    assert payment.amount == 9612

    # a partial refund of the terminal payment, through the terminal
    pg.locator("input[name=amount]").first.fill("12.00")
    pg.locator(".refund-form button").first.click()
    pg.wait_for_selector("text=Refunded $12.00.")
    with service.ctx.sessions() as s:
        assert [r.amount for r in s.query(Refund)] == [1200]
    pg.screenshot(path=str(shots_dir / "service-terminal-refund.png"), full_page=True)
    device_refunds = len(service.server.sandbox.state.events.list("terminal_refund"))

    # and part of it without the terminal, through Clover's REST API
    rest = pg.locator("details.refund-rest").first
    rest.locator("summary").click()
    rest.locator("input[name=amount]").fill("3.00")
    rest.locator("button").click()
    pg.wait_for_selector("text=Refunded $3.00 through Clover, without the terminal.")
    with service.ctx.sessions() as s:
        assert sorted(r.amount for r in s.query(Refund)) == [300, 1200]
    assert len(service.server.sandbox.state.events.list("terminal_refund")) == device_refunds
    pg.screenshot(path=str(shots_dir / "service-terminal-refund-rest.png"), full_page=True)
    assert errors == []
    customer.close()
    staff.close()
