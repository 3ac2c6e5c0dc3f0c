"""Every connector request against the sandbox's emulated terminal over real sockets,
on ws:// and on wss:// (trusting the terminal's generated CA), with the device's
questions (payment confirmation, signature) answered through listener callbacks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from cloverpay.remotepay import (
    AuthRequest,
    CapturePreAuthRequest,
    CloverConnector,
    CloverConnectorListener,
    ConnectorConfig,
    IncrementPreAuthRequest,
    ManualRefundRequest,
    PreAuthRequest,
    RefundPaymentRequest,
    Response,
    ResponseCode,
    SaleRequest,
    TipAdjustAuthRequest,
    VoidPaymentRequest,
)
from cloverpay.remotepay.protocol import (
    ConfirmPaymentMessage,
    KeyPress,
    PrintPayment,
    PrintPaymentDecline,
    UiStateMessage,
    VerifySignature,
    VoidReason,
)
from cloverpay.sandbox import Sandbox
from cloverpay.sandbox.terminal import CustomerScript, TerminalServer, terminal_for

from .test_connector import RAID

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    sb = Sandbox(seed=5)
    yield sb
    sb.close()


class Answering(CloverConnectorListener):
    """Answers the device's questions as a cashier would, and records them."""

    def __init__(self) -> None:
        self.connector: CloverConnector | None = None
        self.accept = True
        self.asked: list[str] = []
        self.tips: list[int] = []
        self.screens: list[str] = []
        self.card_screen = asyncio.Event()
        self.responses: list[Response] = []
        self.kinds: list[tuple[str, Response]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def _later(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def on_confirm_payment_request(self, request: ConfirmPaymentMessage) -> None:
        assert self.connector is not None
        assert request.payment is not None
        self.asked.append("confirm")
        if self.accept:
            self._later(self.connector.accept_payment(request.payment))
        else:
            self._later(self.connector.reject_payment(request.payment, VoidReason.REJECT_DUPLICATE))

    def on_verify_signature_request(self, request: VerifySignature) -> None:
        assert self.connector is not None
        assert request.payment is not None
        self.asked.append("signature")
        if self.accept:
            self._later(self.connector.accept_signature(request.payment))
        else:
            self._later(self.connector.reject_signature(request.payment))

    def on_tip_added(self, tip_amount: int) -> None:
        self.tips.append(tip_amount)

    def on_device_activity_start(self, event: UiStateMessage) -> None:
        self.screens.append(str(event.ui_state))
        if event.ui_state == "START":
            self.card_screen.set()

    def on_response(self, response: Response) -> None:
        self.responses.append(response)
        super().on_response(response)  # on to on_sale_response, on_void_payment_response …


def _recorder(name: str) -> Any:
    def record(self: Answering, response: Response) -> None:
        self.kinds.append((name, response))

    return record


for _name in dir(CloverConnectorListener):  # every per-kind response callback records
    if _name.endswith("_response") and _name.startswith("on_") and _name != "on_response":
        setattr(Answering, _name, _recorder(_name))


@pytest.fixture(params=["ws", "wss"])
async def connected(
    request: pytest.FixtureRequest, sandbox: Sandbox, tmp_path: Path
) -> AsyncIterator[tuple[CloverConnector, Answering]]:
    tls = request.param == "wss"
    async with TerminalServer(sandbox, tls=tls) as server:
        ca_file = None
        if tls:
            assert server.certificate is not None
            ca_file = str(server.certificate.write(tmp_path)["ca"])
        config = ConnectorConfig(
            url=server.url,
            remote_application_id=RAID,
            allow_plain_ws=not tls,
            ca_file=ca_file,
            heartbeat_interval=None,
            request_timeout=20,
        )
        listener = Answering()
        async with CloverConnector(config, listener) as connector:
            listener.connector = connector
            yield connector, listener


async def test_payments_and_their_maintenance(
    connected: tuple[CloverConnector, Answering], sandbox: Sandbox
) -> None:
    c, listener = connected
    terminal = terminal_for(sandbox.state)
    terminal.push_script(CustomerScript(tip=150))
    sale = await c.sale(SaleRequest(amount=2000, external_id="every-sale"))
    assert sale.success
    assert sale.payment is not None
    assert sale.payment.tip_amount == 150
    assert listener.tips == [150]

    auth = await c.auth(AuthRequest(amount=3000, external_id="every-auth"))
    assert auth.success
    assert auth.payment is not None
    tip = await c.tip_adjust_auth(TipAdjustAuthRequest(payment_id=auth.payment.id, tip_amount=400))
    assert (tip.success, tip.tip_amount) == (True, 400)

    pre = await c.pre_auth(PreAuthRequest(amount=5000, external_id="every-pre"))
    assert pre.success
    assert pre.payment is not None
    inc = await c.increment_pre_auth(
        IncrementPreAuthRequest(payment_id=pre.payment.id, amount=1000)
    )
    assert inc.success
    cap = await c.capture_pre_auth(
        CapturePreAuthRequest(payment_id=pre.payment.id, amount=6000, tip_amount=500)
    )
    assert (cap.success, cap.amount) == (True, 6000)

    assert sale.payment.order is not None
    partial = await c.refund_payment(
        RefundPaymentRequest(payment_id=sale.payment.id, order_id=sale.payment.order.id, amount=500)
    )
    assert partial.success
    assert partial.refund is not None
    assert partial.refund.amount == 500
    assert auth.payment.order is not None
    full = await c.refund_payment(
        RefundPaymentRequest(
            payment_id=auth.payment.id, order_id=auth.payment.order.id, full_refund=True
        )
    )
    assert full.success

    other = await c.sale(SaleRequest(amount=900, external_id="every-void"))
    assert other.payment is not None
    void = await c.void_payment(VoidPaymentRequest(payment_id=other.payment.id))
    assert void.success

    credit = await c.manual_refund(ManualRefundRequest(amount=700, external_id="every-credit"))
    assert credit.success
    assert credit.credit is not None

    found = await c.retrieve_payment("every-sale")
    assert (found.query_status, found.payment.id if found.payment else None) == (
        "FOUND",
        sale.payment.id,
    )
    pending = await c.retrieve_pending_payments()
    assert pending.success
    closeout = await c.closeout()
    assert closeout.success
    assert "START" in listener.screens
    # every awaited response also reached the listener, and its per-kind callback
    for response in (sale, auth, tip, pre, inc, cap, partial, full, void, credit, closeout):
        assert response in listener.responses
    kinds = {name for name, _ in listener.kinds}
    assert kinds == {
        "on_sale_response",
        "on_auth_response",
        "on_tip_adjust_auth_response",
        "on_pre_auth_response",
        "on_increment_pre_auth_response",
        "on_capture_pre_auth_response",
        "on_refund_payment_response",
        "on_void_payment_response",
        "on_manual_refund_response",
        "on_retrieve_payment_response",
        "on_retrieve_pending_payments_response",
        "on_closeout_response",
    }
    assert ("on_void_payment_response", void) in listener.kinds
    assert ("on_sale_response", sale) in listener.kinds


async def test_questions_from_the_device_and_cancel(
    connected: tuple[CloverConnector, Answering], sandbox: Sandbox
) -> None:
    c, listener = connected
    terminal = terminal_for(sandbox.state)
    terminal.push_script(CustomerScript(challenge="DUPLICATE", signature=True))
    accepted = await c.sale(SaleRequest(amount=1200, external_id="every-ask-1"))
    assert accepted.success
    assert listener.asked == ["confirm", "signature"]

    listener.accept = False
    terminal.push_script(CustomerScript(challenge="DUPLICATE"))
    rejected = await c.sale(SaleRequest(amount=1200, external_id="every-ask-2"))
    assert rejected.result is ResponseCode.CANCEL
    terminal.push_script(CustomerScript(signature=True))
    unsigned = await c.sale(SaleRequest(amount=1300, external_id="every-ask-3"))
    assert unsigned.result is ResponseCode.CANCEL
    assert listener.asked[2:] == ["confirm", "signature"]

    terminal.push_script(CustomerScript(outcome="never_act"))
    listener.card_screen.clear()
    waiting = asyncio.ensure_future(c.sale(SaleRequest(amount=50, external_id="every-esc")))
    await listener.card_screen.wait()
    await c.invoke_input_option(KeyPress.ESC)
    cancelled = await waiting
    assert cancelled.result is ResponseCode.CANCEL


async def test_device_calls_and_screens(
    connected: tuple[CloverConnector, Answering], sandbox: Sandbox
) -> None:
    c, _ = connected
    terminal = terminal_for(sandbox.state)
    await c.show_message("Hello from the POS")
    status = await c.retrieve_device_status()  # a round trip: the message was handled
    assert status.success
    assert terminal.snapshot()["text"] == "Hello from the POS"
    await c.show_thank_you_screen()
    await c.retrieve_device_status()
    assert terminal.snapshot()["screen"] == "THANKYOU_SCREEN"
    await c.show_welcome_screen()
    await c.print_text(["Thank you", "Come again"], print_job_id="every-print")
    reset = await c.reset_device()
    assert reset.success
    assert terminal.snapshot()["screen"] == "WELCOME_SCREEN"
    assert terminal.print_jobs["every-print"] == ["Thank you", "Come again"]
    card = await c.read_card_data()
    assert card.success
    vaulted = await c.vault_card()
    assert vaulted.success
    assert status.state == "IDLE"


class Receipts(CloverConnectorListener):
    def __init__(self) -> None:
        self.printed: list[tuple[str, str | None]] = []

    def on_print_payment_receipt(self, message: PrintPayment) -> None:
        self.printed.append(("payment", message.payment.id if message.payment else None))

    def on_print_payment_decline_receipt(self, message: PrintPaymentDecline) -> None:
        self.printed.append(("decline", message.reason))


async def test_receipts_to_print_reach_their_callbacks(sandbox: Sandbox) -> None:
    """With Clover's printing disabled the device hands the receipts to the POS."""
    terminal = terminal_for(sandbox.state)
    listener = Receipts()
    async with TerminalServer(sandbox) as server:
        config = ConnectorConfig(
            url=server.url,
            remote_application_id=RAID,
            allow_plain_ws=True,
            heartbeat_interval=None,
            request_timeout=20,
        )
        async with CloverConnector(config, listener) as c:
            paid = await c.sale(
                SaleRequest(amount=800, external_id="every-rcpt-1", disable_printing=True)
            )
            terminal.push_script(CustomerScript(outcome="decline"))
            declined = await c.sale(
                SaleRequest(amount=900, external_id="every-rcpt-2", disable_printing=True)
            )
            await c.retrieve_device_status()  # a round trip: every frame before it was seen
    assert paid.payment is not None
    assert declined.result is ResponseCode.CANCEL
    assert listener.printed == [("payment", paid.payment.id), ("decline", "Declined")]
