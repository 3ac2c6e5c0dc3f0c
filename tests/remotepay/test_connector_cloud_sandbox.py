"""The connector's Cloud Pay Display path against the sandbox's emulation of Clover's
cloud, over real sockets: the notify call on the sandbox's HTTP port, the OPTIONS
probe and the proxy websocket on the terminal's port, no pairing, a sale recorded in
the merchant's v3 view; a second POS is refused while the first holds the device."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from cloverpay.remotepay import (
    CloudSettings,
    CloverConnector,
    CloverConnectorListener,
    ConnectorConfig,
    DeviceErrorEvent,
    NotReadyError,
    SaleRequest,
)
from cloverpay.sandbox import Sandbox, SandboxServer
from cloverpay.sandbox._platform import PlatformStore
from cloverpay.sandbox.terminal import terminal_for

from .test_connector import RAID

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]

#: a deadline for what the sandbox does in the background (a hang, not a timing)
WAIT_S = 60


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    sandbox = Sandbox(seed=13)
    with SandboxServer(sandbox, terminal_port=0) as srv:
        yield srv
    sandbox.close()


class Seen(CloverConnectorListener):
    def __init__(self) -> None:
        self.codes: list[str] = []
        self.errors: list[str] = []

    def on_pairing_code(self, pairing_code: str) -> None:
        self.codes.append(pairing_code)

    def on_device_error(self, error: DeviceErrorEvent) -> None:
        self.errors.append(error.code)


def cloud_config(server: SandboxServer, friendly_id: str, **kw: Any) -> ConnectorConfig:
    c = server.credentials
    device_id = terminal_for(server.sandbox.state).settings.device_id
    return ConnectorConfig(
        url=c.base_url,
        remote_application_id=RAID,
        allow_plain_ws=True,
        heartbeat_interval=None,
        reconnect_delay=None,
        request_timeout=WAIT_S,
        cloud=CloudSettings(
            merchant_id=c.merchant_id,
            device_id=device_id,
            access_token=c.access_token,
            friendly_id=friendly_id,
            **kw,
        ),
    )


async def test_cloud_sale_through_the_sandbox(server: SandboxServer) -> None:
    listener = Seen()
    async with CloverConnector(cloud_config(server, "front-desk"), listener) as c:
        assert c.merchant_info is not None
        sale = await c.sale(SaleRequest(amount=1500, external_id="cloud-sbx-1"))
        other = Seen()
        second = CloverConnector(cloud_config(server, "back-office"), other)
        with pytest.raises(NotReadyError):  # AccessDenied stops the connection loop
            await second.connect(timeout=WAIT_S)
        await second.close()
    assert sale.success, sale
    assert listener.codes == []  # no pairing on the cloud path
    assert "AccessDenied" in other.errors
    state = server.sandbox.state
    with state.lock:
        found = state.domain(PlatformStore).by_external(state.merchant.merchant_id, "cloud-sbx-1")
    assert [p["amount"] for p in found] == [1500]


async def test_force_connect_takes_the_device_and_interrupts_the_other_pos(
    server: SandboxServer,
) -> None:
    first_seen = Seen()
    first = CloverConnector(cloud_config(server, "front-desk"), first_seen)
    await first.connect(timeout=WAIT_S)
    forced_seen = Seen()
    async with CloverConnector(
        cloud_config(server, "back-office", force_connect=True), forced_seen
    ) as c:
        # the first POS hears who took the device and stops, without reconnecting
        assert first._runner is not None
        await asyncio.wait_for(first._runner, WAIT_S)
        assert "Interrupted" in first_seen.errors
        assert not first.is_ready
        sale = await c.sale(SaleRequest(amount=700, external_id="cloud-forced-1"))
        assert sale.success, sale
    await first.close()
    assert "AccessDenied" not in forced_seen.errors
    forced = server.sandbox.state.events.list("terminal_force_connect")
    assert [e["friendly_id"] for e in forced] == ["back-office"]
