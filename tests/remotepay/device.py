"""A tiny emulated Clover device for connector tests: the protocol core in the DEVICE
role behind a real websocket server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from cloverpay.remotepay.protocol import (
    ActivityMessageFromActivity,
    ActivityRequest,
    ActivityResponse,
    Authorization,
    Batch,
    CapturePreAuth,
    CapturePreAuthResponse,
    CardTransaction,
    Challenge,
    CloseoutRequest,
    CloseoutResponse,
    ConfirmPaymentMessage,
    Credit,
    DiscoveryResponse,
    FinishCancel,
    FinishOk,
    IncrementPreAuthRequest,
    IncrementPreAuthResponse,
    Message,
    MessageReceived,
    PairingCode,
    PairingRequest,
    PairingResponse,
    Payment,
    PaymentConfirmed,
    PaymentRejected,
    PendingPaymentEntry,
    PingReceived,
    Pong,
    Reference,
    Refund,
    RefundRequest,
    RefundResponse,
    RemoteError,
    RemotePayProtocol,
    ResetDeviceResponse,
    RetrieveDeviceStatusRequest,
    RetrieveDeviceStatusResponse,
    RetrievePaymentRequest,
    RetrievePaymentResponse,
    RetrievePendingPayments,
    RetrievePendingPaymentsResponse,
    Role,
    TipAdjust,
    TipAdjustResponse,
    TxStart,
    TxStartResponse,
    VoidPayment,
    VoidPaymentResponse,
)
from cloverpay.remotepay.protocol import Break as BreakMessage
from cloverpay.remotepay.protocol import TerminalMessage as RemoteErrorTrigger


@dataclass
class FakeDevice:
    """``mode`` decides how the next transactions end: approve, decline, duplicate,
    challenge, silent (never answers), drop (closes the socket after TX_START)."""

    mode: str = "approve"
    tokens: set[str] = field(default_factory=set)
    supports: dict[str, bool] = field(default_factory=dict)
    answer_pings: bool = True
    max_version: int = 2
    received: list[Message] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)
    payments: dict[str, Payment] = field(default_factory=dict)
    connections: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _pending: dict[str, Any] = field(default_factory=dict)

    def methods(self) -> list[str]:
        return [m.method.value for m in self.received]

    @contextlib.asynccontextmanager
    async def running(self, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[str]:
        server: Server
        async with serve(self._handler, "127.0.0.1", 0, ssl=ssl_context) as server:
            port = server.sockets[0].getsockname()[1]
            yield f"{'wss' if ssl_context else 'ws'}://127.0.0.1:{port}/remote_pay"

    async def _handler(self, ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._serve(ws)

    async def _serve(self, ws: ServerConnection) -> None:
        self.connections += 1
        core = RemotePayProtocol(Role.DEVICE, max_version=self.max_version)

        async def send(msg: Message) -> None:
            for frame in core.send(msg):
                await ws.send(frame)

        async for text in ws:
            assert isinstance(text, str)
            for event in core.receive_data(text):
                if isinstance(event, PingReceived):
                    if self.answer_pings:
                        await ws.send(core.send(Pong())[0])
                    continue
                assert isinstance(event, MessageReceived)
                msg = event.message
                assert isinstance(msg, Message)
                self.received.append(msg)
                if event.attachment is not None:
                    self.attachments.append(event.attachment)
                for frame in core.ack(event):
                    await ws.send(frame)
                if await self._answer(msg, send, ws) == "close":
                    await ws.close(1001, "emulated device restart")
                    return

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):011d}"[:13]

    def _payment(self, intent: Any, result: str = "SUCCESS", tx_type: str = "AUTH") -> Payment:
        return Payment(
            id=self._new_id("P"),
            order=Reference(id=self._new_id("O")),
            amount=intent.amount,
            tip_amount=intent.tip_amount or 0,
            external_payment_id=intent.external_payment_id,
            result=result,
            card_transaction=CardTransaction(
                card_type="VISA",
                entry_type="EMV_CONTACT",
                first6="476173",
                last4="0010",
                type=tx_type,
                state="CLOSED",
            ),
        )

    async def _answer(self, msg: Message, send: Any, ws: ServerConnection) -> str | None:
        if isinstance(msg, PairingRequest):
            token = msg.authentication_token
            if token not in self.tokens:
                await send(PairingCode(pairing_code="123456"))
                token = f"token-{len(self.tokens) + 1}"
                self.tokens.add(token)
            await send(PairingResponse(pairing_state="PAIRED", authentication_token=token))
        elif msg.method == "DISCOVERY_REQUEST":
            flags = {
                "supports_tip_adjust": True,
                "supports_manual_refund": True,
                "supports_acknowledgement": True,
                "supports_pre_auth": True,
                "supports_auth": True,
                "supports_vault_card": True,
                "supports_void_payment_response": True,
            } | self.supports
            await send(DiscoveryResponse(ready=True, merchant_id="MID1", **flags))
        elif isinstance(msg, TxStart):
            return await self._tx(msg, send)
        elif isinstance(msg, PaymentConfirmed):
            payment = self._pending.pop("confirm")
            await send(FinishOk(payment=payment, request_info="SALE"))
        elif isinstance(msg, PaymentRejected):
            self._pending.pop("confirm")
            await send(FinishCancel(request_info="SALE"))
        elif isinstance(msg, RefundRequest):
            refund = Refund(
                id=self._new_id("R"),
                order_ref=Reference(id=msg.order_id),
                payment=Reference(id=msg.payment_id),
                amount=msg.amount,
            )
            await send(
                RefundResponse(
                    order_id=msg.order_id, payment_id=msg.payment_id, refund=refund, code="SUCCESS"
                )
            )
            await send(FinishOk(refund=refund, request_info="REFUND"))
        elif isinstance(msg, VoidPayment):
            await send(
                VoidPaymentResponse(
                    payment=msg.payment, void_reason=msg.void_reason, status="SUCCESS"
                )
            )
        elif isinstance(msg, RetrievePaymentRequest):
            found = self.payments.get(msg.external_payment_id)
            await send(
                RetrievePaymentResponse(
                    status="SUCCESS" if found else "FAIL",
                    external_payment_id=msg.external_payment_id,
                    query_status="FOUND" if found else "NOT_FOUND",
                    payment=found,
                )
            )
        elif isinstance(msg, BreakMessage):
            await send(ResetDeviceResponse(status="SUCCESS", state="IDLE"))
        elif isinstance(msg, TipAdjust):
            await send(
                TipAdjustResponse(
                    success=True,
                    amount=msg.tip_amount,
                    payment_id=msg.payment_id,
                    order_id=msg.order_id,
                )
            )
        elif isinstance(msg, CapturePreAuth):
            await send(
                CapturePreAuthResponse(
                    status="SUCCESS",
                    payment_id=msg.payment_id,
                    amount=msg.amount,
                    tip_amount=msg.tip_amount,
                )
            )
        elif isinstance(msg, IncrementPreAuthRequest):
            await send(
                IncrementPreAuthResponse(
                    status="SUCCESS",
                    authorization=Authorization(
                        id=self._new_id("A"),
                        amount=msg.amount,
                        payment=Reference(id=msg.payment_id),
                    ),
                )
            )
        elif isinstance(msg, CloseoutRequest):
            await send(
                CloseoutResponse(
                    status="SUCCESS", batch=Batch(id=self._new_id("B"), tx_count=len(self.payments))
                )
            )
        elif isinstance(msg, RetrievePendingPayments):
            await send(
                RetrievePendingPaymentsResponse(
                    status="SUCCESS",
                    pending_payment_entries=[PendingPaymentEntry(payment_id="PEND1", amount=1500)],
                )
            )
        elif isinstance(msg, RetrieveDeviceStatusRequest):
            await send(
                RetrieveDeviceStatusResponse(
                    status="SUCCESS", state="IDLE", data={"externalPaymentId": "x"}
                )
            )
        elif isinstance(msg, ActivityRequest):
            await send(ActivityMessageFromActivity(action=msg.action, payload='{"hello":1}'))
            await send(
                ActivityResponse(action=msg.action, result_code=-1, payload=f"echo:{msg.payload}")
            )
        elif isinstance(msg, RemoteErrorTrigger):
            await send(RemoteError(error_code="E1", error_message="boom"))
        return None

    async def _tx(self, msg: TxStart, send: Any) -> str | None:
        intent = msg.pay_intent
        info = msg.request_info
        if self.mode == "duplicate":
            await send(TxStartResponse(result="DUPLICATE", success=False, request_info=info))
            return None
        await send(
            TxStartResponse(
                result="SUCCESS",
                success=True,
                external_payment_id=intent.external_payment_id,
                request_info=info,
            )
        )
        if self.mode == "silent":
            return None
        if self.mode == "drop":
            return "close"
        if self.mode == "late":
            await asyncio.sleep(0.5)
        if self.mode == "decline":
            await send(FinishCancel(request_info=info))
            return None
        if info == "CREDIT":
            credit = Credit(id=self._new_id("C"), amount=-(intent.amount or 0))
            await send(FinishOk(credit=credit, request_info=info))
            return None
        tx_type = "PREAUTH" if info in ("AUTH", "PREAUTH") else "AUTH"
        payment = self._payment(intent, "AUTH" if info == "PREAUTH" else "SUCCESS", tx_type)
        assert intent.external_payment_id is not None
        self.payments[intent.external_payment_id] = payment
        if self.mode == "challenge":
            self._pending["confirm"] = payment
            await send(
                ConfirmPaymentMessage(
                    payment=payment,
                    challenges=[Challenge(type="DUPLICATE_CHALLENGE", reason="REJECT_DUPLICATE")],
                )
            )
            return None
        await asyncio.sleep(0)
        await send(FinishOk(payment=payment, request_info=info))
        return None
