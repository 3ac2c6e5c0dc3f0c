"""The terminal's own websocket server: ``ws://HOST:PORT/remote_pay`` (or ``wss://``).

A real Secure Network Pay Display listens on its own port (12345 by default); so does
the emulated one, beside the sandbox's HTTP port. :class:`TerminalServer` runs the
``websockets`` asyncio server either on the caller's event loop (``async with``, for
tests) or on a private loop in a background thread (``with`` / :meth:`start`, used by
:class:`~cloverpay.sandbox.SandboxServer` and the CLI). WebSocket-level pings keep
the connection honest (``TerminalSettings.ping_interval``); application-level PINGs
are answered by the session.
"""

from __future__ import annotations

import asyncio
import threading
from http import HTTPStatus
from types import TracebackType
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from .._state import SandboxState
from ._device import Terminal, TerminalSettings, terminal_for
from ._session import Session
from ._tls import TerminalCertificate, generate_certificate

__all__ = ["REMOTE_PAY_PATH", "TerminalServer"]

REMOTE_PAY_PATH = "/remote_pay"


class TerminalServer:
    """Serve the emulated terminal of ``state`` (a :class:`SandboxState`, or anything
    with a ``.state``, such as a :class:`~cloverpay.sandbox.Sandbox`).

    ``tls=True`` generates a certificate (see :attr:`certificate`); pass a
    :class:`TerminalCertificate` to reuse one. ``port=0`` picks a free port.
    """

    def __init__(
        self,
        state: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls: bool | TerminalCertificate = False,
        settings: TerminalSettings | None = None,
    ) -> None:
        self.state: SandboxState = state if isinstance(state, SandboxState) else state.state
        self.terminal: Terminal = terminal_for(self.state, settings)
        self.host = host
        self.port = port
        if tls is True:
            local = ("127.0.0.1", "::1", "localhost", "0.0.0.0")  # noqa: S104
            hosts = [] if host in local else [host]
            self.certificate: TerminalCertificate | None = generate_certificate(
                [*hosts, "127.0.0.1", "::1", "localhost"]
            )
        else:
            self.certificate = tls or None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def scheme(self) -> str:
        return "wss" if self.certificate is not None else "ws"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{REMOTE_PAY_PATH}"

    # -- on the caller's loop ------------------------------------------------------------

    async def start_async(self) -> TerminalServer:
        self.terminal.bind_loop(asyncio.get_running_loop())
        settings = self.terminal.settings
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            ssl=self.certificate.server_context() if self.certificate else None,
            process_request=self._check_path,
            ping_interval=settings.ping_interval,
            ping_timeout=settings.ping_timeout,
            max_size=16 * 1024 * 1024,
        )
        self.port = int(next(iter(self._server.sockets)).getsockname()[1])
        self.state.events.add("terminal_listening", url=self.url)
        return self

    async def stop_async(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> TerminalServer:
        return await self.start_async()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop_async()

    @staticmethod
    def _check_path(connection: ServerConnection, request: Request) -> Response | None:
        if request.path.split("?")[0] != REMOTE_PAY_PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, "Not found\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        await Session(self.terminal, ws).run()

    # -- on a private loop in a thread -------------------------------------------------------

    def start(self, timeout: float = 10.0) -> TerminalServer:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name="cloverpay-terminal", daemon=True
        )
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.start_async(), loop).result(timeout)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self.stop_async(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(timeout)
            loop.close()
            self._loop = None
            self._thread = None

    def __enter__(self) -> TerminalServer:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
