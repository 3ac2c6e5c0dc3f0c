"""The terminal connections of one service process (``cloverpay.remotepay``).

:class:`TerminalRuntime` runs an asyncio loop in a background thread. Every
``tick_s`` it takes or renews the lease of each terminal (a conditional UPDATE, see
:mod:`~cloverpay.service.services.terminals`); for each terminal it owns it keeps one
:class:`~cloverpay.remotepay.CloverConnector` (pairing token in the terminal's row,
the REST fallback of the recovery through the merchant's Clover client, see
:mod:`~cloverpay.service.terminal_runtime_lookups`), sends the terminal's queued sales,
refunds and voids one at a time — each only after winning ``queued -> sending``, see
:mod:`~cloverpay.service.terminal_runtime_dispatch` — and settles what the device
answers. Nothing is ever sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cloverpay.remotepay import (
    CloudSettings,
    CloverConnector,
    CloverConnectorListener,
    ConnectorConfig,
    DeviceErrorEvent,
)
from cloverpay.remotepay.protocol import DiscoveryResponse, UiStateMessage
from cloverpay.service import terminal_runtime_dispatch as dispatch
from cloverpay.service import terminal_runtime_lookups as lookups
from cloverpay.service.core.config import Settings
from cloverpay.service.db import PaymentAttempt, Terminal
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.terminal_ops import update_op_screen
from cloverpay.service.services.terminal_sales import TerminalResolver, update_sale_screen
from cloverpay.service.services.terminals import (
    DbTokenStore,
    acquire_lease,
    list_terminals,
    release_lease,
    update_terminal,
)

__all__ = ["REMOTE_APPLICATION_ID", "RuntimeOptions", "TerminalRuntime", "runtime_for"]

log = logging.getLogger("cloverpay.service.terminals")

#: The Remote App ID the service presents to devices [guess: register your own with
#: Clover for production and set it in ``RuntimeOptions``].
REMOTE_APPLICATION_ID = "com.cloverpay.service:1.0"


#: the running runtime of each service context in this process (see :func:`runtime_for`)
_RUNNING: dict[int, TerminalRuntime] = {}


def runtime_for(ctx: ServiceContext) -> TerminalRuntime | None:
    """The terminal runtime running in this process for ``ctx`` (the dashboard and the
    reconciler use it to reach the terminals this process owns), or None."""
    return _RUNNING.get(id(ctx))


@dataclass(frozen=True)
class RuntimeOptions:
    lease_s: float = 30.0
    tick_s: float = 1.0
    #: how long a sale waits for the customer before its answer counts as lost
    sale_timeout_s: float = 180.0
    #: the connector's recovery budget after a lost answer (device, then REST)
    recovery_timeout_s: float = 30.0
    reconnect_delay_s: float = 1.0
    heartbeat_interval_s: float | None = 15.0
    remote_application_id: str = REMOTE_APPLICATION_ID

    @classmethod
    def from_settings(cls, settings: Settings) -> RuntimeOptions:
        """The lease and tick from ``CLOVERPAY_TERMINAL_LEASE_S`` /
        ``CLOVERPAY_TERMINAL_TICK_S`` (a takeover waits for the lease to lapse)."""
        return cls(lease_s=settings.terminal_lease_s, tick_s=settings.terminal_tick_s)


@dataclass
class _Conn:
    terminal_id: str
    merchant_id: str
    name: str
    connector: CloverConnector
    busy: str | None = None  # the attempt on the device (a sale, refund or void)
    busy_kind: str = "sale"


class _Listener(CloverConnectorListener):
    """Records what the device says in the terminal's row / the sale's row, through
    the runtime's single DB writer thread (callbacks must not block the loop)."""

    def __init__(self, runtime: TerminalRuntime, terminal_id: str) -> None:
        self.rt = runtime
        self.terminal_id = terminal_id

    def _status(self, **fields: Any) -> None:
        self.rt._write(update_terminal, self.rt.ctx, self.terminal_id, **fields)

    def on_pairing_code(self, pairing_code: str) -> None:
        self._status(status="pairing", pairing_code=pairing_code)

    def on_device_ready(self, merchant_info: DiscoveryResponse) -> None:
        fields: dict[str, Any] = {"status": "ready", "pairing_code": None, "last_error": None}
        if merchant_info.serial:
            fields["serial"] = merchant_info.serial[:64]
        self._status(**fields)

    def on_device_disconnected(self) -> None:
        self._status(status="disconnected")

    def on_device_error(self, error: DeviceErrorEvent) -> None:
        self._status(last_error=f"{error.code}: {error.message}"[:500])

    def on_device_activity_start(self, event: UiStateMessage) -> None:
        conn = self.rt._conns.get(self.terminal_id)
        if conn is not None and conn.busy is not None:
            ctx = self.rt.ctx
            write = update_sale_screen if conn.busy_kind == "sale" else update_op_screen
            self.rt._write(write, ctx, conn.busy, event.ui_state, event.ui_text)


