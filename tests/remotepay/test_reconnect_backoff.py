"""Reconnection backs off: the delay doubles while attempts fail, up to a ceiling, and
starts again from the first delay once a device was ready."""

from __future__ import annotations

import asyncio
import socket

import pytest

from cloverpay.remotepay import (
    CloverConnector,
    CloverConnectorListener,
    ConnectorConfig,
    DeviceErrorEvent,
)

from .test_connector import RAID


def config(**kw: object) -> ConnectorConfig:
    return ConnectorConfig(
        url="ws://127.0.0.1:9/remote_pay",
        remote_application_id=RAID,
        allow_plain_ws=True,
        **kw,  # type: ignore[arg-type]
    )


def test_delays_double_up_to_the_ceiling() -> None:
    cfg = config(reconnect_delay=1.0, reconnect_max_delay=5.0)
    delays: list[float | None] = []
    current = None
    for _ in range(6):
        current = cfg.next_reconnect_delay(current)
        delays.append(current)
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert cfg.next_reconnect_delay(None) == 1.0  # after a ready device: from the start
    assert config(reconnect_delay=None).next_reconnect_delay(3.0) is None


def test_bad_backoff_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="reconnect_delay"):
        config(reconnect_delay=-1.0)
    with pytest.raises(ValueError, match="reconnect_max_delay"):
        config(reconnect_max_delay=0.0)


class Errors(CloverConnectorListener):
    def __init__(self, want: int) -> None:
        self.codes: list[str] = []
        self.want = want
        self.enough = asyncio.Event()

    def on_device_error(self, error: DeviceErrorEvent) -> None:
        self.codes.append(error.code)
        if len(self.codes) >= self.want:
            self.enough.set()


@pytest.mark.anyio
async def test_keeps_trying_an_absent_device() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = ConnectorConfig(
        url=f"ws://127.0.0.1:{port}/remote_pay",
        remote_application_id=RAID,
        allow_plain_ws=True,
        reconnect_delay=0.01,
        reconnect_max_delay=0.04,
    )
    listener = Errors(want=4)
    connector = CloverConnector(cfg, listener)
    await connector.connect(wait_ready=False)
    async with asyncio.timeout(20):
        await listener.enough.wait()
    assert not connector.is_ready
    await connector.close()
    assert set(listener.codes) == {"NotConnected"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
