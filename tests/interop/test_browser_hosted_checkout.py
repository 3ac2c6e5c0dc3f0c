"""Hosted Checkout in Debian's Chromium: a person pays on the sandbox's hosted page.

The merchant's backend creates a session over HTTP; the browser opens its ``href``; a
person types a test card with real keystrokes and pays; the browser lands on the
merchant's success or failure page (a tiny site on another origin). The sandbox's own
record (session status, the charge) is checked after each flow.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._peers import RunningSandbox
from ._site import LocalSite, local_site

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

CHECKOUTS = "/invoicingcheckoutservice/v1/checkouts"
APPROVED = "4242424242424242"
DECLINED = "4005571702222222"
CART_TOTAL = 1800 + 2 * 350


@pytest.fixture
def store_site() -> Iterator[LocalSite]:
    """The merchant's pages that Hosted Checkout redirects the buyer back to."""
    with local_site() as site:
        site.route("GET", "/paid", lambda r: (200, "<!DOCTYPE html><h1 id=done>Thanks!</h1>"))
        site.route("GET", "/failed", lambda r: (200, "<!DOCTYPE html><h1 id=done>Declined</h1>"))
        site.route("GET", "/cancel", lambda r: (200, "<!DOCTYPE html><h1 id=done>Cancelled</h1>"))
        yield site


def create_session(sandbox: RunningSandbox, site: LocalSite) -> dict[str, Any]:
    with sandbox.client() as backend:
        resp = backend.post(
            CHECKOUTS,
            json={
                "customer": {"email": "ada@example.com", "firstName": "Ada", "lastName": "Byron"},
                "shoppingCart": {
                    "lineItems": [
                        {"name": "Espresso beans 1kg", "price": 1800, "unitQty": 1},
                        {"name": "Filter papers", "price": 350, "unitQty": 2},
                    ]
                },
                "redirectUrls": {
                    "success": site.url("/paid?session_id={CHECKOUT_SESSION_ID}"),
                    "failure": site.url("/failed"),
                    "cancel": site.url("/cancel"),
                },
            },
        )
    assert resp.status_code == 200, resp.text
    session: dict[str, Any] = resp.json()
    assert session["href"].startswith(sandbox.base_url)
    return session


def session_status(sandbox: RunningSandbox, session_id: str) -> dict[str, Any]:
    with sandbox.client() as backend:
        resp = backend.get(f"{CHECKOUTS}/{session_id}")
    assert resp.status_code == 200, resp.text
    status: dict[str, Any] = resp.json()
    return status


def type_card(page: Any, number: str) -> None:
    """What a person does: click each field and type, key by key."""
    for label, text in (
        ("Card number", number),
        ("Expiry (MM/YY)", "12/30"),
        ("CVV", "123"),
        ("ZIP", "94107"),
    ):
        field = page.get_by_label(label, exact=True)
        field.click()
        field.press_sequentially(text, delay=15)


def test_person_pays_and_lands_on_the_success_page(
    page: Any, sandbox_server: RunningSandbox, store_site: LocalSite, shots_dir: Path
) -> None:
    session = create_session(sandbox_server, store_site)
    page.goto(session["href"])
    assert "$25.00" in page.locator("body").inner_text()
    type_card(page, APPROVED)
    page.screenshot(path=str(shots_dir / "hosted-checkout.png"), full_page=True)

    page.get_by_role("button", name="Pay").click()
    page.wait_for_url(store_site.url("/paid") + "*")
    assert page.locator("#done").inner_text() == "Thanks!"
    (landed,) = store_site.requests_to("/paid")
    assert landed.query["session_id"] == [session["checkoutSessionId"]]

    status = session_status(sandbox_server, session["checkoutSessionId"])
    assert status["status"] == "PAID"
    with sandbox_server.client() as backend:
        charge = backend.get(f"/v1/charges/{status['chargeId']}").json()
    assert charge["amount"] == CART_TOTAL
    assert charge["status"] == "succeeded"
    assert charge["source"]["last4"] == "4242"
    assert [c["id"] for c in sandbox_server.charges()] == [charge["id"]]
    # The merchant's site saw the buyer come back, never the card.
    assert all(APPROVED.encode() not in r.body + r.path.encode() for r in store_site.received)

    # The link cannot be paid twice: it now says so and shows no card form.
    page.goto(session["href"])
    assert "already paid" in page.locator("body").inner_text().lower()
    assert page.get_by_label("Card number", exact=True).count() == 0
    assert len(sandbox_server.charges()) == 1


