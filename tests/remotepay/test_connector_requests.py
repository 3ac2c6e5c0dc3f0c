"""Every connector request against the emulated device, plus the not-ready paths."""

from __future__ import annotations

from typing import Any

import pytest

from cloverpay.remotepay import (
    CapturePreAuthRequest,
    CloverConnector,
    IncrementPreAuthRequest,
    ManualRefundRequest,
    NotReadyError,
    ResponseCode,
    SaleRequest,
    TipAdjustAuthRequest,
    VoidPaymentRequest,
)
from cloverpay.remotepay.protocol import KeyPress, Payment, VoidReason

from .device import FakeDevice
from .test_connector import Recorder, config

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_maintenance_requests() -> None:
    fake = FakeDevice()
    listener = Recorder()
    async with fake.running() as url, CloverConnector(config(url), listener) as c:
        tip = await c.tip_adjust_auth(TipAdjustAuthRequest(payment_id="P1", tip_amount=600))
        cap = await c.capture_pre_auth(
            CapturePreAuthRequest(payment_id="P2", amount=11_000, tip_amount=1000)
        )
        inc = await c.increment_pre_auth(IncrementPreAuthRequest(payment_id="P2", amount=2500))
        close = await c.closeout(batch_id="B1")
        pending = await c.retrieve_pending_payments()
        await c.show_message("hello")
        await c.show_welcome_screen()
        await c.show_thank_you_screen()
        await c.print_text(["a", "b"], print_job_id="job-1")
        await c.invoke_input_option(KeyPress.ESC)
        await c.reject_signature(Payment(id="P1"))
        await c.accept_signature(Payment(id="P1"))
        # a round trip last: the device handles frames in order, so all were seen
        status = await c.retrieve_device_status(send_last_message=True)
    assert (tip.success, tip.tip_amount, tip.payment_id) == (True, 600, "P1")
    assert (cap.success, cap.amount, cap.tip_amount) == (True, 11_000, 1000)
    assert inc.success
    assert inc.authorization is not None
    assert inc.authorization.amount == 2500
    assert close.success
    assert close.batch is not None
    assert [p.payment_id for p in pending.pending_payments] == ["PEND1"]
    assert (status.state, status.data) == ("IDLE", {"externalPaymentId": "x"})
    assert len(listener.responses) == 6
    for method in ("TERMINAL_MESSAGE", "SHOW_WELCOME_SCREEN", "PRINT_TEXT", "KEY_PRESS"):
        assert method in fake.methods()
    assert fake.methods().count("SIGNATURE_VERIFIED") == 2


@pytest.mark.parametrize(
    ("supports", "expected"),
    [
        ({"supports_void_payment_response": False}, "ack"),
        ({"supports_void_payment_response": False, "supports_acknowledgement": False}, "none"),
    ],
)
async def test_void_without_void_response(supports: dict[str, bool], expected: str) -> None:
    fake = FakeDevice(supports=supports)
    async with fake.running() as url, CloverConnector(config(url)) as c:
        void = await c.void_payment(
            VoidPaymentRequest(payment_id="P9", order_id="O9", void_reason=VoidReason.FRAUD)
        )
    assert void.success
    assert void.payment is not None
    assert void.payment.id == "P9"
    (sent,) = [m for m in fake.received if m.method == "VOID_PAYMENT"]
    assert sent.void_reason is VoidReason.FRAUD  # type: ignore[attr-defined]


async def test_reject_payment_ends_with_cancel() -> None:
    fake = FakeDevice(mode="challenge")
    listener = Recorder()
    async with fake.running() as url, CloverConnector(config(url), listener) as c:
        import asyncio

        sale = asyncio.create_task(c.sale(SaleRequest(amount=1, external_id="rj")))
        async with asyncio.timeout(30):
            await listener.confirm_asked.wait()
        assert listener.confirm is not None
        assert listener.confirm.payment is not None
        await c.reject_payment(listener.confirm.payment, VoidReason.REJECT_DUPLICATE)
        response = await sale
    assert response.result is ResponseCode.CANCEL


async def test_capability_and_validation_refusals() -> None:
    fake = FakeDevice(
        supports={
            "supports_tip_adjust": False,
            "supports_pre_auth": False,
            "supports_manual_refund": False,
            "supports_vault_card": False,
        }
    )
    async with fake.running() as url, CloverConnector(config(url)) as c:
        results: list[Any] = [
            await c.tip_adjust_auth(TipAdjustAuthRequest(payment_id="P", tip_amount=1)),
            await c.capture_pre_auth(CapturePreAuthRequest(payment_id="P", amount=1)),
            await c.manual_refund(ManualRefundRequest(amount=1, external_id="m")),
        ]
        invalid: list[Any] = [
            await c.tip_adjust_auth(TipAdjustAuthRequest(payment_id="", tip_amount=1)),
            await c.tip_adjust_auth(TipAdjustAuthRequest(payment_id="P", tip_amount=-1)),
            await c.capture_pre_auth(CapturePreAuthRequest(payment_id="", amount=1)),
            await c.capture_pre_auth(CapturePreAuthRequest(payment_id="P", amount=-1)),
            await c.increment_pre_auth(IncrementPreAuthRequest(payment_id="", amount=1)),
            await c.increment_pre_auth(IncrementPreAuthRequest(payment_id="P", amount=0)),
            await c.void_payment(VoidPaymentRequest(payment_id="")),
        ]
    assert [r.result for r in results] == [ResponseCode.UNSUPPORTED] * 3
    assert {r.result for r in invalid} == {ResponseCode.FAIL}
    sent = set(fake.methods())
    assert not sent & {"TIP_ADJUST", "CAPTURE_PREAUTH", "TX_START", "INCREMENT_PREAUTH_REQUEST"}


