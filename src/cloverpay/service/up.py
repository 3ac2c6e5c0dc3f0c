"""``cloverpay up``: the payments service and the built-in Clover sandbox, ready to use.

Everything lives under ``./.cloverpay/`` (SQLite database, a generated secret key, the
demo API key): migrations are applied, a demo merchant is connected to the sandbox,
and a staff login, an API key, a few customers and invoices are seeded once (running
``up`` again reuses them). Without SMTP settings emails are captured in the outbox,
which the dashboard shows; a background worker delivers due emails every second.

The sandbox keeps its state in memory: Clover-side objects (orders of invoices opened
in an earlier run, saved cards) start afresh on each ``up``; the service's own records
are kept.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import func, select

__all__ = ["DEMO_PASSWORD", "DEMO_STAFF_EMAIL", "UpInfo", "prepare", "run_up"]

DEMO_STAFF_EMAIL = "owner@demo.cloverpay.test"
DEMO_PASSWORD = "cloverpay-demo"
SANDBOX_SEED = 4242


@dataclass(frozen=True)
class UpInfo:
    dashboard_url: str
    api_url: str
    api_key: str
    staff_email: str
    staff_password: str
    sandbox_url: str
    terminal_url: str | None
    data_dir: Path

    def __repr__(self) -> str:
        return f"UpInfo(dashboard_url={self.dashboard_url!r})"


def _secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    key = Fernet.generate_key().decode()
    path.write_text(key)
    os.chmod(path, 0o600)
    return key


def _seed(ctx: object, merchant_id: str) -> None:
    from cloverpay.service.db import Customer
    from cloverpay.service.services.context import ServiceContext
    from cloverpay.service.services.customers import create_customer
    from cloverpay.service.services.invoices import LineItemInput, create_invoice

    assert isinstance(ctx, ServiceContext)
    with ctx.sessions() as s:
        if s.scalar(
            select(func.count()).select_from(Customer).where(Customer.merchant_id == merchant_id)
        ):
            return
    people = [
        ("Ada Lovelace", "ada@example.com", "+1 555 0100"),
        ("Grace Hopper", "grace@example.com", "+1 555 0101"),
        ("Alan Turing", "alan@example.com", None),
    ]
    customers = [
        create_customer(ctx, merchant_id, name=n, email=e, phone=p, actor="seed")
        for n, e, p in people
    ]
    jobs = [
        (customers[0], [("Water heater flush", 1, 12900), ("Anode rod", 1, 4500)], 1389),
        (customers[1], [("Drain cleaning", 1, 18900)], 1512),
        (customers[2], [("Service call", 1, 8900), ("Labor (hour)", 2, 9500)], 2232),
    ]
    # Drafts: "Send payment link" opens them, creating the Clover order in the sandbox
    # that runs now (the sandbox's state does not outlive the process).
    for customer, items, tax in jobs:
        create_invoice(
            ctx,
            merchant_id,
            line_items=[LineItemInput(d, q, u) for d, q, u in items],
            tax_amount=tax,
            customer_id=customer.id,
            actor="seed",
        )


def prepare(
    *, data_dir: Path, host: str, port: int, sandbox_port: int, terminal: bool
) -> tuple[UpInfo, object, object]:
    """Start the sandbox, migrate, seed; returns (info, app, sandbox server)."""
    from cloverpay.sandbox import Sandbox, SandboxServer
    from cloverpay.service.api import create_app
    from cloverpay.service.core.config import Settings
    from cloverpay.service.core.security import hash_api_key
    from cloverpay.service.dashboard import create_staff_user
    from cloverpay.service.db import ApiKeyRow
    from cloverpay.service.migrate import upgrade
    from cloverpay.service.services.context import ServiceContext
    from cloverpay.service.services.merchants import connect_merchant, create_api_key
    from cloverpay.service.web import WebSettings

    data_dir.mkdir(parents=True, exist_ok=True)
    sandbox = Sandbox(seed=SANDBOX_SEED)
    server = SandboxServer(sandbox, host, sandbox_port, terminal_port=0 if terminal else None)
    try:
        server.start()
    except Exception:
        if not terminal:
            raise
        server = SandboxServer(sandbox, host, sandbox_port)  # the terminal could not start
        server.start()
    settings = Settings(
        database_url=f"sqlite:///{data_dir.resolve()}/cloverpay.db",
        secret_key=_secret(data_dir / "secret.key"),
        env="development",
    )
    upgrade(settings.database_url)
    ctx = ServiceContext.build(settings)
    creds = server.credentials
    merchant = connect_merchant(
        ctx,
        name="Bright Plumbing Co.",
        clover_merchant_id=creds.merchant_id,
        access_token=creds.access_token,
        pakms_key=creds.api_access_key,
        clover_base_url=creds.base_url,
        actor="up",
    )
    key_file = data_dir / "demo-api-key"
    api_key = key_file.read_text().strip() if key_file.exists() else ""
    with ctx.sessions() as s:
        known = api_key and s.scalar(
            select(ApiKeyRow.id).where(ApiKeyRow.key_hash == hash_api_key(api_key))
        )
    if not known:
        api_key = create_api_key(ctx, merchant.id, name="demo").secret
        key_file.write_text(api_key)
        os.chmod(key_file, 0o600)
    create_staff_user(
        ctx, merchant.id, email=DEMO_STAFF_EMAIL, password=DEMO_PASSWORD, name="Owner"
    )
    _seed(ctx, merchant.id)
    base = f"http://{host}:{port}"
    web = WebSettings(public_url=base)
    app = create_app(context=ctx)
    app.state.web = web
    info = UpInfo(
        dashboard_url=f"{base}/dashboard",
        api_url=f"{base}/docs",
        api_key=api_key,
        staff_email=DEMO_STAFF_EMAIL,
        staff_password=DEMO_PASSWORD,
        sandbox_url=server.base_url,
        terminal_url=server.terminal_url,
        data_dir=data_dir,
    )
    from cloverpay.service.outbox_email import run_worker

    stop = threading.Event()
    threading.Thread(
        target=run_worker, args=(ctx, web, stop), daemon=True, name="cloverpay-emails"
    ).start()
    return info, app, server


def _print(info: UpInfo) -> None:
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("Dashboard", info.dashboard_url)
    grid.add_row("Staff login", f"{info.staff_email} / {info.staff_password}")
    grid.add_row("API key", info.api_key)
    grid.add_row("API docs", info.api_url)
    grid.add_row("Clover sandbox", info.sandbox_url)
    if info.terminal_url:
        grid.add_row("Emulated terminal", info.terminal_url)
    grid.add_row("Data", str(info.data_dir.resolve()))
    Console().print(
        Panel(grid, title="cloverpay is up", subtitle="Ctrl-C to stop", border_style="green")
    )


def run_up(
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    sandbox_port: int = 8765,
    data_dir: Path = Path(".cloverpay"),
    terminal: bool = True,
) -> None:
    import uvicorn

    info, app, server = prepare(
        data_dir=data_dir, host=host, port=port, sandbox_port=sandbox_port, terminal=terminal
    )
    _print(info)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="off")  # type: ignore[arg-type]
    finally:
        server.stop()  # type: ignore[attr-defined]
