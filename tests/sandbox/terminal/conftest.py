from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from cloverpay.sandbox import Sandbox
from cloverpay.sandbox.terminal import Terminal, TerminalServer, terminal_for

from .pos import MiniPos


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    sb = Sandbox(seed=11)
    yield sb
    sb.close()


@pytest.fixture
def terminal(sandbox: Sandbox) -> Terminal:
    return terminal_for(sandbox.state)


@pytest.fixture
async def server(sandbox: Sandbox) -> AsyncIterator[TerminalServer]:
    async with TerminalServer(sandbox) as srv:
        yield srv


@pytest.fixture
async def pos(server: TerminalServer) -> AsyncIterator[MiniPos]:
    client = await MiniPos.connect(server.url)
    try:
        await client.ready()
        yield client
    finally:
        await client.close()


@pytest.fixture
async def http(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with sandbox.async_client() as client:
        yield client


async def v3_payments(
    http: httpx.AsyncClient, sandbox: Sandbox, external_id: str
) -> list[dict[str, Any]]:
    mid = sandbox.state.merchant.merchant_id
    resp = await http.get(
        f"/v3/merchants/{mid}/payments", params={"filter": f"externalPaymentId={external_id}"}
    )
    assert resp.status_code == 200, resp.text
    elements: list[dict[str, Any]] = resp.json()["elements"]
    return elements
