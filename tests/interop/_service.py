"""The service as the browser tests run it: a fresh SQLite database with a merchant
connected to a sandbox server and a staff user, served by uvicorn on a free port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography.fernet import Fernet

from cloverpay.sandbox import SandboxServer
from cloverpay.service.api import create_app
from cloverpay.service.core.config import Settings
from cloverpay.service.dashboard import create_staff_user
from cloverpay.service.db import Merchant
from cloverpay.service.migrate import upgrade
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.merchants import connect_merchant
from cloverpay.service.web import WebSettings

__all__ = ["free_port", "service_with_merchant", "serving"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_with_merchant(
    tmp_path: Path, server: SandboxServer, *, email: str, password: str
) -> tuple[ServiceContext, Merchant]:
    """A migrated database, the service's context on it, the sandbox's merchant
    connected, and a staff user ``email``."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/svc.db",
        secret_key=Fernet.generate_key().decode(),
        env="test",
    )
    upgrade(settings.database_url)
    ctx = ServiceContext.build(settings, retry=0, rate_limit=False)
    creds = server.credentials
    merchant = connect_merchant(
        ctx,
        name="Bright Plumbing Co.",
        clover_merchant_id=creds.merchant_id,
        access_token=creds.access_token,
        pakms_key=creds.api_access_key,
        clover_base_url=creds.base_url,
    )
    create_staff_user(ctx, merchant.id, email=email, password=password)
    return ctx, merchant


@contextmanager
def serving(ctx: ServiceContext) -> Iterator[str]:
    """The service's app served by uvicorn in a thread: its base URL; stopped after."""
    import uvicorn

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(context=ctx)
    app.state.web = WebSettings(public_url=base)
    uv = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline, "service did not start"
        time.sleep(0.02)
    try:
        yield base
    finally:
        uv.should_exit = True
        thread.join(10)
