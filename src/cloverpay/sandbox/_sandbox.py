"""Front doors to one :class:`SandboxState`: in-process transports and a real server.

* :class:`Sandbox` owns a state and its ASGI app. ``async_transport()`` and
  ``sync_transport()`` give httpx transports that run the app in-process (no socket);
  ``SandboxServer(sandbox)`` serves the same state over a real socket with uvicorn in
  a background thread (idle keep-alive connections kept :data:`KEEPALIVE_S`). Both
  see the same objects, like moto's in-process and server modes.
* :func:`serve` runs a sandbox in the foreground (the CLI): it prints one JSON line
  with the credentials, then serves until interrupted.
* Both can also run the emulated Clover terminal on its own port
  (``terminal_port=``; :mod:`cloverpay.sandbox.terminal`), optionally over ``wss://``.

Dropped connections (fault injection) reach in-process clients as
:class:`httpx.RemoteProtocolError`, the error a real socket would give.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import threading
import time
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx
from starlette.applications import Starlette

from ._app import create_app
from ._asgi import SandboxConnectionDropped
from ._state import SandboxConfig, SandboxState

if TYPE_CHECKING:
    import uvicorn

    from .terminal import TerminalServer

__all__ = [
    "IN_PROCESS_BASE_URL",
    "KEEPALIVE_S",
    "Sandbox",
    "SandboxCredentials",
    "SandboxServer",
    "serve",
]

#: Base URL used with the in-process transports (any host works; this one is clear).
IN_PROCESS_BASE_URL = "http://sandbox.clover.test"

#: Seconds the server keeps an idle keep-alive connection open (uvicorn's default is 5,
#: the same as httpx's pool): longer than clients keep theirs (the payments service 2 s,
#: httpx 5 s), so a client drops an idle connection before the server closes it, and
#: never reuses one the server is closing at that instant.
KEEPALIVE_S = 75


@dataclass(frozen=True, slots=True)
class SandboxCredentials:
    """What a developer would copy from Clover's dashboard, plus where to call."""

    merchant_id: str
    access_token: str
    api_access_key: str
    app_id: str
    app_secret: str
    base_url: str

    def __repr__(self) -> str:  # secrets stay out of logs and tracebacks
        return f"SandboxCredentials(merchant_id={self.merchant_id!r}, base_url={self.base_url!r})"

    def to_json(self) -> dict[str, str]:
        return asdict(self)


class _ASGITransport(httpx.ASGITransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except SandboxConnectionDropped:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a complete response.", request=request
            ) from None


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        loop.close()


