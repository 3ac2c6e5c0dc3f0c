"""The connection half of the CloverConnector: routes the device's messages (pairing,
discovery, screens, transaction results, answers awaited by a request) over the
websocket that :class:`~._transport.CloverTransport` keeps open."""

from __future__ import annotations

import asyncio
import logging

from ._responses import finish_cancel, finish_ok, infer_request_info
from ._transport import CloverTransport
from .protocol import (
    Ack,
    ConfirmPaymentMessage,
    DiscoveryRequest,
    DiscoveryResponse,
    Event,
    FinishCancel,
    FinishOk,
    MessageReceived,
    Method,
    PairingCode,
    PairingRequest,
    PairingResponse,
    PingReceived,
    Pong,
    PongReceived,
    RefundResponse,
    RemoteError,
    ShowWelcomeScreen,
    TipAdded,
    TxStartResponse,
    UiDirection,
    UiStateMessage,
    UntypedMessage,
    VerifySignature,
)

__all__ = ["ConnectorSession"]

log = logging.getLogger("cloverpay.remotepay")


class ConnectorSession(CloverTransport):
    """Connection management; :class:`CloverConnector` adds the requests."""

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, PingReceived):
            self._spawn(self._send(Pong()))
            return
        if isinstance(event, PongReceived):
            self._pong.set()
            return
        if not isinstance(event, MessageReceived):
            log.debug("ignored %s", type(event).__name__)
            return
        msg = event.message
        if isinstance(msg, Ack):
            fut = self._waiters.by_ack.pop(msg.source_message_id, None)
            if fut is not None and not fut.done():
                fut.set_result(event)
        elif isinstance(msg, PairingCode):
            self._notify(self.listener.on_pairing_code, msg.pairing_code)
        elif isinstance(msg, PairingResponse):
            self._paired(msg)
        elif isinstance(msg, DiscoveryResponse):
            self._discovered(msg)
        elif isinstance(msg, UiStateMessage):
            hook = (
                self.listener.on_device_activity_start
                if msg.ui_direction is UiDirection.ENTER
                else self.listener.on_device_activity_end
            )
            self._notify(hook, msg)
            if msg.ui_state == "RECEIPT_OPTIONS" and msg.ui_direction is UiDirection.EXIT:
                self._background(ShowWelcomeScreen())
        elif isinstance(msg, TxStartResponse | FinishOk | FinishCancel | RefundResponse):
            self._transaction_event(event, msg)
        elif isinstance(msg, ConfirmPaymentMessage):
            self._notify(self.listener.on_confirm_payment_request, msg)
        elif isinstance(msg, VerifySignature):
            self._notify(self.listener.on_verify_signature_request, msg)
        elif isinstance(msg, TipAdded):
            self._notify(self.listener.on_tip_added, msg.tip_amount)
        elif isinstance(msg, RemoteError):
            self._error("EXCEPTION", "UnknownError", msg.model_dump_json(by_alias=True))
        elif msg.method in (Method.RESET, Method.SHUTDOWN) and self.config.cloud is not None:
            self._cloud_close(4000, "Reset requested", reconnect=True)
        elif msg.method is Method.FORCECONNECT:
            holder = msg.fields.get("friendlyId") if isinstance(msg, UntypedMessage) else None
            who = f"another POS ({holder!r})" if isinstance(holder, str) else "another POS"
            self._error("COMMUNICATION", "Interrupted", f"{who} took the device (forceConnect)")
            self._cloud_close(1000, "NORMAL_CLOSURE", reconnect=False)
        else:
            queue = self._waiters.by_method.get(msg.method)
            if queue:
                fut = queue.popleft()
                if not fut.done():
                    fut.set_result(event)
                    return
            self._notify(self.listener.on_message, msg)

    def _cloud_close(self, code: int, reason: str, *, reconnect: bool) -> None:
        if not reconnect:
            self._closing = True
        ws = self._ws
        if ws is not None:
            self._spawn(ws.close(code, reason))

    def _paired(self, msg: PairingResponse) -> None:
        if msg.succeeded:
            token = msg.authentication_token
            if token:
                self.token_store.save(token)
                self._notify(self.listener.on_pairing_success, token)
            self._background(DiscoveryRequest(supports_order_modification=False))
        elif msg.failed:
            self.token_store.save(None)
            self._error("COMMUNICATION", "PairingFailed", "pairing failed; asking again")
            self._background(
                PairingRequest(
                    name=self.config.pos_name,
                    serial_number=self.config.serial_number,
                    application_name=self.config.pos_name,
                )
            )

    def _discovered(self, msg: DiscoveryResponse) -> None:
        self.merchant_info = msg
        if msg.ready:
            self._ready.set()
            self._was_ready = True
            self._notify(self.listener.on_device_ready, msg)
            if self.config.heartbeat_interval is not None and self._heartbeat is None:
                self._heartbeat = asyncio.create_task(self._heartbeat_loop())
        else:
            self._ready.clear()
            self._notify(self.listener.on_device_connected)

    def _transaction_event(
        self,
        event: MessageReceived,
        msg: TxStartResponse | FinishOk | FinishCancel | RefundResponse,
    ) -> None:

        tx = self._tx
        if isinstance(msg, RefundResponse):
            if tx is not None:
                tx.refund_response = msg
            return
        if isinstance(msg, TxStartResponse) and msg.accepted:
            return
        if tx is not None and not tx.future.done():
            self._tx = None
            tx.future.set_result(event)
            return
        # a result nobody waits for any more (e.g. after a timeout): never drop it
        if isinstance(msg, FinishOk):
            self._notify(self.listener.on_response, finish_ok(infer_request_info(msg), msg))
        elif isinstance(msg, FinishCancel):
            self._notify(self.listener.on_response, finish_cancel(infer_request_info(msg), msg))
        else:
            self._notify(self.listener.on_message, msg)
