"""RELIABILITY scenario 8 over real sockets: the device drops the socket or reboots
mid-sale; the connector never re-sends the sale, looks it up on the device, then
through the REST API (cloverpay.api against the sandbox's HTTP server), and ends with
exactly one payment or a reported UNKNOWN."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from cloverpay.api import AsyncCloverClient
from cloverpay.remotepay import (
    CloverConnector,
    ConnectorConfig,
    DeviceErrorEvent,
    OutcomeUnknownError,
    PaymentOutcome,
    ResponseCode,
    SaleRequest,
    SaleResponse,
    rest_payment_lookup,
)
from cloverpay.sandbox import Sandbox, SandboxServer
from cloverpay.sandbox._platform import PlatformStore
from cloverpay.sandbox.terminal import CustomerScript, Terminal, terminal_for

from .test_connector import RAID, Recorder

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    sandbox = Sandbox(seed=11)
    with SandboxServer(sandbox, terminal_port=0) as srv:
        yield srv
    sandbox.close()


@pytest.fixture
async def rest(server: SandboxServer) -> AsyncIterator[AsyncCloverClient]:
    c = server.credentials
    async with AsyncCloverClient(
        c.access_token, merchant_id=c.merchant_id, base_url=c.base_url, rate_limit=None
    ) as client:
        yield client


def cfg(url: str, **kw: Any) -> ConnectorConfig:
    values: dict[str, Any] = {
        "url": url,
        "remote_application_id": RAID,
        "allow_plain_ws": True,
        "heartbeat_interval": None,
        "reconnect_delay": 0.05,
        # deadlines for a hang: a recovery ends as soon as the device is back and idle
        "request_timeout": 60.0,
        "recovery_timeout": 30.0,
    }
    return ConnectorConfig(**(values | kw))


def terminal(server: SandboxServer) -> Terminal:
    return terminal_for(server.sandbox.state)


def payments(server: SandboxServer, external_id: str) -> list[dict[str, Any]]:
    """What the merchant's v3 view holds for that externalPaymentId."""
    state = server.sandbox.state
    with state.lock:
        return state.domain(PlatformStore).by_external(state.merchant.merchant_id, external_id)


def tx_starts(server: SandboxServer) -> int:
    return len(server.sandbox.state.events.list("terminal_tx_start"))


async def test_drop_mid_sale_is_recovered_from_the_device(server: SandboxServer) -> None:
    assert server.terminal_url is not None
    listener = Recorder()
    terminal(server).push_script(CustomerScript(outcome="drop_socket"))
    async with CloverConnector(cfg(server.terminal_url), listener) as c:
        sale = await c.sale(SaleRequest(amount=1234, external_id="rec-drop-1"))
    assert sale.success, sale
    assert sale.recovery is not None
    assert (sale.recovery.outcome, sale.recovery.source) == (PaymentOutcome.PAID, "device")
    assert sale.payment is not None
    assert sale.payment.amount == 1234
    assert "disconnected" in listener.names()
    found = payments(server, "rec-drop-1")
    assert [p["id"] for p in found] == [sale.payment.id]
    assert listener.responses[-1] is sale


async def test_reboot_after_auth_is_recovered_from_the_device(server: SandboxServer) -> None:
    assert server.terminal_url is not None
    terminal(server).push_script(CustomerScript(outcome="reboot_mid_sale", stage="after_auth"))
    async with CloverConnector(cfg(server.terminal_url)) as c:
        sale = await c.sale(SaleRequest(amount=4200, external_id="rec-boot-1"))
    assert sale.success
    assert sale.recovery is not None
    assert sale.recovery.source == "device"
    assert len(payments(server, "rec-boot-1")) == 1


async def test_reboot_the_device_forgot_is_recovered_through_the_rest_api(
    server: SandboxServer, rest: AsyncCloverClient
) -> None:
    assert server.terminal_url is not None
    t = terminal(server)
    t.settings.retrieve_scope = "boot"  # the rebooted device no longer knows the sale
    t.push_script(CustomerScript(outcome="reboot_mid_sale", stage="after_auth"))
    async with CloverConnector(
        cfg(server.terminal_url), rest_lookup=rest_payment_lookup(rest)
    ) as c:
        sale = await c.sale(SaleRequest(amount=5100, external_id="rec-rest-1"))
        on_device = await c.retrieve_payment("rec-rest-1")
    assert on_device.query_status == "NOT_FOUND"
    assert sale.success, sale
    assert sale.recovery is not None
    assert (sale.recovery.outcome, sale.recovery.source) == (PaymentOutcome.PAID, "rest")
    assert "does not know it" in sale.recovery.reason
    found = payments(server, "rec-rest-1")
    assert len(found) == 1
    assert sale.payment is not None
    assert (sale.payment.id, sale.payment.amount) == (found[0]["id"], 5100)


async def test_reboot_before_the_charge_is_proved_unpaid_then_retried_once(
    server: SandboxServer, rest: AsyncCloverClient
) -> None:
    assert server.terminal_url is not None
    t = terminal(server)
    t.settings.retrieve_scope = "boot"
    t.push_script(CustomerScript(outcome="reboot_mid_sale", stage="card_read"))
    async with CloverConnector(
        cfg(server.terminal_url), rest_lookup=rest_payment_lookup(rest)
    ) as c:
        first = await c.sale(SaleRequest(amount=800, external_id="rec-none-1"))
        starts = tx_starts(server)
        # proved unpaid: the POS may retry, with the same externalPaymentId
        retry = await c.sale(SaleRequest(amount=800, external_id="rec-none-1"))
    assert (first.success, first.result, first.reason) == (False, ResponseCode.CANCEL, "NOT_PAID")
    assert first.recovery is not None
    assert first.recovery.outcome is PaymentOutcome.NOT_PAID
    assert starts == 1  # the recovery itself sent no TX_START
    assert retry.success
    assert len(payments(server, "rec-none-1")) == 1


