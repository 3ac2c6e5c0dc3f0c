"""Fixtures of the webhook tests: the service app on a real socket (uvicorn in a
thread), a capturing receiver for the sandbox's deliveries, and helpers that drive a
Hosted Checkout payment through our pay link and Clover's (the sandbox's) page."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from cloverpay.sandbox import Sandbox
from cloverpay.service.api import create_app
from cloverpay.service.db import Invoice, Merchant, WebhookInbox
from cloverpay.service.services import ServiceContext
from cloverpay.service.web import MerchantWebSettings, WebSettings, pay_link_for
from cloverpay.service.webhooks import process_inbox_once, set_checkout_signing_secret

from ...webhook_capture import Receiver

APPROVE = "4242424242424242"
DECLINE = "4005571702222222"


@dataclass
class Served:
    base_url: str
    web: WebSettings


@pytest.fixture
def served(ctx: ServiceContext) -> Iterator[Served]:
    """``create_app(context=ctx)`` behind uvicorn on 127.0.0.1 (a real socket)."""
    app = create_app(context=ctx)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    web = WebSettings(public_url=base, clover_sdk_url="https://sdk.clover.test/sdk.js")
    app.state.web = web
    try:
        yield Served(base, web)
    finally:
        server.should_exit = True
        thread.join(10)


#: what the sandbox sent, recorded by a real endpoint (see ``tests/webhook_capture``)
Capture = Receiver


@pytest.fixture
def capture() -> Iterator[Capture]:
    with Capture().running() as cap:
        yield cap


def control(sandbox: Sandbox) -> httpx.Client:
    return sandbox.client(headers={"x-forwarded-for": "203.0.113.9"})


def use_hosted_checkout(ctx: ServiceContext, merchant: Merchant) -> None:
    with ctx.sessions.begin() as s:
        s.add(MerchantWebSettings(merchant_id=merchant.id, pay_flow="hosted_checkout"))


def point_checkout_webhooks(
    ctx: ServiceContext, sandbox: Sandbox, merchant: Merchant, url: str
) -> str:
    """Configure the merchant's Hosted Checkout webhook at the sandbox (as a merchant
    does in Clover's dashboard) and store the signing secret with us."""
    with control(sandbox) as c:
        r = c.post(
            "/_sandbox/webhooks/hosted_checkout",
            json={"url": url, "merchantId": merchant.clover_merchant_id},
        )
    assert r.status_code == 200, r.text
    secret: str = r.json()["signingSecret"]
    set_checkout_signing_secret(ctx, merchant.id, secret, actor="test")
    return secret


def checkout_receiver(base_url: str, merchant: Merchant) -> str:
    return f"{base_url}/webhooks/clover/checkout/{merchant.id}"


def open_checkout(
    ctx: ServiceContext, served: Served, sandbox: Sandbox, invoice: Invoice
) -> tuple[str, str]:
    """Open the invoice's pay link (our server mints the session); returns the pay link
    URL and the path of Clover's hosted page."""
    url, _ = pay_link_for(ctx, served.web, invoice.id)
    r = httpx.get(url, follow_redirects=False)
    assert r.status_code == 303, r.text
    href = r.headers["location"]
    assert "/checkout/" in href
    return url, href.removeprefix(sandbox.base_url)


def pay_on_clover(sandbox: Sandbox, checkout_path: str, number: str = APPROVE) -> int:
    with sandbox.client() as browser:
        r = browser.post(
            checkout_path + "/pay", data={"number": number, "exp": "12/31", "cvv": "123"}
        )
    return r.status_code


def inbox_rows(ctx: ServiceContext) -> list[WebhookInbox]:
    from sqlalchemy import select

    with ctx.sessions() as s:
        return list(s.scalars(select(WebhookInbox).order_by(WebhookInbox.id)).all())


def wait_rows(ctx: ServiceContext, n: int, timeout: float = 15.0) -> list[WebhookInbox]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = inbox_rows(ctx)
        if len(rows) >= n:
            return rows
        time.sleep(0.02)
    raise AssertionError(f"expected {n} inbox rows, got {len(inbox_rows(ctx))}")


def drain(ctx: ServiceContext) -> list[str]:
    outcomes: list[str] = []
    for _ in range(20):
        report = process_inbox_once(ctx)
        outcomes += report.outcomes
        if report.processed == 0 and report.retried == 0:
            break
    return outcomes
