"""The emulated terminal itself: settings, screen, customer, in-flight transaction.

One :class:`Terminal` per sandbox state (:func:`terminal_for`). It is transport-free:
the websocket server (:mod:`._server`) feeds it POS connections, the control API and
the ``/terminal`` page feed it customer actions, from any thread. Everything that
runs (sessions, transaction flows) runs on the event loop the server bound with
:meth:`Terminal.bind_loop`; other threads reach it through ``call_soon_threadsafe``.

Inputs: a transaction flow waits with :meth:`Terminal.expect` for the next input of
the kinds it accepts. Customer inputs are ``tap`` (``card``, ``entry``), ``cancel``,
``tip`` (``amount``), ``sign``, ``accept``, ``reject`` and ``receipt``; POS inputs
(from the session) are ``pos_cancel`` (KEY_PRESS ESC), ``pos_confirm``,
``pos_reject`` and ``pos_signature`` (``verified``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cloverpay.remotepay.protocol import Message

from .._state import SandboxState
from ._device_state import InFlight, Input, ScriptQueue, TerminalSettings
from ._ledger import Books, TerminalLedger
from ._script import DEFAULT_SCRIPT, CustomerScript

if TYPE_CHECKING:
    from ._session import Session

__all__ = ["InFlight", "Input", "ScriptQueue", "Terminal", "TerminalSettings", "terminal_for"]


class Terminal:
    """See the module docstring."""

    def __init__(self, state: SandboxState, settings: TerminalSettings | None = None) -> None:
        self.state = state
        self.settings = settings or TerminalSettings()
        self.books = Books(state, self.settings.device_id)
        self._lock = threading.RLock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inbox: asyncio.Queue[Input] | None = None
        self._watchers: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]]] = []
        self.sessions: set[Session] = set()
        self.active: Session | None = None
        self.in_flight: InFlight | None = None
        self.last_message: Message | None = None
        self.last_external_payment_id: str | None = None
        #: pairing code -> future resolved with True (confirmed) / False (rejected)
        self.pending_pairings: dict[str, asyncio.Future[bool]] = {}
        self.print_jobs: dict[str, list[str]] = {}
        self.boots = 1
        #: where the terminal listens and the CA to trust (set by the server)
        self.url: str | None = None
        self.ca_pem: str | None = None
        #: Cloud Pay Display: proxy token -> merchant id (issued by the remote_pay alert)
        self.cloud_tokens: dict[str, str] = {}
        self._screen: dict[str, Any] = {"screen": "WELCOME_SCREEN", "text": "Welcome"}
        self._version = 0

    # -- loop binding ------------------------------------------------------------------

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Called by the server on start: flows and sessions run on ``loop``."""
        self._loop = loop
        self._inbox = asyncio.Queue()

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._loop

    @property
    def running(self) -> bool:
        return self._loop is not None and not self._loop.is_closed() and self.url is not None

    def _call(self, fn: Callable[[], Any]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            raise RuntimeError("the terminal is not running (start the terminal server)")
        loop.call_soon_threadsafe(fn)

    # -- scripts -----------------------------------------------------------------------

    @property
    def _scripts(self) -> deque[CustomerScript]:
        """The queue lives in the sandbox state, so ``/_sandbox/reset`` empties it."""
        return self.state.domain(ScriptQueue).for_device(self.settings.device_id)

    def push_script(self, script: CustomerScript, count: int = 1) -> int:
        """Queue ``script`` for the next ``count`` transactions; returns queue length."""
        with self._lock:
            self._scripts.extend([script] * count)
            return len(self._scripts)

    def clear_scripts(self) -> None:
        with self._lock:
            self._scripts.clear()

    def scripts(self) -> list[CustomerScript]:
        with self._lock:
            return list(self._scripts)

    def take_drop_script(self) -> CustomerScript | None:
        """Refunds and voids involve no customer: they take the next script only when it
        is ``drop_socket`` (the other outcomes wait for a sale)."""
        with self._lock:
            queue = self._scripts
            if queue and queue[0].outcome == "drop_socket":
                return queue.popleft()
            return None

    def next_script(self) -> CustomerScript:
        with self._lock:
            return self._scripts.popleft() if self._scripts else DEFAULT_SCRIPT

    # -- inputs --------------------------------------------------------------------------

    def post_input(self, kind: str, **data: Any) -> None:
        """Deliver a customer (or POS) input; safe from any thread."""
        item = Input(kind, data)

        def put() -> None:
            if self._inbox is not None:
                self._inbox.put_nowait(item)

        if self._loop is not None and _running_loop() is self._loop:
            put()
        else:
            self._call(put)

    def drain_inputs(self) -> None:
        if self._inbox is not None:
            while not self._inbox.empty():
                self._inbox.get_nowait()

    async def expect(self, *kinds: str) -> Input:
        """The next input whose kind is in ``kinds`` (others are dropped)."""
        assert self._inbox is not None
        while True:
            item = await self._inbox.get()
            if item.kind in kinds:
                return item

    # -- screen --------------------------------------------------------------------------

    def show(self, screen: str, text: str = "", **extra: Any) -> None:
        """Set what the customer-facing screen shows and tell the watchers."""
        with self._lock:
            keep = {k: self._screen[k] for k in ("pairing_code",) if k in self._screen}
            self._screen = {"screen": screen, "text": text, **keep, **extra}
        self._publish()

    def set_pairing_code(self, code: str | None) -> None:
        with self._lock:
            if code is None:
                self._screen.pop("pairing_code", None)
            else:
                self._screen["pairing_code"] = code
        self._publish()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            flight = self.in_flight
            return {
                **self._screen,
                "version": self._version,
                "connected": len(self.sessions),
                "paired": self.active is not None,
                "boots": self.boots,
                "in_flight": None
                if flight is None
                else {
                    "request_info": flight.request_info,
                    "external_payment_id": flight.external_payment_id,
                },
                "scripts": len(self._scripts),
                "device": {"name": self.settings.name, "serial": self.settings.serial},
            }

    def watch(self) -> tuple[asyncio.Queue[dict[str, Any]], Callable[[], None]]:
        """A queue on the *caller's* loop that receives every new snapshot."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=64)
        entry = (loop, queue)
        with self._lock:
            self._watchers.append(entry)

        def stop() -> None:
            with self._lock:
                if entry in self._watchers:
                    self._watchers.remove(entry)

        return queue, stop

    def _publish(self) -> None:
        with self._lock:
            self._version += 1
            watchers = list(self._watchers)
        snap = self.snapshot()
        for loop, queue in watchers:

            def put(q: asyncio.Queue[dict[str, Any]] = queue) -> None:
                if q.full():
                    q.get_nowait()
                q.put_nowait(snap)

            if not loop.is_closed():
                loop.call_soon_threadsafe(put)

    # -- pairing -------------------------------------------------------------------------

    def confirm_pairing(self, code: str | None = None, accept: bool = True) -> bool:
        """The merchant confirms (or rejects) a pairing code on the device. With no
        ``code``, the only pending one. Returns False if no such pairing waits."""
        with self._lock:
            if code is None:
                codes = list(self.pending_pairings)
                if len(codes) != 1:
                    return False
                code = codes[0]
            future = self.pending_pairings.get(code)
        if future is None:
            return False

        def resolve() -> None:
            if not future.done():
                future.set_result(accept)

        self._call(resolve)
        return True

    def known_token(self, token: str | None) -> bool:
        with self.state.lock:
            return token is not None and token in self.state.domain(TerminalLedger).tokens

    def issue_token(self, pos_name: str | None) -> str:
        token = self.state.ids.secret(32)
        with self.state.lock:
            self.state.domain(TerminalLedger).tokens[token] = pos_name or ""
        return token

    # -- cloud ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str | None:
        """``ws(s)://host:port`` without the path (the cloud proxy's ``host``)."""
        return None if self.url is None else self.url.rsplit("/", 1)[0]

    def issue_cloud_token(self, merchant_id: str) -> str:
        token = self.state.ids.secret(32)
        with self._lock:
            self.cloud_tokens[token] = merchant_id
        return token

    def register_device(self) -> dict[str, Any]:
        """List this terminal among the merchant's v3 devices (idempotent)."""
        from .._platform import PlatformStore

        s = self.settings
        with self.state.lock:
            store = self.state.domain(PlatformStore)
            known = store.devices.get(s.device_id)
            if known is not None:
                return known
            return store.add_device(
                self.state.merchant.merchant_id,
                {
                    "id": s.device_id,
                    "name": s.name,
                    "model": s.model,
                    "serial": s.serial,
                    "deviceTypeName": "MINI_2",
                    "productName": "Clover Mini (sandbox)",
                    "secureId": s.serial,
                },
            )

    def cloud_friendly_ids(self) -> list[str]:
        with self._lock:
            return [x.friendly_id for x in self.sessions if x.cloud and x.friendly_id]

    # -- sessions ------------------------------------------------------------------------

    def attach(self, session: Session) -> None:
        with self._lock:
            self.sessions.add(session)
        self._publish()

    def detach(self, session: Session) -> None:
        with self._lock:
            self.sessions.discard(session)
            if self.active is session:
                self.active = None
        self._publish()

    def emit(self, message: Message, session: Session | None = None) -> None:
        """Send ``message`` to the POS: the given session if still open, else the
        latest paired one (a POS that reconnected mid-transaction), else nowhere."""
        target = session if session is not None and session.open else self.active
        if target is not None:
            target.send(message)

    # -- reboot --------------------------------------------------------------------------

    def reboot(self) -> None:
        """Restart the device: the in-flight transaction and every connection are
        dropped and forgotten; payments already recorded stay in the v3 view."""
        self._call(self._reboot_now)

    async def power_off(self) -> None:
        """The server stops: end the flow in flight (nothing more is sent)."""
        with self._lock:
            flight, self.in_flight = self.in_flight, None
        if flight is not None and flight.task is not None and not flight.task.done():
            flight.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await flight.task

    def _reboot_now(self) -> None:
        with self._lock:
            flight, self.in_flight = self.in_flight, None
            sessions = list(self.sessions)
            pending = list(self.pending_pairings.values())
            self.pending_pairings.clear()
            self.last_message = None
            self.last_external_payment_id = None
            self.boots += 1
            self.books.boot_payment_ids.clear()
        for future in pending:
            if not future.done():
                future.cancel()
        if flight is not None and flight.task is not None:
            flight.task.cancel()
        for session in sessions:
            session.close(1001, "emulated device restart")
        self.drain_inputs()
        self.state.events.add("terminal_reboot", boots=self.boots)
        self._screen = {"screen": "WELCOME_SCREEN", "text": "Welcome"}
        self._publish()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


_terminals: weakref.WeakKeyDictionary[SandboxState, Terminal] = weakref.WeakKeyDictionary()
_terminals_lock = threading.Lock()


def terminal_for(state: SandboxState, settings: TerminalSettings | None = None) -> Terminal:
    """The one emulated terminal of ``state`` (created on first use)."""
    with _terminals_lock:
        terminal = _terminals.get(state)
        if terminal is None:
            terminal = _terminals[state] = Terminal(state, settings)
        elif settings is not None:
            terminal.settings = settings
        return terminal