async def test_unprovable_outcome_is_unknown_not_failed(server: SandboxServer) -> None:
    """The device forgot (reboot) and no REST lookup is configured: UNKNOWN."""
    assert server.terminal_url is not None
    t = terminal(server)
    t.settings.retrieve_scope = "boot"
    t.push_script(CustomerScript(outcome="reboot_mid_sale", stage="after_auth"))
    async with CloverConnector(cfg(server.terminal_url)) as c:
        with pytest.raises(OutcomeUnknownError) as info:
            await c.sale(SaleRequest(amount=300, external_id="rec-unk-1"))
    assert info.value.external_id == "rec-unk-1"
    resolution = info.value.resolution
    assert resolution is not None
    assert resolution.outcome is PaymentOutcome.UNKNOWN
    assert "no REST lookup" in resolution.reason
    assert tx_starts(server) == 1
    assert len(payments(server, "rec-unk-1")) == 1  # it was charged: unknown, not failed


async def test_a_sale_still_in_progress_stays_unknown(server: SandboxServer) -> None:
    """The answer timed out while the customer has not acted: the device says
    IN_PROGRESS, so the outcome is UNKNOWN and nothing is sent again."""
    assert server.terminal_url is not None
    terminal(server).push_script(CustomerScript(outcome="never_act"))
    # the device keeps saying IN_PROGRESS: the recovery budget is spent in full (long
    # enough for a loaded machine to get the device's first answer)
    async with CloverConnector(cfg(server.terminal_url, recovery_timeout=3.0)) as c:
        with pytest.raises(OutcomeUnknownError) as info:
            await c.sale(SaleRequest(amount=300, external_id="rec-slow-1"), timeout=0.3)
        assert info.value.resolution is not None
        assert "still working on it" in info.value.resolution.reason
        later = await c.resolve_payment("rec-slow-1", timeout=0.5)
        assert later.outcome is PaymentOutcome.UNKNOWN
        await c.reset_device()
    assert tx_starts(server) == 1
    assert payments(server, "rec-slow-1") == []


async def test_a_result_arriving_during_recovery_reaches_the_listener(
    server: SandboxServer,
) -> None:
    """The answer timed out; while the connector looks the sale up, the customer taps
    after all: the late FINISH_OK reaches the listener, the lookup finds the payment,
    and the sale was sent once."""
    assert server.terminal_url is not None
    t = terminal(server)

    class TapWhenRecovering(Recorder):
        def on_device_error(self, error: DeviceErrorEvent) -> None:
            super().on_device_error(error)
            if error.code == "Recovering":
                t.post_input("tap")

    listener = TapWhenRecovering()
    t.push_script(CustomerScript(outcome="never_act"))
    async with CloverConnector(cfg(server.terminal_url), listener) as c:
        sale = await c.sale(SaleRequest(amount=650, external_id="rec-late-1"), timeout=0.3)
    assert sale.success, sale
    assert sale.recovery is not None
    assert sale.recovery.source == "device"
    late = [r for r in listener.responses if isinstance(r, SaleResponse) and r is not sale]
    assert sale.payment is not None
    assert [(r.recovery, r.payment.id if r.payment else None) for r in late] == [
        (None, sale.payment.id)
    ]
    assert tx_starts(server) == 1
    assert len(payments(server, "rec-late-1")) == 1


async def test_an_unknown_attempt_blocks_its_id_until_resolved(
    server: SandboxServer, rest: AsyncCloverClient
) -> None:
    """RELIABILITY rule 2: a new sale reusing an externalPaymentId whose outcome is
    UNKNOWN is refused locally (nothing sent) until a lookup resolves it."""
    assert server.terminal_url is not None
    terminal(server).push_script(CustomerScript(outcome="never_act"))
    config = cfg(server.terminal_url, recovery_timeout=0.6)
    async with CloverConnector(config, rest_lookup=rest_payment_lookup(rest)) as c:
        with pytest.raises(OutcomeUnknownError):
            await c.sale(SaleRequest(amount=300, external_id="rec-block-1"), timeout=0.3)
        assert c.unknown_external_ids == {"rec-block-1"}
        refused = await c.sale(SaleRequest(amount=300, external_id="rec-block-1"))
        other = await c.sale(SaleRequest(amount=300, external_id="rec-block-2"))
        assert (refused.success, refused.result, refused.reason) == (
            False,
            ResponseCode.FAIL,
            "Outcome Unknown",
        )
        await c.reset_device()  # the customer never came: the device drops the sale
        resolved = await c.resolve_payment("rec-block-1")
        retry = await c.sale(SaleRequest(amount=300, external_id="rec-block-1"))
    # the device was still in the first sale: another id is refused as busy, not sent
    assert (other.result, other.reason) == (ResponseCode.ERROR, "Device Busy")
    assert resolved.outcome is PaymentOutcome.NOT_PAID
    assert c.unknown_external_ids == set()
    assert retry.success
    assert tx_starts(server) == 2  # the first and the retry; never the refused one
    assert len(payments(server, "rec-block-1")) == 1