def test_declined_card_lands_on_the_failure_page(
    page: Any, sandbox_server: RunningSandbox, store_site: LocalSite
) -> None:
    session = create_session(sandbox_server, store_site)
    page.goto(session["href"])
    type_card(page, DECLINED)
    page.get_by_role("button", name="Pay").click()
    page.wait_for_url(store_site.url("/failed"))
    assert page.locator("#done").inner_text() == "Declined"
    assert store_site.requests_to("/paid") == []

    status = session_status(sandbox_server, session["checkoutSessionId"])
    assert status["status"] != "PAID"
    assert status["chargeId"] is None
    assert [(c["amount"], c["status"]) for c in sandbox_server.charges()] == [
        (CART_TOTAL, "failed")
    ]

    # The buyer goes back to the link and pays with another card.
    page.goto(session["href"])
    type_card(page, APPROVED)
    page.get_by_role("button", name="Pay").click()
    page.wait_for_url(store_site.url("/paid") + "*")
    status = session_status(sandbox_server, session["checkoutSessionId"])
    assert status["status"] == "PAID"
    assert sorted(c["status"] for c in sandbox_server.charges()) == ["failed", "succeeded"]


def test_expired_session_cannot_be_paid(
    page: Any, sandbox_server: RunningSandbox, store_site: LocalSite
) -> None:
    session = create_session(sandbox_server, store_site)
    page.goto(session["href"])  # the buyer opens the page in time...
    type_card(page, APPROVED)
    sandbox_server.sandbox.state.clock.advance(16 * 60)  # ...and pays 16 minutes later
    page.get_by_role("button", name="Pay").click()
    page.wait_for_load_state()

    assert "expired" in page.locator("body").inner_text().lower()
    assert store_site.requests_to("/paid") == []
    status = session_status(sandbox_server, session["checkoutSessionId"])
    assert status["status"] == "EXPIRED"
    assert status["chargeId"] is None
    assert sandbox_server.charges() == []

    # Opening the link again shows the expired page, with no card form.
    page.goto(session["href"])
    assert "expired" in page.locator("body").inner_text().lower()
    assert page.get_by_label("Card number", exact=True).count() == 0


def test_payment_sends_a_signed_webhook_the_merchant_can_verify(
    page: Any, sandbox_server: RunningSandbox, store_site: LocalSite
) -> None:
    secret = "hc-signing-secret-for-tests"
    store_site.route("POST", "/clover-webhook", lambda r: (200, {"received": True}))
    with sandbox_server.client() as backend:
        resp = backend.post(
            "/_sandbox/webhooks/hosted_checkout",
            json={"url": store_site.url("/clover-webhook"), "signingSecret": secret},
        )
    assert resp.status_code == 200, resp.text

    session = create_session(sandbox_server, store_site)
    page.goto(session["href"])
    type_card(page, APPROVED)
    page.get_by_role("button", name="Pay").click()
    page.wait_for_url(store_site.url("/paid") + "*")

    deadline = time.monotonic() + 10
    while not store_site.requests_to("/clover-webhook") and time.monotonic() < deadline:
        time.sleep(0.05)
    (hook,) = store_site.requests_to("/clover-webhook")

    # Verified the way Clover's docs describe (spec §11.2), not with sandbox code.
    fields = dict(part.split("=", 1) for part in hook.headers["clover-signature"].split(","))
    expected = hmac.new(
        secret.encode(), fields["t"].encode() + b"." + hook.body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected)
    payload = hook.json()
    status = session_status(sandbox_server, session["checkoutSessionId"])
    assert payload["status"] == "APPROVED"
    assert payload["type"] == "PAYMENT"
    assert payload["data"] == session["checkoutSessionId"]
    assert payload["merchantId"] == sandbox_server.merchant_id
    assert payload["id"] == status["paymentId"]
