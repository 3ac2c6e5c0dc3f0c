"""Many emulated terminals of one sandbox merchant behind one port.

``ws://HOST:PORT/devices/<n>/remote_pay`` is device ``n`` (0-based): its own
:class:`Terminal` (device id, serial, pairing tokens, transaction, customer scripts),
all of them recording into the same :class:`SandboxState`, as the terminals of one
Clover merchant do. For load tests and multi-lane demos; the sandbox's single
terminal (:class:`TerminalServer`, ``/_sandbox/terminal``) is unaffected.

::

    async with TerminalFarm(sandbox, devices=1000) as farm:
        farm.url(17)                         # ws://127.0.0.1:PORT/devices/17/remote_pay
        farm.terminals[17].push_script(CustomerScript(outcome="decline"))
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from http import HTTPStatus
from types import TracebackType
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from .._state import SandboxState
from ._device import Terminal, TerminalSettings
from ._session import Session

__all__ = ["TerminalFarm"]

_PATH = re.compile(r"^/devices/(\d{1,6})/remote_pay$")


class TerminalFarm:
    """``devices`` emulated terminals on one port (plain ``ws://``), on the caller's
    event loop. ``settings`` is the template: each device gets its own copy with a
    distinct ``device_id``, ``serial`` and ``name``. WebSocket-level pings are off by
    default here (thousands of idle timers); turn them on in ``settings``."""

    def __init__(
        self,
        state: Any,
        devices: int,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        settings: TerminalSettings | None = None,
        backlog: int = 1024,
    ) -> None:
        if not 1 <= devices <= 100_000:
            raise ValueError("devices must be from 1 to 100000")
        self.state: SandboxState = state if isinstance(state, SandboxState) else state.state
        base = settings or TerminalSettings(ping_interval=None, ping_timeout=None)
        self.terminals: list[Terminal] = [
            Terminal(
                self.state,
                dataclasses.replace(
                    base,
                    device_id=f"0c0ffee0-5a4d-4b0c-9000-{n:012d}",
                    serial=f"C0FARM{n:06d}",
                    name=f"{base.name} #{n}",
                ),
            )
            for n in range(devices)
        ]
        self.host = host
        self.port = port
        self.backlog = backlog
        self._server: Server | None = None

    def url(self, n: int) -> str:
        """The Remote Pay URL of device ``n``."""
        if not 0 <= n < len(self.terminals):
            raise IndexError(f"no device {n} (the farm has {len(self.terminals)})")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}/devices/{n}/remote_pay"

    async def start(self) -> TerminalFarm:
        loop = asyncio.get_running_loop()
        for terminal in self.terminals:
            terminal.bind_loop(loop)
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._check_request,
            ping_interval=self.terminals[0].settings.ping_interval,
            ping_timeout=self.terminals[0].settings.ping_timeout,
            max_size=16 * 1024 * 1024,
            compression=None,
            backlog=self.backlog,
        )
        self.port = int(next(iter(self._server.sockets)).getsockname()[1])
        for n, terminal in enumerate(self.terminals):
            terminal.register_device()
            terminal.url = self.url(n)
        self.state.events.add("terminal_farm_listening", devices=len(self.terminals))
        return self

    async def stop(self) -> None:
        for terminal in self.terminals:
            await terminal.power_off()
            terminal.url = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> TerminalFarm:
        return await self.start()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def _device_of(self, path: str) -> Terminal | None:
        match = _PATH.match(path.partition("?")[0])
        if match is None:
            return None
        n = int(match.group(1))
        return self.terminals[n] if n < len(self.terminals) else None

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.method != "GET" or self._device_of(request.path) is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "Not found\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        terminal = self._device_of(ws.request.path if ws.request else "")
        assert terminal is not None  # checked in _check_request
        await Session(terminal, ws).run()
