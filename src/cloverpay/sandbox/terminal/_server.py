"""The terminal's own websocket server: ``ws://HOST:PORT/remote_pay`` (or ``wss://``).

A real Secure Network Pay Display listens on its own port (12345 by default); so does
the emulated one, beside the sandbox's HTTP port. :class:`TerminalServer` runs the
``websockets`` asyncio server either on the caller's event loop (``async with``, for
tests) or on a private loop in a background thread (``with`` / :meth:`start`, used by
:class:`~cloverpay.sandbox.SandboxServer` and the CLI). WebSocket-level pings keep
the connection honest (``TerminalSettings.ping_interval``); application-level PINGs
are answered by the session.

The same port also plays Clover's cloud proxy for Cloud Pay Display
(:data:`CLOUD_PATH`, spec §1.2). A POS that connects with ``forceConnect=true`` takes
the device: every other cloud connection first gets a ``FORCECONNECT`` event naming
the newcomer's ``friendlyId`` (type EVENT, as the proxy sends it; the JS SDK then
reports ``Interrupted`` and stops), then is closed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from http import HTTPStatus
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from ..._redact import install_log_redaction
from .._state import SandboxState
from ._device import Terminal, TerminalSettings, terminal_for
from ._session import Session
from ._tls import TerminalCertificate, generate_certificate

__all__ = ["CLOUD_PATH", "REMOTE_PAY_PATH", "TerminalServer"]

REMOTE_PAY_PATH = "/remote_pay"
#: Cloud Pay Display: the proxy's websocket path (spec §1.2); served on the same port.
CLOUD_PATH = "/support/remote_pay/cs"
install_log_redaction()  # the server's handshake log carries the cloud OAuth token


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
            process_request=self._check_request,
            select_subprotocol=_echo_subprotocol,
            ping_interval=settings.ping_interval,
            ping_timeout=settings.ping_timeout,
            max_size=16 * 1024 * 1024,
        )
        self.port = int(next(iter(self._server.sockets)).getsockname()[1])
        self.terminal.register_device()
        self.terminal.url = self.url
        self.terminal.ca_pem = self.certificate.ca_pem if self.certificate else None
        self.state.events.add("terminal_listening", url=self.url)
        return self

    async def stop_async(self) -> None:
        """Stop listening, close the connections, end any transaction in flight."""
        await self.terminal.power_off()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            self.terminal.url = None

    async def __aenter__(self) -> TerminalServer:
        return await self.start_async()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop_async()

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path, _, query = request.path.partition("?")
        if path == REMOTE_PAY_PATH and request.method == "GET":
            return None
        if path != CLOUD_PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, "Not found\n")
        return self._check_cloud(connection, request, parse_qs(query))

    def _check_cloud(
        self, connection: ServerConnection, request: Request, params: dict[str, list[str]]
    ) -> Response | None:
        """The cloud proxy's checks: a proxy token from the remote_pay alert, and the
        merchant's OAuth token (``Authorization`` on OPTIONS, the websocket
        sub-protocol on the upgrade). OPTIONS answers ``X-CLOVER-CONNECTED-ID``."""
        t = self.terminal
        merchant_id = t.cloud_tokens.get(params.get("token", [""])[0])
        if request.method == "OPTIONS":
            bearer = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        else:
            bearer = request.headers.get("Sec-WebSocket-Protocol", "").split(",")[0].strip()
        merchant = self.state.merchant_for_token(bearer) if bearer else None
        if merchant_id is None or merchant is None or merchant.merchant_id != merchant_id:
            return connection.respond(HTTPStatus.UNAUTHORIZED, "Unauthorized\n")
        if request.method == "OPTIONS":
            response = connection.respond(HTTPStatus.OK, "")
            connected = t.cloud_friendly_ids()
            if connected:
                response.headers["X-CLOVER-CONNECTED-ID"] = connected[0]
            return response
        if request.method != "GET":
            return connection.respond(HTTPStatus.METHOD_NOT_ALLOWED, "Method not allowed\n")
        if params.get("forceConnect", ["false"])[0] == "true":
            friendly = params.get("friendlyId", ["unknown"])[0]
            for session in list(t.sessions):
                if session.cloud:
                    session.force_out(friendly)
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        path, _, query = ws.request.path.partition("?") if ws.request else ("", "", "")
        if path == CLOUD_PATH:
            friendly = parse_qs(query).get("friendlyId", ["unknown"])[0]
            await Session(self.terminal, ws, cloud=True, friendly_id=friendly).run()
        else:
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
        except TimeoutError:  # a peer that never finishes its closing handshake
            self.terminal.url = None
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


def _echo_subprotocol(
    connection: ServerConnection, subprotocols: Sequence[Subprotocol]
) -> Subprotocol | None:
    """Cloud clients offer their OAuth token as the sub-protocol (checked in
    ``_check_cloud``); the proxy accepts it, as a browser WebSocket requires."""
    return subprotocols[0] if subprotocols else None
