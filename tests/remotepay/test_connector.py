"""The asyncio connector against an emulated device over a real websocket (127.0.0.1)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cloverpay.remotepay import (
    AuthRequest,
    CloverConnector,
    CloverConnectorListener,
    ConnectorConfig,
    DeviceErrorEvent,
    ManualRefundRequest,
    MemoryTokenStore,
    OutcomeUnknownError,
    PreAuthRequest,
    RefundPaymentRequest,
    Response,
    ResponseCode,
    SaleRequest,
    SaleResponse,
    VoidPaymentRequest,
)
from cloverpay.remotepay.protocol import (
    ConfirmPaymentMessage,
    DiscoveryResponse,
    Payment,
    Ping,
    PrintPayment,
    TipAdded,
    UiStateMessage,
    VerifySignature,
)

from .device import FakeDevice

RAID = "com.example.pos:1.0"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Recorder(CloverConnectorListener):
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.responses: list[Response] = []
        self.confirm: ConfirmPaymentMessage | None = None
        self.confirm_asked = asyncio.Event()
        self.heartbeat_failed = asyncio.Event()
        self.response_seen = asyncio.Event()
        self.error_seen = asyncio.Event()

    def on_device_connected(self) -> None:
        self.calls.append(("connected", None))

    def on_device_ready(self, merchant_info: DiscoveryResponse) -> None:
        self.calls.append(("ready", merchant_info.merchant_id))

    def on_device_disconnected(self) -> None:
        self.calls.append(("disconnected", None))

    def on_pairing_code(self, pairing_code: str) -> None:
        self.calls.append(("code", pairing_code))

    def on_pairing_success(self, authentication_token: str) -> None:
        self.calls.append(("paired", authentication_token))

    def on_device_error(self, error: DeviceErrorEvent) -> None:
        self.calls.append(("error", error.code))
        self.error_seen.set()
        if error.code == "HeartbeatTimeout":
            self.heartbeat_failed.set()

    def on_confirm_payment_request(self, request: ConfirmPaymentMessage) -> None:
        self.confirm = request
        self.confirm_asked.set()

    def on_response(self, response: Response) -> None:
        self.responses.append(response)
        self.response_seen.set()

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def config(url: str, **kw: Any) -> ConnectorConfig:
    values: dict[str, Any] = {
        "url": url,
        "remote_application_id": RAID,
        "allow_plain_ws": True,
        "reconnect_delay": 0.05,
        "request_timeout": 30.0,  # a deadline for a hang: the fake device answers at once
        "heartbeat_interval": None,
        "recovery_timeout": None,  # the raw OutcomeUnknownError path (recovery: elsewhere)
    }
    return ConnectorConfig(**(values | kw))


@pytest.fixture
async def device() -> AsyncIterator[tuple[FakeDevice, str]]:
    fake = FakeDevice()
    async with fake.running() as url:
        yield fake, url


pytestmark = pytest.mark.anyio


async def test_pairs_with_a_code_then_reuses_the_token(device: tuple[FakeDevice, str]) -> None:
    fake, url = device
    store = MemoryTokenStore()
    listener = Recorder()
    async with CloverConnector(config(url), listener, token_store=store) as connector:
        assert connector.is_ready
    assert listener.names()[:4] == ["connected", "code", "paired", "ready"]
    assert ("code", "123456") in listener.calls
    assert store.load() == "token-1"
    again = Recorder()
    async with CloverConnector(config(url), again, token_store=store):
        pass
    assert "code" not in again.names()
    assert fake.tokens == {"token-1"}


async def test_sale_approved(device: tuple[FakeDevice, str]) -> None:
    fake, url = device
    listener = Recorder()
    async with CloverConnector(config(url), listener) as connector:
        request = SaleRequest(amount=1000, tip_amount=150, external_id=" s-1 ")
        response = await connector.sale(request)
    assert response.success
    assert response.result is ResponseCode.SUCCESS
    assert response.is_sale
    assert response.payment is not None
    assert response.payment.amount == 1000
    assert response.payment.external_payment_id == "s-1"
    assert listener.responses == [response]
    tx = [m for m in fake.received if m.method == "TX_START"]
    assert len(tx) == 1
    intent = tx[0].pay_intent  # type: ignore[attr-defined]
    assert (intent.amount, intent.tip_amount, intent.external_payment_id) == (1000, 150, "s-1")
    assert intent.transaction_settings.card_entry_methods == 34567


async def test_auth_preauth_and_manual_refund(device: tuple[FakeDevice, str]) -> None:
    fake, url = device
    async with CloverConnector(config(url)) as connector:
        auth = await connector.auth(AuthRequest(amount=4000, external_id="a-1"))
        pre = await connector.pre_auth(PreAuthRequest(amount=10_000, external_id="p-1"))
        credit = await connector.manual_refund(ManualRefundRequest(amount=1234, external_id="m-1"))
    assert auth.is_auth
    assert not auth.is_sale
    assert pre.is_pre_auth
    assert credit.success
    assert credit.credit is not None
    assert credit.credit.amount == 1234
    credit_tx = [m for m in fake.received if m.method == "TX_START"][-1]
    assert credit_tx.pay_intent.amount == -1234  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (SaleRequest(amount=0, external_id="x"), "Request Validation Error"),
        (SaleRequest(amount=100, external_id=""), "Invalid Argument."),
        (SaleRequest(amount=100, external_id="x" * 33), "Invalid Argument."),
        (SaleRequest(amount=100, external_id="x", tip_amount=-1), "Request Validation Error"),
        (
            SaleRequest(amount=100, external_id="x", tip_amount=5, tip_mode="ON_PAPER"),
            "Invalid Argument.",
        ),
        (SaleRequest(amount=100, external_id="x", tip_mode="TIP_PROVIDED"), "Invalid Argument."),
        (SaleRequest(amount=100, external_id="x", tip_mode="BOGUS"), "Invalid Argument."),
    ],
)
async def test_invalid_sales_are_refused_before_sending(
    device: tuple[FakeDevice, str], request_: SaleRequest, reason: str
) -> None:
    fake, url = device
    async with CloverConnector(config(url)) as connector:
        response = await connector.sale(request_)
    assert not response.success
    assert response.result is ResponseCode.FAIL
    assert response.reason == reason
    assert "TX_START" not in fake.methods()


async def test_unsupported_and_not_ready(device: tuple[FakeDevice, str]) -> None:
    fake, url = device
    fake.supports = {"supports_pre_auth": False}
    connector = CloverConnector(config(url))
    early = await connector.sale(SaleRequest(amount=100, external_id="e"))
    assert early.result is ResponseCode.ERROR
    assert early.reason == "Device Connection Error"
    async with connector:
        pre = await connector.pre_auth(PreAuthRequest(amount=100, external_id="p"))
    assert pre.result is ResponseCode.UNSUPPORTED
    assert "PreAuths are not enabled" in (pre.message or "")


async def test_decline_and_duplicate(device: tuple[FakeDevice, str]) -> None:
    fake, url = device
    async with CloverConnector(config(url)) as connector:
        fake.mode = "decline"
        declined = await connector.sale(SaleRequest(amount=777, external_id="d-1"))
        fake.mode = "duplicate"
        duplicate = await connector.sale(SaleRequest(amount=300, external_id="dup-1"))
    assert (declined.result, declined.reason) == (ResponseCode.CANCEL, "Request Canceled")
    assert declined.message == "The Sale Request was canceled."
    assert duplicate.result is ResponseCode.CANCEL
    assert "dup-1 has already been processed" in (duplicate.message or "")


async def test_timeout_is_outcome_unknown_and_nothing_is_resent(
    device: tuple[FakeDevice, str],
) -> None:
    fake, url = device
    fake.mode = "silent"
    async with CloverConnector(config(url)) as connector:
        with pytest.raises(OutcomeUnknownError) as info:
            await connector.sale(SaleRequest(amount=500, external_id="t-1"), timeout=0.3)
        assert info.value.external_id == "t-1"
        busy = await connector.sale(SaleRequest(amount=500, external_id="t-2"))
        assert (busy.result, busy.reason) == (ResponseCode.ERROR, "Device Busy")
        reset = await connector.reset_device()
        assert reset.success
    assert fake.methods().count("TX_START") == 1


async def test_connection_drop_mid_sale_reconnects_without_resending(
    device: tuple[FakeDevice, str],
) -> None:
    fake, url = device
    fake.mode = "drop"
    listener = Recorder()
    async with CloverConnector(config(url), listener) as connector:
        with pytest.raises(OutcomeUnknownError):
            await connector.sale(SaleRequest(amount=900, external_id="drop-1"))
        await connector.connect(timeout=30)  # waits until ready again
        fake.mode = "approve"
        found = await connector.retrieve_payment("drop-1")
        assert found.query_status == "NOT_FOUND"
    assert fake.methods().count("TX_START") == 1
    assert fake.connections == 2
    assert "disconnected" in listener.names()
    assert listener.names().count("code") == 1  # the reconnect re-paired with the token


async def test_refund_void_and_lookup(device: tuple[FakeDevice, str]) -> None:
    _, url = device
    async with CloverConnector(config(url)) as connector:
        sale = await connector.sale(SaleRequest(amount=2599, external_id="r-1"))
        assert sale.payment is not None
        assert sale.payment.order is not None
        refund = await connector.refund_payment(
            RefundPaymentRequest(
                payment_id=sale.payment.id, order_id=sale.payment.order.id, amount=400
            )
        )
        void = await connector.void_payment(VoidPaymentRequest(payment_id=sale.payment.id))
        found = await connector.retrieve_payment("r-1")
        bad = await connector.refund_payment(RefundPaymentRequest(payment_id="x"))
    assert refund.success
    assert refund.refund is not None
    assert refund.payment_id == sale.payment.id
    assert void.success
    assert found.query_status == "FOUND"
    assert found.payment is not None
    assert found.payment.id == sale.payment.id
    assert bad.result is ResponseCode.FAIL


async def test_payment_confirmation_through_the_listener(device: tuple[FakeDevice, str]) -> None:
    fake, url = device
    fake.mode = "challenge"
    listener = Recorder()
    async with CloverConnector(config(url), listener) as connector:
        sale = asyncio.create_task(connector.sale(SaleRequest(amount=1200, external_id="c-1")))
        async with asyncio.timeout(30):
            await listener.confirm_asked.wait()
        assert listener.confirm is not None
        assert listener.confirm.payment is not None
        await connector.accept_payment(listener.confirm.payment)
        response = await sale
    assert response.success
    assert "PAYMENT_CONFIRMED" in fake.methods()


async def test_heartbeat_failure_reconnects(device: tuple[FakeDevice, str]) -> None:
    fake, url = device
    fake.answer_pings = False
    listener = Recorder()
    cfg = config(url, heartbeat_interval=0.05, heartbeat_timeout=0.1)
    async with CloverConnector(cfg, listener) as connector:
        async with asyncio.timeout(30):
            await listener.heartbeat_failed.wait()
        # the device answers again, so a loaded machine's slow pairing cannot be taken
        # for one more missed heartbeat (0.1 s) before the connector is ready
        fake.answer_pings = True
        async with asyncio.timeout(30):
            while fake.connections < 2 or not connector.is_ready:  # noqa: ASYNC110 (no event)
                await asyncio.sleep(0.01)
    assert fake.connections >= 2


async def test_plain_ws_needs_to_be_asked_for() -> None:
    with pytest.raises(ValueError, match="allow_plain_ws"):
        ConnectorConfig(url="ws://127.0.0.1:12345/remote_pay", remote_application_id=RAID)


async def test_listener_style_submit(device: tuple[FakeDevice, str]) -> None:
    fake, url = device
    listener = Recorder()
    async with CloverConnector(config(url), listener) as connector:
        await connector.submit(connector.sale(SaleRequest(amount=100, external_id="cb-1")))
        fake.mode = "silent"
        await connector.submit(
            connector.sale(SaleRequest(amount=100, external_id="cb-2"), timeout=0.2)
        )
        await connector.submit(connector.show_message("hi"))
    (response,) = listener.responses
    assert isinstance(response, SaleResponse)
    assert response.success
    assert ("error", "OutcomeUnknown") in listener.calls


async def test_session_events_reach_the_listener() -> None:
    seen: list[Any] = []

    class Listener(Recorder):
        def on_device_activity_start(self, event: UiStateMessage) -> None:
            seen.append(("start", event.ui_state))

        def on_device_activity_end(self, event: UiStateMessage) -> None:
            seen.append(("end", event.ui_state))

        def on_tip_added(self, tip_amount: int) -> None:
            seen.append(("tip", tip_amount))

        def on_verify_signature_request(self, request: VerifySignature) -> None:
            seen.append(("signature", request.payment.id if request.payment else None))

        def on_message(self, message: Any) -> None:
            seen.append(("message", message.method))

    fake = FakeDevice(
        fail_pairing=1,
        not_ready_first=True,
        after_discovery=[
            UiStateMessage(ui_state="START", ui_direction="ENTER"),
            UiStateMessage(ui_state="RECEIPT_OPTIONS", ui_direction="EXIT"),
            TipAdded(tip_amount=150),
            VerifySignature(payment=Payment(id="P1")),
            PrintPayment(payment=Payment(id="P1")),
            Ping(),
        ],
    )
    listener = Listener()
    async with fake.running() as url, CloverConnector(config(url), listener) as c:
        status = await c.retrieve_device_status()  # round trip after the extras
        assert status.success
    assert ("error", "PairingFailed") in listener.calls
    assert listener.names().count("connected") == 2  # socket open + ready=false
    assert seen[:5] == [
        ("start", "START"),
        ("end", "RECEIPT_OPTIONS"),
        ("tip", 150),
        ("signature", "P1"),
        ("message", "PRINT_PAYMENT"),
    ]
    assert "SHOW_WELCOME_SCREEN" in fake.methods()  # after the receipt screen closed
    assert fake.methods().count("PAIRING_REQUEST") == 2
    assert fake.pongs == 1  # the connector answered the device's PING
