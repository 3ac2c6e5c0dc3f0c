"""A merchant's own checkout page using the sandbox's ``sdk.js``, in Debian's Chromium.

The page (``pages/checkout.html``) is written as Clover's iframe guide shows and is
served by a tiny merchant site on another origin than the sandbox. A person types a
test card into the hosted fields; the page posts only the ``clv_`` token to the
merchant's backend, which charges it with plain httpx against the sandbox. The tests
record everything the merchant site received and assert no card data is among it.
"""

from __future__ import annotations

import html
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from ._peers import RunningSandbox
from ._site import LocalSite, Received, local_site

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

PAGES = Path(__file__).resolve().parent / "pages"
CARD_NUMBER = "4242424242424242"
CHARGE_AMOUNT = 2500  # the page says $25.00


#: Installed before the page loads: keeps what the merchant window receives by postMessage.
RECORD_MESSAGES = """
window.__received = [];
window.addEventListener('message', (e) => {
  try { window.__received.push(JSON.stringify(e.data)); } catch (err) {}
  try { sessionStorage.setItem('received', JSON.stringify(window.__received)); } catch (err) {}
});
"""

#: What the merchant page can read of the hosted fields: [] when they are out of reach.
PAGE_CAN_READ_FIELDS = r"""() => {
  const leaks = [];
  for (const frame of document.querySelectorAll('iframe')) {
    try {
      if (frame.contentDocument !== null) leaks.push(frame.src);
    } catch (err) { /* cross-origin: what we want */ }
  }
  for (const input of document.querySelectorAll('input')) {
    if (/\d{12,}/.test(input.value.replace(/\s/g, ''))) leaks.push(input.name);
  }
  return leaks;
}"""


def _merchant_backend(sandbox: RunningSandbox, site: LocalSite) -> None:
    """``POST /charge``: the merchant's server charges the token it was given."""

    def charge(req: Received) -> tuple[int, Any]:
        form = parse_qs(req.body.decode())
        token = form.get("cloverToken", [""])[0]
        resp = httpx.post(
            f"{sandbox.base_url}/v1/charges",
            headers={
                "authorization": f"Bearer {sandbox.access_token}",
                "idempotency-key": str(uuid.uuid4()),
                "x-forwarded-for": "127.0.0.1",
            },
            json={"amount": CHARGE_AMOUNT, "currency": "usd", "source": token},
            timeout=10,
        )
        body = resp.json()
        if resp.status_code == 200:
            text = f"Payment approved. Charge <span id='charge-id'>{html.escape(body['id'])}</span>"
            return 200, f"<!DOCTYPE html><title>Thank you</title><h1>{text}</h1>"
        message = html.escape(str(body.get("error", body)))
        return 402, f"<!DOCTYPE html><title>Declined</title><h1>Payment failed: {message}</h1>"

    site.route("POST", "/charge", charge)


@pytest.fixture
def merchant_site(sandbox_server: RunningSandbox) -> Iterator[LocalSite]:
    with local_site(PAGES) as site:
        site.template_vars.update(
            SDK_URL=f"{sandbox_server.base_url}/sdk.js",
            API_ACCESS_KEY=sandbox_server.api_access_key,
            MERCHANT_ID=sandbox_server.merchant_id,
        )
        _merchant_backend(sandbox_server, site)
        yield site


def card_field(page: Any, div_id: str) -> Any:
    """The input inside the hosted iframe mounted in ``#div_id``."""
    return page.frame_locator(f"#{div_id} iframe").locator("input")


def type_card(
    page: Any, number: str, date: str = "12/30", cvv: str = "123", zip_: str = "94107"
) -> None:
    for div_id, text in (
        ("card-number", number),
        ("card-date", date),
        ("card-cvv", cvv),
        ("card-postal-code", zip_),
    ):
        field = card_field(page, div_id)
        field.click()
        field.press_sequentially(text, delay=15)


