"""Nothing secret reaches the logs at any level: the cloud OAuth token (sent as the
websocket sub-protocol and echoed back), the proxy token in the websocket URL, the
pairing auth token, through our loggers, websockets' and httpx's."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from cloverpay.remotepay import (
    CloverConnector,
    ConnectorConfig,
    MemoryTokenStore,
    SaleRequest,
)
from cloverpay.sandbox import Sandbox, SandboxServer
from cloverpay.sandbox.terminal import terminal_for

from .test_connector import RAID
from .test_connector_cloud_sandbox import Seen, cloud_config

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    sandbox = Sandbox(seed=29)
    with SandboxServer(sandbox, terminal_port=0) as srv:
        yield srv
    sandbox.close()


def _everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(str(record.args))
        if record.exc_text:
            parts.append(record.exc_text)
    return "\n".join(parts)


async def test_cloud_connection_logs_no_token_at_debug(
    server: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    access_token = server.credentials.access_token
    async with CloverConnector(cloud_config(server, "front-desk"), Seen()) as c:
        sale = await c.sale(SaleRequest(amount=1200, external_id="log-redact-1"))
    assert sale.success
    proxy_tokens = list(terminal_for(server.sandbox.state).cloud_tokens)
    assert proxy_tokens
    logged = _everything_logged(caplog)
    assert "websockets" in {r.name.split(".")[0] for r in caplog.records}  # DEBUG was on
    assert "Sec-WebSocket-Protocol" in logged  # the handshake was logged ...
    assert access_token not in logged  # ... without the token
    for token in proxy_tokens:
        assert token not in logged


async def test_direct_pairing_logs_no_auth_token_at_debug(
    server: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store = MemoryTokenStore()
    config = ConnectorConfig(
        url=server.terminal.url,
        remote_application_id=RAID,
        allow_plain_ws=True,
        heartbeat_interval=None,
        reconnect_delay=None,
    )
    async with CloverConnector(config, token_store=store):
        pass
    token = store.load()
    assert token
    logged = _everything_logged(caplog)
    assert "websockets" in {r.name.split(".")[0] for r in caplog.records}
    assert token not in logged
