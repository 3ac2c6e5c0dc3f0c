"""``cloverpay up``: the payments service and the built-in Clover sandbox, ready to use.

Everything lives under ``./.cloverpay/`` (SQLite database, a generated secret key, the
demo API key): migrations are applied, a demo merchant is connected to the sandbox,
and a staff login, an API key, a few customers and invoices are seeded once (running
``up`` again reuses them). Without SMTP settings emails are captured in the outbox,
which the dashboard shows. The background work of ``cloverpay serve`` runs here too
(:func:`~cloverpay.service.workers.start_workers`: reconciler, emails, webhook inbox,
subscriptions' billing run, terminals).

The sandbox's webhooks point at our receivers: its Hosted Checkout webhooks (with a
signing secret stored with us, encrypted), and its app webhooks, whose verification
handshake ``up`` completes by itself once the server listens (the code the sandbox
POSTs is read back from our inbox and confirmed, as a person would paste it; the Clover
Auth Code it gets in return is kept in this process's settings).

The sandbox's own app is the service's Clover app (``clover_app_id`` / ``_secret``), so
Settings → "Reconnect with Clover" goes through the sandbox's OAuth v2 approval page
and back to ``/oauth/callback``, and the merchant then runs on an expiring access token
refreshed with single-use refresh tokens, as a merchant connected to real Clover does.
Each ``up`` starts the merchant again on the sandbox's fixed token (the sandbox's
OAuth grants do not outlive its process).

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
from pydantic import SecretStr
from sqlalchemy import func, select

__all__ = [
    "DEMO_PASSWORD",
    "DEMO_STAFF_EMAIL",
    "UpInfo",
    "connect_app_webhooks",
    "prepare",
    "run_up",
]

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


def _builtin_terminal(ctx: object, server: object, merchant_id: str) -> None:
    """Register the sandbox's emulated terminal, already paired (a token issued by the
    device up front); the terminal runtime started by the workers connects it."""
    from cloverpay.sandbox import SandboxServer
    from cloverpay.sandbox.terminal import terminal_for
    from cloverpay.service.services.context import ServiceContext
    from cloverpay.service.services.terminals import ensure_terminal

    assert isinstance(ctx, ServiceContext)
    assert isinstance(server, SandboxServer)
    assert server.terminal_url is not None
    device = terminal_for(server.sandbox.state)
    ensure_terminal(
        ctx,
        merchant_id,
        name="Emulated terminal",
        url=server.terminal_url,
        auth_token=device.issue_token("cloverpay service"),
        actor="up",
    )


def _checkout_webhooks(ctx: object, server: object, merchant_id: str, base: str) -> None:
    """Point the sandbox's Hosted Checkout webhooks for the demo merchant at our
    receiver, with the signing secret we keep (generated on the first ``up``)."""
    import secrets

    import httpx

    from cloverpay.sandbox import SandboxServer
    from cloverpay.service.services.context import ServiceContext
    from cloverpay.service.webhooks import checkout_signing_secret, set_checkout_signing_secret

    assert isinstance(ctx, ServiceContext)
    assert isinstance(server, SandboxServer)
    secret = checkout_signing_secret(ctx, merchant_id)
    if secret is None:
        secret = secrets.token_hex(32)
        set_checkout_signing_secret(ctx, merchant_id, secret, actor="up")
    with httpx.Client(base_url=server.base_url, timeout=10) as control:
        r = control.post(
            "/_sandbox/webhooks/hosted_checkout",
            json={
                "url": f"{base}/webhooks/clover/checkout/{merchant_id}",
                "merchantId": server.credentials.merchant_id,
                "signingSecret": secret,
            },
        )
        r.raise_for_status()


def connect_app_webhooks(ctx: object, sandbox_url: str, base: str) -> str:
    """The app webhook handshake against the running service at ``base``: the sandbox
    POSTs a verification code to our receiver, we read it back from the inbox and
    confirm it, and keep the Clover Auth Code it answers with. Returns the code."""
    import httpx
    from pydantic import SecretStr

    from cloverpay.service.services.context import ServiceContext
    from cloverpay.service.webhooks import latest_verification_code

    assert isinstance(ctx, ServiceContext)
    with httpx.Client(base_url=sandbox_url, timeout=10) as control:
        r = control.post("/_sandbox/webhooks", json={"url": f"{base}/webhooks/clover/app"})
        r.raise_for_status()
        sent = r.json()
        if sent.get("handshakeStatus") != 200:
            raise RuntimeError(f"the verification POST failed: {sent.get('handshakeError')}")
        shown = latest_verification_code(ctx)
        if shown is None or shown.code != sent["verificationCode"]:
            raise RuntimeError("the verification code did not reach the inbox")
        r = control.post("/_sandbox/webhooks/verify", json={"verificationCode": shown.code})
        r.raise_for_status()
    ctx.settings.clover_app_auth_code = SecretStr(r.json()["authCode"])
    return shown.code


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
    creds = server.credentials
    settings = Settings(
        database_url=f"sqlite:///{data_dir.resolve()}/cloverpay.db",
        secret_key=_secret(data_dir / "secret.key"),
        env="development",
        # the demo's events may go to a receiver on this machine
        events_out_allow_networks=("127.0.0.1/32", "::1/128"),
        # The sandbox's own app: Settings → "Reconnect with Clover" goes through its
        # OAuth v2 approval page and back to /oauth/callback, as with a real Clover app.
        clover_app_id=creds.app_id,
        clover_app_secret=SecretStr(creds.app_secret),
    )
    upgrade(settings.database_url)
    ctx = ServiceContext.build(settings)
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
    if server.terminal_url:
        _builtin_terminal(ctx, server, merchant.id)
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
    _checkout_webhooks(ctx, server, merchant.id, base)
    from cloverpay.service.workers import start_workers

    stop = threading.Event()
    app.state.up_stop = stop  # run_up sets it on the way out
    start_workers(
        ctx,
        web,
        stop,
        reconcile_every_s=15.0,
        emails_every_s=1.0,
        billing_every_s=60.0,
        webhooks_every_s=1.0,
        events_every_s=1.0,
        terminals=bool(server.terminal_url),
    )
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
        grid.add_row("Terminal screen", f"{info.sandbox_url}/terminal")
    base = info.dashboard_url.removesuffix("/dashboard")
    grid.add_row("Webhooks in", f"{base}/webhooks/clover/app, {base}/webhooks/clover/checkout/…")
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
    from cloverpay.service.core.heap import settle_heap

    settle_heap()
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")  # type: ignore[arg-type]
    web_server = uvicorn.Server(config)
    threading.Thread(
        target=_when_listening,
        args=(web_server, app, info),
        daemon=True,
        name="cloverpay-up-webhooks",
    ).start()
    try:
        web_server.run()
    finally:
        app.state.up_stop.set()  # type: ignore[attr-defined]
        server.stop()  # type: ignore[attr-defined]


def _when_listening(web_server: object, app: object, info: UpInfo) -> None:
    """Once the server listens: the panel (its addresses work when it is shown), then
    the app webhook handshake."""
    import logging
    import time

    deadline = time.monotonic() + 60
    while not getattr(web_server, "started", False):
        if time.monotonic() > deadline or getattr(web_server, "should_exit", False):
            return
        time.sleep(0.05)
    _print(info)
    base = info.dashboard_url.removesuffix("/dashboard")
    try:
        connect_app_webhooks(app.state.ctx, info.sandbox_url, base)  # type: ignore[attr-defined]
    except Exception:  # the demo still runs; app webhooks stay unverified
        logging.getLogger("cloverpay.service").exception("app webhook handshake failed")
