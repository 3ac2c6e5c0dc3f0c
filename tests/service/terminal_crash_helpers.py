"""What the real-crash terminal tests share: a merchant with an emulated terminal over a
real socket, ``cloverpay serve`` processes that renew their leases quickly
(``CLOVERPAY_TERMINAL_LEASE_S``), and the steps through the API a sale takes. The
fixture is imported by name into the test modules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cloverpay.sandbox import Sandbox, SandboxServer
from cloverpay.service.core.config import Settings
from cloverpay.service.migrate import upgrade
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.merchants import connect_merchant, create_api_key
from cloverpay.service.services.terminals import register_terminal

from .terminal_helpers import wait_for

LEASE_S = 2.0
#: a deadline for what the processes do in the background (a hang, not a timing)
WAIT_S = 120.0

#: (settings, the sandbox, an API key's secret, the terminal's id)
World = tuple[Settings, Sandbox, str, str]


@pytest.fixture
def world(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    # every service process started here renews its leases every 0.2 s for 2 s
    monkeypatch.setenv("CLOVERPAY_TERMINAL_LEASE_S", str(LEASE_S))
    monkeypatch.setenv("CLOVERPAY_TERMINAL_TICK_S", "0.2")
    upgrade(settings.database_url)
    with Sandbox(seed=11) as sandbox, SandboxServer(sandbox, terminal_port=0) as server:
        assert server.terminal_url is not None
        ctx = ServiceContext.build(settings, retry=0, rate_limit=False)
        creds = server.credentials
        merchant = connect_merchant(
            ctx,
            name="Crash Counter",
            clover_merchant_id=creds.merchant_id,
            access_token=creds.access_token,
            pakms_key=creds.api_access_key,
            clover_base_url=creds.base_url,
        )
        key = create_api_key(ctx, merchant.id)
        terminal = register_terminal(
            ctx, merchant.id, name="Counter", url=server.terminal_url, actor="test"
        )
        ctx.close()
        yield settings, sandbox, key.secret, terminal.id


def start_sale(
    api: httpx.Client, terminal_id: str, amount: int, key: str
) -> tuple[str, dict[str, Any]]:
    """Once the process behind ``api`` has the terminal ready: a new invoice of
    ``amount``, opened, and a sale of it queued (202). The invoice id and the sale."""
    wait_for(
        lambda: api.get(f"/v1/terminals/{terminal_id}").json()["status"] == "ready",
        WAIT_S,
        "the process to pair with the terminal",
    )
    inv = api.post(
        "/v1/invoices", json={"line_items": [{"description": "Repair", "unit_amount": amount}]}
    ).json()
    assert api.post(f"/v1/invoices/{inv['id']}/open").status_code == 200
    sale = api.post(
        "/v1/terminal_sales",
        json={"invoice_id": inv["id"], "terminal_id": terminal_id},
        headers={"Idempotency-Key": key},
    )
    assert sale.status_code == 202, sale.text
    return inv["id"], sale.json()


def final_sale(api: httpx.Client, sale_id: str, what: str) -> dict[str, Any]:
    """The sale once its attempt is final (succeeded or failed)."""

    def done() -> dict[str, Any] | None:
        got: dict[str, Any] = api.get(f"/v1/terminal_sales/{sale_id}").json()
        return got if got["state"] in ("succeeded", "failed") else None

    result: dict[str, Any] = wait_for(done, WAIT_S, what)
    return result


def received(sandbox: Sandbox, method: str) -> int:
    """How many ``method`` messages the emulated device received."""
    events = sandbox.state.events.list("terminal_received")
    return sum(1 for e in events if e["method"] == method)