class _SyncASGITransport(httpx.BaseTransport):
    """Runs the ASGI app on a private event loop in a daemon thread.

    One transport may serve several httpx clients and threads at once, so ``close()``
    never strands a request: the loop stops when it is closed *and* no request is in
    flight (the last request out stops it). A request after ``close()`` starts a new loop.
    """

    def __init__(self, app: Starlette) -> None:
        self._inner = _ASGITransport(app=app)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._in_flight = 0
        self._closing = False

    def _enter(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            self._closing = False
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(
                    target=_run_loop, args=(loop,), name="cloverpay-sandbox-loop", daemon=True
                ).start()
                self._loop = loop
            self._in_flight += 1
            return self._loop

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1
            if self._closing and self._in_flight == 0:
                self._stop_locked()

    def _stop_locked(self) -> None:
        loop, self._loop = self._loop, None
        self._closing = False
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        content = request.read()
        async_request = httpx.Request(
            request.method,
            request.url,
            headers=request.headers,
            content=content,
            extensions=request.extensions,
        )

        async def run() -> tuple[int, httpx.Headers, bytes]:
            response = await self._inner.handle_async_request(async_request)
            body = await response.aread()
            return response.status_code, response.headers, body

        loop = self._enter()
        try:
            status, headers, body = asyncio.run_coroutine_threadsafe(run(), loop).result()
        finally:
            self._leave()
        return httpx.Response(status, headers=headers, content=body, request=request)

    def close(self) -> None:
        with self._lock:
            if self._in_flight:
                self._closing = True
            else:
                self._stop_locked()


class Sandbox:
    """An offline Clover: ``Sandbox(seed=42).sync_transport()`` plugs into httpx."""

    def __init__(
        self,
        seed: int | None = None,
        rate_limits: bool = False,
        config: SandboxConfig | None = None,
    ) -> None:
        self.state = SandboxState(seed=seed, config=config)
        self.state.ratelimiter.enabled = rate_limits
        self.app: Starlette = create_app(self.state)
        self._sync: list[_SyncASGITransport] = []

    def credentials_for(self, base_url: str, merchant_id: str | None = None) -> SandboxCredentials:
        """Credentials of ``merchant_id`` (default: the first merchant) at ``base_url``."""
        m = self.state.merchants[merchant_id] if merchant_id else self.state.merchant
        return SandboxCredentials(
            merchant_id=m.merchant_id,
            access_token=m.access_token,
            api_access_key=m.api_access_key,
            app_id=m.app_id,
            app_secret=m.app_secret,
            base_url=base_url.rstrip("/"),
        )

    @property
    def credentials(self) -> SandboxCredentials:
        """Credentials of the default merchant with the in-process base URL."""
        return self.credentials_for(IN_PROCESS_BASE_URL)

    @property
    def base_url(self) -> str:
        return IN_PROCESS_BASE_URL

    def add_merchant(self, name: str = "Sandbox Merchant") -> SandboxCredentials:
        """Another merchant with its own credentials (objects never cross merchants)."""
        merchant = self.state.add_merchant(name)
        return self.credentials_for(IN_PROCESS_BASE_URL, merchant.merchant_id)

    def async_transport(self) -> httpx.AsyncBaseTransport:
        """For ``httpx.AsyncClient(transport=..., base_url=sandbox.base_url)``."""
        return _ASGITransport(app=self.app)

    def sync_transport(self) -> httpx.BaseTransport:
        """For ``httpx.Client(transport=..., base_url=sandbox.base_url)``."""
        transport = _SyncASGITransport(self.app)
        self._sync.append(transport)
        return transport

    def client(self, **kwargs: Any) -> httpx.Client:
        """A sync httpx client bound to this sandbox (bearer token preset)."""
        headers = {"Authorization": f"Bearer {self.state.merchant.access_token}"}
        headers.update(kwargs.pop("headers", {}))
        return httpx.Client(
            transport=self.sync_transport(), base_url=IN_PROCESS_BASE_URL, headers=headers, **kwargs
        )

    def async_client(self, **kwargs: Any) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.state.merchant.access_token}"}
        headers.update(kwargs.pop("headers", {}))
        return httpx.AsyncClient(
            transport=self.async_transport(),
            base_url=IN_PROCESS_BASE_URL,
            headers=headers,
            **kwargs,
        )

    def close(self) -> None:
        for transport in self._sync:
            transport.close()
        self._sync.clear()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _HideInjectedDrops(logging.Filter):
    """uvicorn logs every exception escaping the app; an injected drop is not a bug."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, SandboxConnectionDropped)


def _server_config(sandbox: Sandbox, **options: Any) -> uvicorn.Config:
    """The uvicorn settings both servers use (idle connections kept :data:`KEEPALIVE_S`)."""
    import uvicorn

    return uvicorn.Config(
        sandbox.app, lifespan="off", access_log=False, timeout_keep_alive=KEEPALIVE_S, **options
    )


def _quiet_injected_drops() -> None:
    log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideInjectedDrops) for f in log.filters):
        log.addFilter(_HideInjectedDrops())


class SandboxServer:
    """Serve a :class:`Sandbox` on a real socket in a background thread.

    ``with SandboxServer(sandbox) as server: httpx.get(server.base_url + ...)``.
    ``port=0`` picks a free port; see :attr:`port` once started.
    """

    def __init__(
        self,
        sandbox: Sandbox,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        terminal_port: int | None = None,
        terminal_tls: bool = False,
    ) -> None:
        """``terminal_port`` (0 = any free port) also serves the emulated terminal at
        ``ws://host:terminal_port/remote_pay`` (``wss://`` with ``terminal_tls``)."""
        import uvicorn

        self.sandbox = sandbox
        self.terminal: TerminalServer | None = None
        if terminal_port is not None:
            from .terminal import TerminalServer

            self.terminal = TerminalServer(sandbox, host, terminal_port, tls=terminal_tls)
        self.host = host
        self._config = _server_config(sandbox, host=host, port=port, log_level="critical")
        self._server = uvicorn.Server(self._config)
        _quiet_injected_drops()
        self._thread: threading.Thread | None = None
        self.port = port

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def credentials(self) -> SandboxCredentials:
        return self.sandbox.credentials_for(self.base_url)

    @property
    def terminal_url(self) -> str | None:
        """``ws(s)://host:port/remote_pay`` of the emulated terminal, if it runs."""
        return None if self.terminal is None else self.terminal.url

    def start(self, timeout: float = 10.0) -> SandboxServer:
        self._thread = threading.Thread(
            target=self._server.run, name="cloverpay-sandbox-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox server failed to start on {self.host}:{self.port}")
            time.sleep(0.01)
        sockets = self._server.servers[0].sockets
        self.port = int(sockets[0].getsockname()[1])
        if self.terminal is not None:
            self.terminal.start(timeout)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self.terminal is not None:
            self.terminal.stop(timeout)
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    seed: int | None = None,
    rate_limits: bool = False,
    terminal_port: int | None = None,
    terminal_tls: bool = False,
    terminal_cert_dir: str | None = None,
    terminal_pairing: str = "auto",
) -> None:
    """Run a sandbox in the foreground: one JSON line of credentials, then serve.

    With ``terminal_port`` the emulated terminal listens too (before the line is
    printed); the line then has ``terminal_url`` and, for ``wss://``, ``terminal_ca``
    (the CA PEM, also written to ``terminal_cert_dir`` when given)."""
    import socket

    import uvicorn

    if terminal_pairing not in ("auto", "confirm"):
        raise ValueError("terminal_pairing must be 'auto' or 'confirm'")
    sandbox = Sandbox(seed=seed, rate_limits=rate_limits)
    terminal: TerminalServer | None = None
    if terminal_port is not None:
        from .terminal import TerminalServer, TerminalSettings

        settings = TerminalSettings(pairing="confirm" if terminal_pairing == "confirm" else "auto")
        terminal = TerminalServer(
            sandbox, host, terminal_port, tls=terminal_tls, settings=settings
        ).start()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)  # accept connections as soon as the credentials line is out
    bound_port = int(sock.getsockname()[1])
    shown = f"[{host}]" if ":" in host else host
    info: dict[str, Any] = sandbox.credentials_for(f"http://{shown}:{bound_port}").to_json()
    info["seed"] = seed
    if terminal is not None:
        info["terminal_url"] = terminal.url
        if terminal.certificate is not None:
            info["terminal_ca"] = terminal.certificate.ca_pem
            if terminal_cert_dir:
                paths = terminal.certificate.write(terminal_cert_dir)
                info["terminal_ca_file"] = str(paths["ca"])
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()
    config = _server_config(sandbox, log_level="warning")
    _quiet_injected_drops()  # after Config: it (re)configures uvicorn's loggers
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        if terminal is not None:
            terminal.stop()
