"""The websocket half of the CloverConnector (Clover's CloverTransport): connects,
pairs or discovers, reconnects with backoff, keeps the heartbeat, and turns messages
into frames and frames into the sans-I/O core's events, which
:class:`~._session.ConnectorSession` routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.typing import Subprotocol

from cloverpay._redact import install_log_redaction

from ._cloud import CloudError, cloud_websocket_url
from ._config import ConnectorConfig
from ._errors import NotReadyError, OutcomeUnknownError
from ._listener import CloverConnectorListener, DeviceErrorEvent
from ._recovery import RestPaymentFetch, RestPaymentLookup
from ._tokens import MemoryTokenStore, TokenStore
from .protocol import (
    CLOUD_PACKAGE_NAME,
    SNPD_PACKAGE_NAME,
    DiscoveryRequest,
    DiscoveryResponse,
    Event,
    LocalProtocolError,
    Message,
    MessageReceived,
    Method,
    PairingRequest,
    Ping,
    Pong,
    ProtocolError,
    RefundResponse,
    RemotePayProtocol,
    RemoteProtocolError,
    RequestInfo,
    Role,
    SessionState,
    UntypedMessage,
)

__all__ = ["CloverTransport"]

log = logging.getLogger("cloverpay.remotepay")
T = TypeVar("T")
# websockets logs the handshake at DEBUG (the cloud OAuth token is the sub-protocol)
# and httpx the URLs at INFO (the proxy token): mask them at every level
install_log_redaction()


@dataclass(slots=True)
class _Transaction:
    """The one TX_START / REFUND_REQUEST in flight."""

    info: RequestInfo
    external_id: str | None
    future: asyncio.Future[MessageReceived]
    refund_response: RefundResponse | None = None


@dataclass(slots=True)
class _Waiters:
    by_method: dict[Method, deque[asyncio.Future[MessageReceived]]] = field(default_factory=dict)
    by_ack: dict[str, asyncio.Future[MessageReceived]] = field(default_factory=dict)


class CloverTransport(ABC):
    """The connection to the device; :class:`~._session.ConnectorSession` routes what
    arrives."""

    def __init__(
        self,
        config: ConnectorConfig,
        listener: CloverConnectorListener | None = None,
        *,
        token_store: TokenStore | None = None,
        rest_lookup: RestPaymentLookup | None = None,
        rest_payment: RestPaymentFetch | None = None,
    ) -> None:
        """``rest_lookup`` (e.g. :func:`rest_payment_lookup` of a
        :class:`cloverpay.api.AsyncCloverClient`) lets the recovery of a lost answer ask
        Clover's REST API when the device no longer knows the payment; ``rest_payment``
        (:func:`rest_payment_fetch`) does the same for refunds and voids."""
        self.config = config
        self.rest_lookup = rest_lookup
        self.rest_payment = rest_payment
        #: externalPaymentIds whose outcome is UNKNOWN (see ``resolve_payment``): a new
        #: transaction with one of them is refused until it is resolved
        self.unknown_external_ids: set[str] = set()
        self.listener = listener or CloverConnectorListener()
        self.token_store: TokenStore = token_store or MemoryTokenStore()
        self.merchant_info: DiscoveryResponse | None = None
        self._core: RemotePayProtocol | None = None
        self._ws: ClientConnection | None = None
        self._send_lock = asyncio.Lock()
        self._ready = asyncio.Event()
        self._closing = False
        self._was_ready = False
        self._runner: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._pong: asyncio.Event = asyncio.Event()
        self._tx: _Transaction | None = None
        self._waiters = _Waiters()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle ------------------------------------------------------------
    @property
    def is_ready(self) -> bool:
        return self._ready.is_set()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self, *, wait_ready: bool = True, timeout: float | None = None) -> None:
        """Start the connection loop; with ``wait_ready`` wait until the device is ready
        (pairing included: the merchant may need to type the code)."""
        if self._runner is None or self._runner.done():
            self._closing = False
            self._runner = asyncio.create_task(self._run(), name="cloverpay-connector")
        if not wait_ready or self._ready.is_set():
            return
        ready = asyncio.ensure_future(self._ready.wait())
        runner = self._runner
        try:
            done, _ = await asyncio.wait(
                {ready, runner}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            ready.cancel()
        if ready in done:
            return
        if runner in done:
            raise NotReadyError(
                "the connection loop stopped before the device was ready (see on_device_error)"
            )
        raise TimeoutError("the device did not become ready in time")

    async def close(self) -> None:
        """Close the connection (1000 NORMAL_CLOSURE) and stop reconnecting (on the cloud
        path a SHUTDOWN goes first, as the JS SDK does)."""
        self._closing = True
        if self.config.cloud is not None and self._ws is not None:
            with contextlib.suppress(NotReadyError, ConnectionClosed, ProtocolError):
                await self._send(UntypedMessage(Method.SHUTDOWN))
        if self._ws is not None:
            await self._ws.close(1000, "NORMAL_CLOSURE")
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None

    async def _run(self) -> None:
        cfg = self.config
        delay: float | None = None
        while not self._closing:
            self._was_ready = False
            try:
                await self._session()
            except (OSError, WebSocketException, TimeoutError) as exc:
                self._error("COMMUNICATION", "NotConnected", f"{type(exc).__name__}: {exc}")
            if self._closing or cfg.reconnect_delay is None:
                return
            # backoff: doubles while attempts fail, back to the start once ready
            delay = cfg.next_reconnect_delay(None if self._was_ready else delay)
            assert delay is not None
            await asyncio.sleep(delay)

    async def _cloud_url(self) -> str | None:
        """The proxy URL for the cloud path (None: give up, the reason was reported)."""
        cfg = self.config
        assert cfg.cloud is not None
        verify: ssl.SSLContext | bool = cfg.ssl_context() or True
        try:
            async with httpx.AsyncClient(verify=verify, timeout=cfg.connect_timeout) as client:
                url = await cloud_websocket_url(client, cfg.url, cfg.cloud)
        except CloudError as exc:
            code = "AccessDenied" if "already connected" in str(exc) else "CloudError"
            self._error("COMMUNICATION", code, str(exc))
            if not exc.reconnect:
                self._closing = True
            return None
        except httpx.HTTPError as exc:
            self._error("COMMUNICATION", "NotConnected", f"{type(exc).__name__}: {exc}")
            return None
        if url.startswith("ws:") and not cfg.allow_plain_ws:
            self._error("COMMUNICATION", "CloudError", "the proxy is plain ws://; refused")
            self._closing = True
            return None
        return url

    async def _session(self) -> None:
        cfg = self.config
        cloud = cfg.cloud
        url = cfg.url
        subprotocols: list[Subprotocol] | None = None
        if cloud is not None:
            proxy = await self._cloud_url()
            if proxy is None:
                return
            url = proxy
            subprotocols = [Subprotocol(cloud.access_token)]
        async with connect(
            url,
            ssl=cfg.ssl_context() if url.startswith("wss:") else None,
            open_timeout=cfg.connect_timeout,
            max_size=16 * 1024 * 1024,
            compression=None,
            subprotocols=subprotocols,
        ) as ws:
            if url.startswith("wss:"):
                ssl_object = ws.transport.get_extra_info("ssl_object")
                cert = ssl_object.getpeercert(binary_form=True) if ssl_object else None
                if not cfg.pin_matches(cert):
                    self._error("COMMUNICATION", "CertificatePin", "certificate pin mismatch")
                    await ws.close(1008, "certificate pin mismatch")
                    self._closing = True
                    return
            self._ws = ws
            self._core = RemotePayProtocol(
                Role.POS,
                remote_application_id=cfg.remote_application_id,
                remote_source_sdk=cfg.remote_source_sdk,
                pairing=cloud is None,
                package_name=SNPD_PACKAGE_NAME if cloud is None else CLOUD_PACKAGE_NAME,
            )
            self._notify(self.listener.on_device_connected)
            try:
                if cloud is not None:  # no pairing on the cloud path
                    await self._send(DiscoveryRequest(supports_order_modification=False))
                else:
                    await self._send(
                        PairingRequest(
                            name=cfg.pos_name,
                            serial_number=cfg.serial_number,
                            application_name=cfg.pos_name,
                            authentication_token=self.token_store.load(),
                        )
                    )
                async for text in ws:
                    if isinstance(text, str):
                        self._receive(text)
            except ConnectionClosed:
                pass
            finally:
                self._disconnected()

    def _disconnected(self) -> None:
        was_connected = self._core is not None
        if self._core is not None:
            self._core.connection_closed()
        self._core = None
        self._ws = None
        self._ready.clear()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        lost = "connection lost before the device answered"
        if self._tx is not None and not self._tx.future.done():
            self._tx.future.set_exception(
                OutcomeUnknownError(lost, method="TX_START", external_id=self._tx.external_id)
            )
        self._tx = None
        for queue in self._waiters.by_method.values():
            for fut in queue:
                if not fut.done():
                    fut.set_exception(OutcomeUnknownError(lost, method="request"))
        for fut in self._waiters.by_ack.values():
            if not fut.done():
                fut.set_exception(OutcomeUnknownError(lost, method="VOID_PAYMENT"))
        self._waiters = _Waiters()
        if was_connected:
            self._notify(self.listener.on_device_disconnected)

    # -- frames -----------------------------------------------------------------
    async def _send(
        self,
        message: Message | UntypedMessage | Ping | Pong,
        *,
        on_encoded: Callable[[str | None], None] | None = None,
        **kw: Any,
    ) -> None:
        """Encode and write a message. ``on_encoded(envelope id)`` runs once the frames
        exist and before they are written, so a waiter is in place before any answer."""
        async with self._send_lock:
            # read under the lock: a reconnect may have replaced the connection meanwhile
            core, ws = self._core, self._ws
            if core is None or ws is None or core.state is SessionState.CLOSED:
                raise NotReadyError("The Clover device is not connected.")
            frames = core.send(message, **kw)
            if on_encoded is not None:
                on_encoded(core.last_sent_id)
            for frame in frames:
                await ws.send(frame)

    def _receive(self, text: str) -> None:
        core = self._core
        assert core is not None
        try:
            events = core.receive_data(text, now=asyncio.get_running_loop().time())
        except RemoteProtocolError as exc:
            self._error("PROTOCOL", "RemoteProtocolError", str(exc))
            return
        for event in events:
            self._dispatch(event)

    @abstractmethod
    def _dispatch(self, event: Event) -> None:
        """Act on one event of the core (see :class:`~._session.ConnectorSession`)."""

    async def _heartbeat_loop(self) -> None:
        interval = self.config.heartbeat_interval
        assert interval is not None
        while True:
            await asyncio.sleep(interval)
            self._pong.clear()
            try:
                await self._send(Ping())
                async with asyncio.timeout(self.config.heartbeat_timeout):
                    await self._pong.wait()
            except TimeoutError:
                self._ready.clear()  # not ready from now on; the close reconnects
                self._error("COMMUNICATION", "HeartbeatTimeout", "no PONG from the device")
                ws = self._ws
                if ws is not None:
                    await ws.close(4001, "Missed pong")
                return
            except (NotReadyError, ConnectionClosed, LocalProtocolError):
                return

    # -- helpers ----------------------------------------------------------------
    def _notify(self, hook: Callable[..., None], *args: Any) -> None:
        try:
            hook(*args)
        except Exception:
            log.exception("listener callback %s failed", getattr(hook, "__name__", hook))

    def _error(self, kind: str, code: str, message: str) -> None:
        log.warning("device error %s/%s: %s", kind, code, message)
        self._notify(self.listener.on_device_error, DeviceErrorEvent(kind, code, message))

    def _background(self, message: Message) -> None:
        self._spawn(self._send(message))

    def _spawn(self, awaitable: Awaitable[Any]) -> None:
        task = asyncio.create_task(self._quiet(awaitable))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _quiet(self, awaitable: Awaitable[Any]) -> None:
        try:
            await awaitable
        except (NotReadyError, ConnectionClosed, ProtocolError) as exc:
            log.debug("background send dropped: %s", exc)

    async def _wait(
        self, fut: asyncio.Future[T], timeout: float | None, *, method: str, external_id: str | None
    ) -> T:
        try:
            async with asyncio.timeout(timeout or self.config.request_timeout):
                return await fut
        except TimeoutError:
            raise OutcomeUnknownError(
                f"no answer from the device to {method} in time; outcome unknown",
                method=method,
                external_id=external_id,
            ) from None
