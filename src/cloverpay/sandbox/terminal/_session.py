"""One POS connection to the emulated terminal: the device end of the protocol core.

A :class:`Session` owns one websocket and one
:class:`~cloverpay.remotepay.protocol.RemotePayProtocol` in the DEVICE role. It reads
frames, ACKs every command (spec §4.3, when the device advertises acknowledgements),
pairs, answers discovery and PINGs, and hands everything else to
:mod:`._handlers` (requests with an immediate answer, :mod:`._answers`) or
:mod:`._flows` (transactions). Frames are written by one writer task, in the order the core made
them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from pydantic_core import to_json

from cloverpay.remotepay.protocol import (
    CLOUD_PACKAGE_NAME,
    DiscoveryRequest,
    DiscoveryResponse,
    Envelope,
    Event,
    FragmentedMessageDropped,
    LocalProtocolError,
    Message,
    MessageReceived,
    MessageType,
    Method,
    PairingCode,
    PairingRequest,
    PairingResponse,
    PairingState,
    PingReceived,
    Pong,
    ProtocolError,
    RemotePayProtocol,
    Role,
    SessionState,
    UnknownMessageReceived,
    UntypedMessage,
    encode_envelope,
)

from ._handlers import handle_message

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

    from ._device import Terminal

__all__ = ["Session"]

log = logging.getLogger("cloverpay.sandbox.terminal")


class Session:
    """See the module docstring. Created by the server for each accepted socket."""

    def __init__(
        self,
        terminal: Terminal,
        ws: ServerConnection,
        *,
        cloud: bool = False,
        friendly_id: str | None = None,
    ) -> None:
        """``cloud=True``: a Cloud Pay Display connection through the (emulated) proxy:
        no pairing, the cloud package name, ready for DISCOVERY_REQUEST at once."""
        self.terminal = terminal
        self.ws = ws
        self.cloud = cloud
        self.friendly_id = friendly_id
        self.core = RemotePayProtocol(
            Role.DEVICE,
            package_name=(
                "com.clover.remote.protocol.websocket"
                if cloud
                else "com.clover.remote_protocol_broadcast.app"
            ),
            pairing=not cloud,
        )
        self._out: asyncio.Queue[str | None] = asyncio.Queue()
        self.open = True
        self.pos_name: str | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- outbound ----------------------------------------------------------------------

    def send(self, message: Message | UntypedMessage | Pong) -> None:
        """Queue ``message`` for the POS (dropped, and logged, if the session state
        does not allow it or the socket is gone)."""
        if not self.open:
            return
        try:
            frames = self.core.send(message)
        except LocalProtocolError as exc:
            self.terminal.state.events.add("terminal_send_refused", error=str(exc))
            return
        for frame in frames:
            self._out.put_nowait(frame)

    async def _writer(self) -> None:
        while True:
            frame = await self._out.get()
            if frame is None:
                return
            await self.ws.send(frame)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the socket with a close frame (after the frames already queued)."""
        if not self.open:
            return
        self.open = False
        self._out.put_nowait(None)

        async def closing() -> None:
            with contextlib.suppress(Exception):
                await self.ws.close(code, reason)

        self.spawn(closing())

    def force_out(self, friendly_id: str) -> None:
        """Another POS connected with ``forceConnect=true``: tell this one who took the
        device (a ``FORCECONNECT`` EVENT, spec §1.2), then close the socket."""
        if not self.open:
            return
        payload = to_json({"friendlyId": friendly_id, "method": "FORCECONNECT"}).decode()
        frame = encode_envelope(
            Envelope(
                type=MessageType.EVENT,
                method=Method.FORCECONNECT,
                payload=payload,
                version=self.core.outbound_version,
                package_name=CLOUD_PACKAGE_NAME,
            )
        )
        self._out.put_nowait(frame)
        self.terminal.state.events.add("terminal_force_connect", friendly_id=friendly_id)
        self.close(1000, "Another POS connected with forceConnect")

    def drop(self) -> None:
        """Lose the connection abruptly (no close frame), like a network failure."""
        self.open = False
        self._out.put_nowait(None)
        self.ws.transport.abort()

    # -- inbound -----------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until it closes."""
        self.terminal.attach(self)
        if self.cloud:
            self.terminal.active = self
        writer = asyncio.ensure_future(self._writer())
        expiry = asyncio.ensure_future(self._expire_fragments())
        try:
            async for frame in self.ws:
                if isinstance(frame, bytes):
                    self.terminal.state.events.add("terminal_binary_frame_dropped")
                    continue
                self._receive(frame)
        except Exception as exc:  # connection errors end the session like a close
            log.debug("terminal session ended: %s", type(exc).__name__)
        finally:
            self.open = False
            self.core.connection_closed()
            writer.cancel()
            expiry.cancel()
            for task in list(self._tasks):
                if not task.done():
                    task.cancel()
            self.terminal.detach(self)

    def _receive(self, frame: str) -> None:
        try:
            events = self.core.receive_data(frame, now=asyncio.get_running_loop().time())
        except ProtocolError as exc:
            # e.g. a command queued by the SDK before it re-paired: drop, keep going
            self.terminal.state.events.add("terminal_frame_dropped", error=exc.msg, field=exc.field)
            return
        self._handle_events(events)

    async def _expire_fragments(self) -> None:
        """Finish fragmented messages whose last fragment never says so (Android and
        Windows SDKs, spec §3.1) once they have been idle ``fragment_idle_s``."""
        loop = asyncio.get_running_loop()
        while True:
            idle = self.terminal.settings.fragment_idle_s
            await asyncio.sleep(idle / 2)
            if self.core.pending_fragments:
                self._handle_events(self.core.expire_fragments(loop.time(), idle))

    def _handle_events(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, PingReceived):
                self.send(Pong())
            elif isinstance(event, MessageReceived):
                if self.terminal.settings.supports_acknowledgement:
                    self._ack(event)
                self._dispatch(event)
            elif isinstance(event, UnknownMessageReceived):
                self.terminal.state.events.add("terminal_unknown_method", method=event.method)
            elif isinstance(event, FragmentedMessageDropped):
                self.terminal.state.events.add(
                    "terminal_fragments_dropped", fragments=event.fragments, reason=event.reason
                )

    def _ack(self, event: MessageReceived) -> None:
        try:
            for frame in self.core.ack(event):
                self._out.put_nowait(frame)
        except LocalProtocolError as exc:
            self.terminal.state.events.add("terminal_send_refused", error=str(exc))

    def _dispatch(self, event: MessageReceived) -> None:
        message = event.message
        self.terminal.state.events.add("terminal_received", method=message.method.value)
        if isinstance(message, PairingRequest):
            self.spawn(self._pair(message))
        elif isinstance(message, DiscoveryRequest):
            self.send(self.discovery_response())
        else:
            handle_message(self, event)

    # -- pairing and discovery ------------------------------------------------------------

    async def _pair(self, request: PairingRequest) -> None:
        t = self.terminal
        self.pos_name = request.name
        token = request.authentication_token
        if not t.known_token(token):
            code = t.state.ids.digits(6)
            self.send(PairingCode(pairing_code=code))
            t.set_pairing_code(code)
            if t.settings.pairing == "confirm":
                future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
                t.pending_pairings[code] = future
                try:
                    accepted = await future
                finally:
                    t.pending_pairings.pop(code, None)
                    t.set_pairing_code(None)
                if not accepted:
                    self.send(self._pairing_response(request, PairingState.FAILED, None))
                    return
            else:
                t.set_pairing_code(None)
            token = t.issue_token(request.name)
        self.send(self._pairing_response(request, PairingState.PAIRED, token))
        if self.core.state is not SessionState.CONNECTED:
            t.active = self
            t.state.events.add("terminal_paired", pos=request.name or "")
            t.show("WELCOME_SCREEN", "Welcome")

    def _pairing_response(
        self, request: PairingRequest, state: PairingState, token: str | None
    ) -> PairingResponse:
        return PairingResponse(
            name=request.name,
            serial_number=request.serial_number,
            application_name=request.application_name,
            pairing_state=state,
            authentication_token=token,
            millis=self.terminal.state.clock.now_ms(),
        )

    def discovery_response(self) -> DiscoveryResponse:
        s = self.terminal.settings
        merchant = self.terminal.state.merchant
        return DiscoveryResponse(
            merchant_id=merchant.merchant_id,
            merchant_name=merchant.name,
            merchant_m_id=merchant.merchant_id,
            name=s.name,
            serial=s.serial,
            model=s.model,
            ready=True,
            supports_tip_adjust=s.supports_tip_adjust,
            supports_manual_refund=s.supports_manual_refund,
            supports_multi_pay_token=False,
            supports_acknowledgement=s.supports_acknowledgement,
            supports_pre_auth=s.supports_pre_auth,
            supports_auth=s.supports_auth,
            supports_vault_card=s.supports_vault_card,
            supports_void_payment_response=s.supports_void_payment_response,
        )