class TerminalRuntime:
    """See the module docstring. ``start()`` / ``stop()``; safe to call from any thread."""

    def __init__(
        self,
        ctx: ServiceContext,
        *,
        owner: str | None = None,
        options: RuntimeOptions | None = None,
    ) -> None:
        self.ctx = ctx
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.options = options or RuntimeOptions()
        self._conns: dict[str, _Conn] = {}
        self._bad: dict[str, str] = {}  # terminal id -> url whose config was refused
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._main: asyncio.Task[None] | None = None
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cloverpay-tdb")
        self._tasks: set[asyncio.Task[None]] = set()
        #: sales / ops of a previous owner this runtime looked up once on takeover
        self._adopted: set[str] = set()

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> TerminalRuntime:
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            self._wake = asyncio.Event()
            self._main = loop.create_task(self._run())
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="cloverpay-terminals", daemon=True)
        self._thread.start()
        ready.wait(10)
        _RUNNING.setdefault(id(self.ctx), self)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        loop = self._loop
        if loop is None:
            return
        self._stopping = True
        if _RUNNING.get(id(self.ctx)) is self:
            del _RUNNING[id(self.ctx)]
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout)
        loop.close()
        self._loop = None
        self._writer.shutdown(wait=True)

    def __enter__(self) -> TerminalRuntime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def poke(self) -> None:
        """Look at the queue now (a sale was just committed)."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    def owns(self, terminal_id: str) -> bool:
        return terminal_id in self._conns

    def is_ready(self, terminal_id: str) -> bool:
        conn = self._conns.get(terminal_id)
        return conn is not None and conn.connector.is_ready

    def _write(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> None:
        def call() -> None:
            try:
                fn(*args, **kw)
            except Exception:
                log.exception("terminal record update failed")

        with contextlib.suppress(RuntimeError):  # shut down
            self._writer.submit(call)

    def _call(self, coro: Any, timeout: float) -> Any:
        loop = self._loop
        if loop is None:
            raise RuntimeError("the terminal runtime is not running")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    # -- the loop -------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._stopping:
            try:
                await self._tick()
            except Exception:
                log.exception("terminal runtime tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.options.tick_s)
            self._wake.clear()

    async def _shutdown(self) -> None:
        if self._main is not None:
            self._main.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._main
        for task in list(self._tasks):  # sales in flight: wait for their answer
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(task), 5)
        for terminal_id in list(self._conns):
            await self._close(terminal_id)
            await asyncio.to_thread(release_lease, self.ctx, terminal_id, self.owner)

    async def _tick(self) -> None:
        opts = self.options
        terminals = await asyncio.to_thread(list_terminals, self.ctx)
        now = self.ctx.now()
        seen = set()
        for t in terminals:
            seen.add(t.id)
            conn = self._conns.get(t.id)
            if t.status == "disabled":
                if conn is not None and conn.busy is None:
                    await self._close(t.id)
                continue
            fresh = (
                t.lease_owner == self.owner
                and t.lease_until is not None
                and t.lease_until - now > timedelta(seconds=opts.lease_s * 2 / 3)
            )
            owned = fresh or await asyncio.to_thread(
                acquire_lease, self.ctx, t.id, self.owner, ttl_s=opts.lease_s
            )
            if not owned:
                if conn is not None and conn.busy is None:
                    log.warning("lost the lease of terminal %s", t.name)
                    await self._close(t.id)
                continue
            if conn is None:
                conn = await self._open(t)
                if conn is None:
                    continue
            if conn.connector.is_ready and conn.busy is None:
                await dispatch.adopt(self, conn)
                await dispatch.dispatch(self, conn)
        for terminal_id in set(self._conns) - seen:
            await self._close(terminal_id)

    async def _open(self, t: Terminal) -> _Conn | None:
        if self._bad.get(t.id) == t.url:
            return None
        opts = self.options
        merchant = await asyncio.to_thread(lookups.load_merchant, self, t.merchant_id)
        try:
            cloud = None
            if t.connection_kind == "cloud":
                if not t.device_id or not merchant.access_token_enc:
                    raise ValueError("a cloud terminal needs a device id and a connected merchant")
                cloud = CloudSettings(
                    merchant_id=merchant.clover_merchant_id,
                    device_id=t.device_id,
                    access_token=self.ctx.cipher.decrypt(merchant.access_token_enc),
                    friendly_id=f"cloverpay-{self.owner}"[:60],
                )
            config = ConnectorConfig(
                url=t.url,
                remote_application_id=opts.remote_application_id,
                pos_name="cloverpay service",
                serial_number=f"cloverpay-{t.id[:12]}",
                pinned_sha256=t.pinned_sha256,
                allow_plain_ws=self.ctx.settings.env != "production",
                request_timeout=opts.sale_timeout_s,
                recovery_timeout=opts.recovery_timeout_s,
                reconnect_delay=opts.reconnect_delay_s,
                heartbeat_interval=opts.heartbeat_interval_s,
                cloud=cloud,
            )
        except ValueError as exc:
            self._bad[t.id] = t.url
            await asyncio.to_thread(
                update_terminal, self.ctx, t.id, status="error", last_error=str(exc)[:500]
            )
            return None
        connector = CloverConnector(
            config,
            _Listener(self, t.id),
            token_store=DbTokenStore(self.ctx, t.id),
            rest_lookup=lookups.rest_lookup(self, merchant),
            rest_payment=lookups.rest_fetch(self, merchant),
        )
        conn = _Conn(t.id, t.merchant_id, t.name, connector)
        self._conns[t.id] = conn
        await connector.connect(wait_ready=False)
        return conn

    async def _close(self, terminal_id: str) -> None:
        conn = self._conns.pop(terminal_id, None)
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.connector.close()

    # -- lookups, refunds and voids (from other threads) ------------------------------

    def resolver(self) -> TerminalResolver:
        """Device first (when this process owns the terminal), then REST; REST only
        otherwise. For the reconciler of this process."""
        return lookups.resolver(self)

    def refund(
        self,
        merchant_id: str,
        payment_id: str,
        *,
        amount: int | None = None,
        reason: str | None = None,
        actor: str,
        wait_s: float = 60.0,
    ) -> PaymentAttempt:
        """Refund a terminal payment through the terminal that took it (queued for the
        terminal's owner, this process or another); waits up to ``wait_s`` for the
        outcome and returns the attempt (still ``pending`` if it took longer)."""
        return dispatch.refund(
            self, merchant_id, payment_id, amount=amount, reason=reason, actor=actor, wait_s=wait_s
        )

    def void(
        self,
        merchant_id: str,
        payment_id: str,
        *,
        reason: str | None = None,
        actor: str,
        wait_s: float = 60.0,
    ) -> PaymentAttempt:
        """Void a terminal payment through its terminal (see :meth:`refund`)."""
        return dispatch.void(
            self, merchant_id, payment_id, reason=reason, actor=actor, wait_s=wait_s
        )
