"""A person at the emulated terminal: the ``/terminal`` page in Debian's Chromium.

A POS (the protocol core in the POS role over a real websocket, in its own thread)
starts a sale; the test acts as the customer on the page — picks a card, inserts it,
chooses a tip, signs, skips the receipt — and the POS gets FINISH_OK with exactly that.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloverpay.remotepay.protocol import (
    FinishOk,
    SignatureVerified,
    TxStartResponse,
    VerifySignature,
)
from cloverpay.sandbox import Sandbox, SandboxServer

from ..sandbox.terminal.pos import MiniPos, sale

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]


@pytest.fixture
def running() -> Iterator[SandboxServer]:
    sandbox = Sandbox(seed=1)
    try:
        with SandboxServer(sandbox, terminal_port=0) as server:
            yield server
    finally:
        sandbox.close()


class PosThread(threading.Thread):
    """Runs one sale from a POS on its own event loop; keeps what came back."""

    def __init__(self, url: str) -> None:
        super().__init__(name="test-pos", daemon=True)
        self.url = url
        self.started_tx = threading.Event()
        self.finish: FinishOk | None = None
        self.signature_checked = False
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._sale())
        except BaseException as exc:
            self.error = exc

    async def _sale(self) -> None:
        pos = await MiniPos.connect(self.url)
        try:
            await pos.ready()
            await pos.send(sale(4250, "browser-sale-1", tip_amount=None))
            await pos.until(TxStartResponse)
            self.started_tx.set()
            ask = await _long(pos.until(VerifySignature))
            assert ask.payment is not None
            self.signature_checked = ask.signature is not None
            await pos.send(SignatureVerified(payment=ask.payment, verified=True))
            self.finish = await _long(pos.until(FinishOk))
        finally:
            await pos.close()


async def _long(coro: Any) -> Any:
    """The person takes their time: wait longer than the POS helper's default."""
    from ..sandbox.terminal import pos as pos_module

    saved = pos_module.WAIT
    pos_module.WAIT = 60.0
    try:
        return await coro
    finally:
        pos_module.WAIT = saved


def test_a_person_pays_on_the_terminal_page(
    running: SandboxServer, page: Any, shots_dir: Path
) -> None:
    assert running.terminal_url is not None
    with httpx.Client(base_url=running.base_url) as http:
        http.post(
            "/_sandbox/terminal/script", json={"human": True, "signature": True}
        ).raise_for_status()
    pos = PosThread(running.terminal_url)
    pos.start()
    assert pos.started_tx.wait(20), pos.error

    page.goto(f"{running.base_url}/terminal")
    page.get_by_text("Insert, tap, or swipe card").wait_for()
    page.get_by_text("$42.50").first.wait_for()
    page.screenshot(path=str(shots_dir / "terminal-card.png"))
    page.select_option("#card", "MC")
    page.get_by_role("button", name="Insert card").click()
    page.get_by_role("button", name="20% ($8.50)").click()
    page.get_by_role("button", name="Sign").click()
    page.get_by_role("button", name="No receipt").click()
    page.get_by_text("Approved").wait_for()
    page.screenshot(path=str(shots_dir / "terminal-approved.png"))

    pos.join(30)
    assert pos.error is None, repr(pos.error)
    assert pos.finish is not None
    payment = pos.finish.payment
    assert payment is not None
    assert (payment.amount, payment.tip_amount) == (4250, 850)
    assert payment.card_transaction is not None
    assert payment.card_transaction.card_type == "MC"
    assert payment.card_transaction.entry_type == "EMV_CONTACT"
    assert pos.signature_checked
    assert page.console_errors == []