async def test_everything_answers_not_connected_before_ready() -> None:
    c = CloverConnector(config("ws://127.0.0.1:9/remote_pay", reconnect_delay=None))
    results: list[Any] = [
        await c.tip_adjust_auth(TipAdjustAuthRequest(payment_id="P", tip_amount=1)),
        await c.capture_pre_auth(CapturePreAuthRequest(payment_id="P", amount=1)),
        await c.increment_pre_auth(IncrementPreAuthRequest(payment_id="P", amount=1)),
        await c.void_payment(VoidPaymentRequest(payment_id="P")),
        await c.closeout(),
        await c.retrieve_payment("x"),
        await c.retrieve_pending_payments(),
        await c.retrieve_device_status(),
        await c.reset_device(),
    ]
    assert {r.result for r in results} == {ResponseCode.ERROR}
    assert all("not connected" in (r.message or "") for r in results)
    with pytest.raises(NotReadyError):
        await c.show_message("x")
    with pytest.raises(NotReadyError):
        await c.connect(timeout=5)  # nothing listens on port 9; no reconnect configured
    await c.close()


async def test_a_second_transaction_while_one_is_open_is_refused() -> None:
    fake = FakeDevice(mode="silent")
    async with fake.running() as url, CloverConnector(config(url)) as c:
        import asyncio

        first = asyncio.create_task(c.sale(SaleRequest(amount=1, external_id="one"), timeout=60))
        async with asyncio.timeout(30):  # the first is on the device (not a guess of when)
            while "TX_START" not in fake.methods():  # noqa: ASYNC110 (no event)
                await asyncio.sleep(0.01)
        second = await c.sale(SaleRequest(amount=1, external_id="two"))
        assert (second.result, second.reason) == (ResponseCode.ERROR, "Device Busy")
        first.cancel()
    assert fake.methods().count("TX_START") == 1


async def test_remote_error_and_protocol_errors_reach_on_device_error() -> None:
    fake = FakeDevice()
    listener = Recorder()
    async with fake.running() as url, CloverConnector(config(url), listener) as c:
        await c.show_message("boom")  # the emulated device answers with REMOTE_ERROR
        assert c._core is not None
        c._receive('{"id":"x","type":"COMMAND","method":"TX_START","payload":"{}"}')
        import asyncio

        def codes() -> list[str | None]:
            return [v for k, v in listener.calls if k == "error"]

        async with asyncio.timeout(30):  # both reported, however busy the machine
            while not {"UnknownError", "RemoteProtocolError"} <= set(codes()):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    assert "UnknownError" in codes()
    assert "RemoteProtocolError" in codes()


async def test_custom_activity_and_its_messages() -> None:
    fake = FakeDevice()
    listener = Recorder()
    seen: list[Any] = []
    listener.on_message = seen.append  # type: ignore[method-assign]
    async with fake.running() as url, CloverConnector(config(url), listener) as c:
        await c.send_message_to_activity("com.example.A", "ping")
        result = await c.start_custom_activity("com.example.A", '{"q":1}')
    assert result.success
    assert (result.action, result.payload) == ("com.example.A", 'echo:{"q":1}')
    assert [m.method for m in seen] == ["ACTIVITY_MESSAGE_FROM_ACTIVITY"]
    assert "ACTIVITY_MESSAGE_TO_ACTIVITY" in fake.methods()


async def test_vault_card_unsupported_and_cards_not_ready() -> None:
    fake = FakeDevice(supports={"supports_vault_card": False})
    async with fake.running() as url, CloverConnector(config(url)) as c:
        vaulted = await c.vault_card()
    assert vaulted.result is ResponseCode.UNSUPPORTED
    idle = CloverConnector(config("ws://127.0.0.1:9/remote_pay", reconnect_delay=None))
    assert (await idle.read_card_data()).result is ResponseCode.ERROR
    assert (await idle.vault_card()).result is ResponseCode.ERROR
    assert (await idle.start_custom_activity("a")).result is ResponseCode.ERROR


@pytest.mark.parametrize("version", [2, 1])
async def test_print_image_fragmented_or_inline(version: int) -> None:
    import base64
    import os

    png = b"\x89PNG\r\n\x1a\n" + os.urandom(90_000)
    fake = FakeDevice(max_version=version)
    async with fake.running() as url, CloverConnector(config(url)) as c:
        await c.print_image(png, print_job_id="img-1")
        await c.retrieve_device_status()  # a round trip: the image was handled
    (sent,) = [m for m in fake.received if m.method == "PRINT_IMAGE"]
    if version == 2:
        assert sent.png is None  # type: ignore[attr-defined]
        assert [base64.b64decode(a) for a in fake.attachments] == [png]
    else:
        assert base64.b64decode(sent.png) == png  # type: ignore[attr-defined]
        assert fake.attachments == []


async def test_printers_job_status_and_cash_drawer() -> None:
    fake = FakeDevice()
    async with fake.running() as url, CloverConnector(config(url)) as c:
        await c.open_cash_drawer("change", printer_id="PRN1")
        printers = await c.retrieve_printers(category="RECEIPT")
        job = await c.retrieve_print_job_status("job-1")
    assert [p.id for p in printers.printers] == ["PRN1"]
    assert (job.print_request_id, job.status) == ("job-1", "DONE")
    (drawer,) = [m for m in fake.received if m.method == "OPEN_CASH_DRAWER"]
    assert drawer.printer is not None  # type: ignore[attr-defined]
    idle = CloverConnector(config("ws://127.0.0.1:9/remote_pay", reconnect_delay=None))
    assert (await idle.retrieve_printers()).result is ResponseCode.ERROR
    assert (await idle.retrieve_print_job_status("j")).result is ResponseCode.ERROR