def test_person_pays_on_the_merchant_page_and_the_backend_sees_only_a_token(
    page: Any, sandbox_server: RunningSandbox, merchant_site: LocalSite, shots_dir: Path
) -> None:
    assert merchant_site.base_url != sandbox_server.base_url  # two origins
    # Record every message the hosted fields post to the merchant's window.
    page.add_init_script(RECORD_MESSAGES)
    page.goto(merchant_site.url("/checkout.html"))
    type_card(page, CARD_NUMBER)
    page.screenshot(path=str(shots_dir / "merchant-page.png"), full_page=True)

    # The merchant page's own scripts cannot reach the typed card.
    assert page.evaluate(PAGE_CAN_READ_FIELDS) == []

    page.click("#pay")
    page.wait_for_url(merchant_site.url("/charge"))
    charge_id = page.locator("#charge-id").inner_text()

    # Messages from the hosted fields carried the token, never the card number.
    received = json.loads(page.evaluate("sessionStorage.getItem('received')") or "[]")
    assert any("clv_" in m for m in received), received
    assert not any(CARD_NUMBER in m for m in received)

    # What the merchant's server received: one form post with one field, a clv_ token.
    posts = merchant_site.requests_to("/charge")
    assert len(posts) == 1
    fields = parse_qs(posts[0].body.decode())
    assert list(fields) == ["cloverToken"]
    assert fields["cloverToken"][0].startswith("clv_")
    everything = b"".join(
        r.body + r.path.encode() + repr(r.query).encode() + repr(r.headers).encode()
        for r in merchant_site.received
    )
    assert CARD_NUMBER.encode() not in everything
    assert b"4242 4242" not in everything

    # The browser tokenized directly with the sandbox, and the charge is real.
    tokens = sandbox_server.requests("POST", "/v1/tokens")
    assert [e["status"] for e in tokens] == [200]
    with sandbox_server.client() as backend:
        charge = backend.get(f"/v1/charges/{charge_id}").json()
    assert charge["amount"] == CHARGE_AMOUNT
    assert charge["status"] == "succeeded"
    assert charge["source"]["last4"] == "4242"
    assert page.console_errors == []


def test_validation_errors_show_on_the_page_and_nothing_is_posted(
    page: Any, sandbox_server: RunningSandbox, merchant_site: LocalSite
) -> None:
    page.goto(merchant_site.url("/checkout.html"))

    # A mistyped number (fails the Luhn check): the change event shows the error.
    number = card_field(page, "card-number")
    number.click()
    number.press_sequentially("4242424242424241", delay=15)
    card_field(page, "card-date").click()
    errors = page.locator("#card-number-errors")
    errors.wait_for(state="visible")
    page.wait_for_function("document.getElementById('card-number-errors').textContent.length > 0")
    assert "invalid" in errors.inner_text().lower()

    # Paying anyway: createToken() resolves {errors}; the page shows them, posts nothing.
    page.click("#pay")
    page.wait_for_function("document.getElementById('card-response').textContent.length > 0")
    shown = page.locator("#card-response").inner_text().lower()
    assert "invalid" in shown or "required" in shown
    assert merchant_site.requests_to("/charge") == []
    assert sandbox_server.requests("POST", "/v1/charges") == []

    # Fixing the number clears its error.
    number.click()
    number.press("Backspace")
    number.press_sequentially("2", delay=15)
    card_field(page, "card-date").click()
    page.wait_for_function("document.getElementById('card-number-errors').textContent === ''")


def test_wallet_button_element_is_accepted_next_to_the_card_fields(
    page: Any, merchant_site: LocalSite
) -> None:
    page.goto(merchant_site.url("/checkout.html"))
    page.evaluate(
        """() => {
        const holder = document.createElement('div');
        holder.id = 'payment-request-button';
        document.querySelector('form').prepend(holder);
        const button = clover.elements().create('PAYMENT_REQUEST_BUTTON', {
          paymentReqData: {
            total: {label: 'Bean There Coffee', amount: 2500},
            options: {button: {buttonType: 'short'}},
          },
        });
        button.mount('#payment-request-button');
        button.addEventListener('paymentMethod', () => {});
      }"""
    )
    # Something a person can see stands where the wallet button would be (spec §15
    # lists PAYMENT_REQUEST_BUTTON), and the card fields still work beside it.
    assert page.locator("#payment-request-button").inner_text().strip() != ""
    type_card(page, CARD_NUMBER)
    page.click("#pay")
    page.wait_for_url(merchant_site.url("/charge"))
    assert page.console_errors == []
