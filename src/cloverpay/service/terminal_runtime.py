"""The terminal connections of one service process (``cloverpay.remotepay``).

:class:`TerminalRuntime` runs an asyncio loop in a background thread. Every
``tick_s`` it takes or renews the lease of each terminal (a conditional UPDATE, see
:mod:`~cloverpay.service.services.terminals`); for each terminal it owns it keeps one
:class:`~cloverpay.remotepay.CloverConnector` (pairing token in the terminal's row,
the REST fallback of the recovery through the merchant's Clover client), sends the
terminal's queued sales one at a time — each only after winning ``queued -> sending``
— and settles what the device answers. A sale whose answer is lost is recovered by
the connector (device lookup by ``externalPaymentId``, then REST); what that cannot
prove becomes ``unknown`` and flagged, for the reconciler and a person. Nothing is
ever sent twice.

The dashboard and the API only commit intents (``start_terminal_sale``,
``request_terminal_refund``, ``request_terminal_void``); whichever process owns the
terminal sends them, each after winning its ``queued -> sending`` UPDATE, so several
processes can share one database. A process that takes over a terminal first looks up
the sales and ops its previous owner had sent without settling them (by
externalPaymentId on the device, then REST; refunds and voids on the v3 payment):
they are never sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Sequence
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
    OutcomeUnknownError,
    PaymentResolution,
    RefundPaymentRequest,
    SaleRequest,
    SaleResponse,
    VoidPaymentRequest,
)
from cloverpay.remotepay.protocol import DiscoveryResponse, UiStateMessage
from cloverpay.service.core.config import Settings
from cloverpay.service.core.crash import crash_point
from cloverpay.service.db import Merchant, Payment, PaymentAttempt, Terminal, TerminalOp
from cloverpay.service.services.clover_calls import CallOutcome
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.terminal_ops import (
    check_terminal_op,
    claim_op,
    orphaned_ops,
    queued_ops,
    request_terminal_refund,
    request_terminal_void,
    rest_op_lookup,
    settle_terminal_op,
    terminal_payment,
    update_op_screen,
    wait_settled,
)
from cloverpay.service.services.terminal_sales import (
    TerminalOutcome,
    TerminalResolver,
    check_terminal_attempt,
    claim_sale,
    orphaned_sales,
    outcome_of_payment,
    queued_sales,
    rest_payments,
    rest_resolver,
    settle_terminal_sale,
    update_sale_screen,
)
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


def _sale_outcome(attempt: PaymentAttempt, response: SaleResponse) -> TerminalOutcome:
    """The device's (or the recovery's) answer to a sale as an outcome."""
    source = "recovered" if response.recovery is not None else "device"
    if response.success:
        if response.payment is None:
            return TerminalOutcome("unknown", code="no_payment", message="SUCCESS without payment")
        return outcome_of_payment(attempt.amount, response.payment, source=source)
    reason = response.reason or response.result.value
    if "DUPLICATE" in reason.upper():
        # the device says a payment with this id exists: look it up, never assume
        return TerminalOutcome("unknown", code="duplicate", message=response.message or reason)
    # a decline, a cancel, a refusal before anything was charged, or a lookup that
    # proved nothing was paid: all answers, all "no money moved"
    return TerminalOutcome(
        "failed",
        payment_id=response.payment.id if response.payment else None,
        code=reason[:64],
        message=response.message or reason,
    )


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
                await self._adopt(conn)
                await self._dispatch(conn)
        for terminal_id in set(self._conns) - seen:
            await self._close(terminal_id)

    async def _open(self, t: Terminal) -> _Conn | None:
        if self._bad.get(t.id) == t.url:
            return None
        opts = self.options
        merchant = await asyncio.to_thread(self._merchant, t.merchant_id)
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
            rest_lookup=self._rest_lookup(merchant),
            rest_payment=self._rest_fetch(merchant),
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

    def _merchant(self, merchant_id: str) -> Merchant:
        with self.ctx.sessions() as s:
            return s.get_one(Merchant, merchant_id)

    def _rest_lookup(self, merchant: Merchant) -> Callable[[str], Any]:
        async def lookup(external_payment_id: str) -> Sequence[Any]:
            return await asyncio.to_thread(rest_payments, self.ctx, merchant, external_payment_id)

        return lookup

    def _rest_fetch(self, merchant: Merchant) -> Callable[[str], Any]:
        def get(payment_id: str) -> Any:
            from cloverpay.api import NotFoundError

            with self.ctx.gateway.client(merchant) as clover:
                try:
                    return clover.platform.payments.retrieve(payment_id)
                except NotFoundError:
                    return None

        async def fetch(payment_id: str) -> Any:
            return await asyncio.to_thread(get, payment_id)

        return fetch

    # -- sales ------------------------------------------------------------------------

    async def _adopt(self, conn: _Conn) -> None:
        """Look up, once, what a previous owner of the terminal sent and never settled
        (it died, or lost the lease): never sent again, only looked up."""
        actor = f"terminal:{conn.name}"
        sales = await asyncio.to_thread(orphaned_sales, self.ctx, conn.terminal_id, self.owner)
        ops = await asyncio.to_thread(orphaned_ops, self.ctx, conn.terminal_id, self.owner)
        for attempt_id in sales:
            if attempt_id in self._adopted:
                continue
            self._adopted.add(attempt_id)
            log.warning("terminal %s: looking up sale %s of a lost owner", conn.name, attempt_id)
            try:
                await asyncio.to_thread(
                    check_terminal_attempt, self.ctx, attempt_id, self.resolver(), actor=actor
                )
            except Exception:  # the reconciler looks again on its schedule
                log.exception("looking up sale %s failed", attempt_id)
        for attempt_id in ops:
            if attempt_id in self._adopted:
                continue
            self._adopted.add(attempt_id)
            log.warning("terminal %s: looking up op %s of a lost owner", conn.name, attempt_id)
            try:
                await asyncio.to_thread(
                    check_terminal_op, self.ctx, attempt_id, rest_op_lookup(self.ctx), actor=actor
                )
            except Exception:  # the reconciler looks again on its schedule
                log.exception("looking up op %s failed", attempt_id)

    async def _dispatch(self, conn: _Conn) -> None:
        for attempt, op in await asyncio.to_thread(queued_ops, self.ctx, conn.terminal_id, 1):
            if await asyncio.to_thread(claim_op, self.ctx, attempt.id, self.owner):
                conn.busy, conn.busy_kind = attempt.id, op.kind
                task = asyncio.create_task(self._run_op(conn, attempt, op))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                return
        for attempt in await asyncio.to_thread(queued_sales, self.ctx, conn.terminal_id, 1):
            if await asyncio.to_thread(claim_sale, self.ctx, attempt.id, self.owner):
                conn.busy, conn.busy_kind = attempt.id, "sale"
                task = asyncio.create_task(self._sell(conn, attempt))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            return

    async def _sell(self, conn: _Conn, attempt: PaymentAttempt) -> None:
        assert attempt.external_payment_id is not None
        request = SaleRequest(
            amount=attempt.amount,
            external_id=attempt.external_payment_id,
            # the service has no clerk at the device to verify signatures or answer
            # the device's challenges: they are accepted (the device still asks the
            # customer); a POS with a clerk would answer them itself
            auto_accept_signature=True,
            auto_accept_payment_confirmations=True,
        )
        try:
            response = await conn.connector.sale(request)
            # the device answered (it may have charged); nothing is recorded yet
            crash_point("after_terminal_sale_answered")
            outcome = _sale_outcome(attempt, response)
        except OutcomeUnknownError as lost:
            why = lost.resolution.reason if lost.resolution is not None else str(lost)
            outcome = TerminalOutcome("unknown", code="outcome_unknown", message=why)
        except Exception as exc:  # we cannot tell whether it left: unknown, never failed
            log.exception("terminal sale %s", attempt.id)
            outcome = TerminalOutcome("unknown", code=type(exc).__name__, message=str(exc))
        try:
            await asyncio.to_thread(
                settle_terminal_sale, self.ctx, attempt.id, outcome, actor=f"terminal:{conn.name}"
            )
        except Exception:  # the reconciler takes over once the sale is overdue
            log.exception("settling terminal sale %s failed", attempt.id)
        finally:
            conn.busy = None
            self.poke()

    # -- lookups and refunds (from other threads) -------------------------------------------

    def resolver(self) -> TerminalResolver:
        """Device first (when this process owns the terminal), then REST; REST only
        otherwise. For the reconciler of this process."""
        rest = rest_resolver(self.ctx)

        def resolve(terminal: Terminal, external_id: str) -> PaymentResolution:
            conn = self._conns.get(terminal.id)
            if conn is None:
                return rest(terminal, external_id)
            budget = self.options.recovery_timeout_s
            resolution: PaymentResolution = self._call(
                conn.connector.resolve_payment(external_id, timeout=budget), budget + 10
            )
            return resolution

        return resolve

    # -- refunds and voids ------------------------------------------------------------------

    async def _run_op(self, conn: _Conn, attempt: PaymentAttempt, op: TerminalOp) -> None:
        try:
            outcome = await self._send_op(conn, attempt, op)
        except Exception as exc:  # it may have left: unknown, never failed
            log.exception("terminal %s %s", op.kind, attempt.id)
            outcome = CallOutcome("unknown", code=type(exc).__name__, message=str(exc))
        try:
            await asyncio.to_thread(
                settle_terminal_op, self.ctx, attempt.id, outcome, actor=f"terminal:{conn.name}"
            )
        except Exception:  # the reconciler takes over once the op is overdue
            log.exception("settling terminal %s %s failed", op.kind, attempt.id)
        finally:
            conn.busy = None
            self.poke()

    async def _send_op(self, conn: _Conn, attempt: PaymentAttempt, op: TerminalOp) -> CallOutcome:
        def load() -> tuple[Payment, str | None]:
            with self.ctx.sessions() as s:
                found = terminal_payment(s, op.payment_id)
                return s.get_one(Payment, op.payment_id), found[1] if found else None

        payment, external_id = await asyncio.to_thread(load)
        try:
            if op.kind == "refund":
                refund = await conn.connector.refund_payment(
                    RefundPaymentRequest(
                        payment_id=payment.clover_charge_id,
                        order_id=payment.clover_order_id,
                        amount=attempt.amount,
                        external_payment_id=external_id,  # a lost answer: device view
                    )
                )
                crash_point("after_terminal_op_answered")
                if refund.success and refund.refund is not None and refund.refund.id:
                    return CallOutcome("succeeded", clover_id=refund.refund.id)
                if refund.success:
                    return CallOutcome("unknown", code="no_refund_in_answer")
                return CallOutcome(
                    "rejected",
                    code=(refund.reason or "refund_failed")[:64],
                    message=refund.message or refund.reason,
                )
            void = await conn.connector.void_payment(
                VoidPaymentRequest(
                    payment_id=payment.clover_charge_id,
                    order_id=payment.clover_order_id,
                    external_payment_id=external_id,
                )
            )
            crash_point("after_terminal_op_answered")
            if void.success:
                return CallOutcome("succeeded", clover_id=payment.clover_charge_id)
            return CallOutcome(
                "rejected",
                code=(void.reason or "void_failed")[:64],
                message=void.message or void.reason,
            )
        except OutcomeUnknownError as lost:
            why = lost.resolution.reason if lost.resolution is not None else str(lost)
            return CallOutcome("unknown", code="outcome_unknown", message=why)

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
        attempt = request_terminal_refund(
            self.ctx, merchant_id, payment_id, amount=amount, reason=reason, actor=actor
        )
        self.poke()
        return wait_settled(self.ctx, attempt.id, wait_s)

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
        attempt = request_terminal_void(
            self.ctx, merchant_id, payment_id, reason=reason, actor=actor
        )
        self.poke()
        return wait_settled(self.ctx, attempt.id, wait_s)
