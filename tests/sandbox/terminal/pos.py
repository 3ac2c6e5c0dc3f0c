"""A minimal POS for the terminal tests: the protocol core in the POS role over a real
``websockets`` client. It only sends what a test tells it to and records what comes
back; the real connector lives in :mod:`cloverpay.remotepay`."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, TypeVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from cloverpay.remotepay.protocol import (
    CLOUD_PACKAGE_NAME,
    SNPD_PACKAGE_NAME,
    Ack,
    DiscoveryRequest,
    DiscoveryResponse,
    Message,
    MessageReceived,
    PairingCode,
    PairingRequest,
    PairingResponse,
    PayIntent,
    PingReceived,
    Pong,
    RemotePayProtocol,
    RequestInfo,
    Role,
    TransactionSettings,
    TransactionType,
    TxStart,
    UntypedMessage,
)

M = TypeVar("M", bound=Message)
WAIT = 10.0


class MiniPos:
    def __init__(self, ws: ClientConnection, *, cloud: bool = False) -> None:
        self.ws = ws
        self.core = RemotePayProtocol(
            Role.POS,
            remote_application_id="com.example.tests.pos:1.0",
            pairing=not cloud,
            package_name=CLOUD_PACKAGE_NAME if cloud else SNPD_PACKAGE_NAME,
        )
        self.received: list[Message | UntypedMessage] = []
        self.acked: list[str] = []
        self.sent_ids: list[str] = []

    @classmethod
    async def connect(
        cls, url: str, ssl_context: ssl.SSLContext | None = None, *, oauth_token: str | None = None
    ) -> MiniPos:
        """``oauth_token``: a cloud connection (the token is the sub-protocol)."""
        ws = await connect(
            url,
            ssl=ssl_context,
            open_timeout=WAIT,
            ping_interval=None,
            subprotocols=[Subprotocol(oauth_token)] if oauth_token else None,
        )
        return cls(ws, cloud=oauth_token is not None)

    async def close(self) -> None:
        await self.ws.close()

    async def send(self, message: Message, *, inner_version: int | None = None) -> str:
        frames = self.core.send(message, inner_version=inner_version)
        for frame in frames:
            await self.ws.send(frame)
        mid = str(self.core._next_id - 1)
        self.sent_ids.append(mid)
        return mid

    async def next(self) -> Message | UntypedMessage:
        """The next message that is not an ACK (PINGs are answered)."""
        while True:
            frame = await asyncio.wait_for(self.ws.recv(), WAIT)
            assert isinstance(frame, str)
            for event in self.core.receive_data(frame):
                if isinstance(event, PingReceived):
                    for f in self.core.send(Pong()):
                        await self.ws.send(f)
                elif isinstance(event, MessageReceived):
                    if isinstance(event.message, Ack):
                        self.acked.append(event.message.source_message_id)
                        continue
                    self.received.append(event.message)
                    return event.message

    async def until(self, cls: type[M]) -> M:
        """Read until a message of ``cls`` arrives; return it (others stay in received)."""
        while True:
            message = await self.next()
            if isinstance(message, cls):
                return message

    async def until_any(self, *methods: str) -> str:
        """Read until a FINISH_OK / FINISH_CANCEL (or one of ``methods``); its name."""
        wanted = set(methods) or {"FINISH_OK", "FINISH_CANCEL"}
        while True:
            message = await self.next()
            if message.method.value in wanted:
                return message.method.value

    def methods(self) -> list[str]:
        return [m.method.value for m in self.received]

    async def pair(self, token: str | None = None) -> tuple[str | None, str]:
        """PAIRING_REQUEST → (code or None, token)."""
        await self.send(
            PairingRequest(name="Test POS", serial_number="R-1", authentication_token=token)
        )
        code = None
        while True:
            message = await self.next()
            if isinstance(message, PairingCode):
                code = message.pairing_code
            elif isinstance(message, PairingResponse):
                assert message.succeeded, message
                assert message.authentication_token
                return code, message.authentication_token

    async def ready(self, token: str | None = None) -> DiscoveryResponse:
        await self.pair(token)
        await self.send(DiscoveryRequest(supports_order_modification=False))
        return await self.until(DiscoveryResponse)


def sale(
    amount: int,
    external_id: str,
    *,
    request_info: RequestInfo = RequestInfo.SALE,
    tip_amount: int | None = 0,
    **settings: Any,
) -> TxStart:
    kind = {
        RequestInfo.SALE: TransactionType.PAYMENT,
        RequestInfo.AUTH: TransactionType.PAYMENT,
        RequestInfo.PREAUTH: TransactionType.AUTH,
        RequestInfo.CREDIT: TransactionType.CREDIT,
    }[request_info]
    intent: dict[str, Any] = {
        "amount": -amount if request_info is RequestInfo.CREDIT else amount,
        "transaction_type": kind,
        "external_payment_id": external_id,
        "requires_remote_confirmation": True,
        "allow_partial_auth": True,
        "transaction_settings": TransactionSettings(card_entry_methods=34567, **settings),
    }
    if tip_amount is not None and request_info is RequestInfo.SALE:
        intent["tip_amount"] = tip_amount
    return TxStart(pay_intent=PayIntent(**intent), order=None, request_info=request_info)
