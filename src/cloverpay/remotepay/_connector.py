"""The asyncio CloverConnector: Clover's requests as coroutines, over the session."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import ValidationError
from websockets.exceptions import ConnectionClosed

from ._calls import CONFIG_ERROR
from ._errors import NotReadyError, OutcomeUnknownError
from ._payment_calls import PaymentCalls
from ._requests import (
    AuthRequest,
    ManualRefundRequest,
    PreAuthRequest,
    RefundPaymentRequest,
    SaleRequest,
    TransactionRequest,
)
from ._responses import (
    AuthResponse,
    ManualRefundResponse,
    PreAuthResponse,
    RefundPaymentResponse,
    Response,
    ResponseCode,
    SaleResponse,
    TransactionResponse,
    finish_cancel,
    finish_ok,
    tx_start_rejected,
)
from ._transport import _Transaction
from .protocol import (
    FinishCancel,
    FinishOk,
    LocalProtocolError,
    Message,
    MessageReceived,
    PayIntent,
    RefundRequest,
    RequestInfo,
    ShowThankYouScreen,
    ShowWelcomeScreen,
    TipMode,
    TransactionType,
    TxStart,
    TxStartResponse,
)

__all__ = ["CloverConnector"]

R = TypeVar("R", bound=Response)
_RECOVERABLE = frozenset({RequestInfo.SALE, RequestInfo.AUTH, RequestInfo.PREAUTH})


class CloverConnector(PaymentCalls):
    """Drive one Clover device: ``async with CloverConnector(config, listener) as c:``
    connects, pairs (the merchant may have to type a code, see
    ``listener.on_pairing_code``) and waits until the device is ready.

    Every request returns Clover's response object (``success``, ``result``,
    ``reason``, ``message`` …) and also hands it to ``listener.on_response``. Bad
    requests are answered locally with result FAIL before anything is sent; a device
    that is not ready gives ERROR. A request that left us without an answer in time
    (or whose connection dropped) is never re-sent: a sale, auth or pre-auth is looked
    up instead (:meth:`resolve_payment`: the device by externalPaymentId, then the REST
    lookup), and answered from what the lookup proves (``response.recovery`` says so);
    what cannot be proved raises :class:`OutcomeUnknownError` (``.resolution`` UNKNOWN).
    """

    # -- transactions -------------------------------------------------------------
    async def sale(self, request: SaleRequest, *, timeout: float | None = None) -> SaleResponse:
        def intent() -> PayIntent:
            return request.pay_intent(
                TransactionType.PAYMENT,
                tip_amount=request.tip_amount or 0,
                tax_amount=request.tax_amount,
                tip_mode=request.tip_mode,
            )

        return await self._transaction(
            SaleResponse, request, RequestInfo.SALE, "sale", "SaleRequest", intent, timeout
        )

    async def auth(self, request: AuthRequest, *, timeout: float | None = None) -> AuthResponse:
        def intent() -> PayIntent:
            return request.pay_intent(
                TransactionType.PAYMENT, tax_amount=request.tax_amount, tip_mode=TipMode.ON_PAPER
            )

        return await self._transaction(
            AuthResponse, request, RequestInfo.AUTH, "auth", "AuthRequest", intent, timeout
        )

    async def pre_auth(
        self, request: PreAuthRequest, *, timeout: float | None = None
    ) -> PreAuthResponse:
        def intent() -> PayIntent:
            return request.pay_intent(TransactionType.AUTH)

        return await self._transaction(
            PreAuthResponse,
            request,
            RequestInfo.PREAUTH,
            "preAuth",
            "PreAuthRequest",
            intent,
            timeout,
        )

    async def manual_refund(
        self, request: ManualRefundRequest, *, timeout: float | None = None
    ) -> ManualRefundResponse:
        def intent() -> PayIntent:
            return request.pay_intent(TransactionType.CREDIT, amount=-abs(request.amount))

        return await self._transaction(
            ManualRefundResponse,
            request,
            RequestInfo.CREDIT,
            "manualRefund",
            "ManualRefundRequest",
            intent,
            timeout,
        )

    async def refund_payment(
        self, request: RefundPaymentRequest, *, timeout: float | None = None
    ) -> RefundPaymentResponse:
        problem = request.check()
        if problem:
            return self._local(RefundPaymentResponse, ResponseCode.FAIL, *problem)
        if not self.is_ready:
            return self._not_ready(RefundPaymentResponse, "refundPayment", "RefundPaymentRequest")
        values: dict[str, Any] = {"full_refund": request.full_refund}
        if request.amount is not None:
            values["amount"] = request.amount
        if request.order_id is not None:
            values["order_id"] = request.order_id
        values["payment_id"] = request.payment_id
        for name in ("disable_printing", "disable_receipt_selection"):
            value = getattr(request, name)
            if value is not None:
                key = "disable_clover_printing" if name == "disable_printing" else name
                values[key] = value
        message = RefundRequest(**values)
        before = await self._refund_ids_before(request)  # for a lost answer (see _recover_ops)
        try:
            return await self._run_transaction(
                RefundPaymentResponse, message, RequestInfo.REFUND, None, timeout
            )
        except OutcomeUnknownError as lost:
            return await self._recover_refund(request, before, lost)

    async def _transaction(
        self,
        cls: type[R],
        request: TransactionRequest,
        info: RequestInfo,
        call: str,
        kind: str,
        intent: Callable[[], PayIntent],
        timeout: float | None,
    ) -> R:
        problem = request.check(call, kind)
        if problem:
            return self._local(cls, ResponseCode.FAIL, *problem)
        external_id = request.external_id.strip()
        if external_id in self.unknown_external_ids:  # RELIABILITY rule 2
            return self._local(
                cls,
                ResponseCode.FAIL,
                "Outcome Unknown",
                f"In {call}: {kind} - the outcome of an earlier attempt with externalPaymentId "
                f"{external_id} is unknown: resolve it (resolve_payment) before trying again.",
            )
        if not self.is_ready:
            return self._not_ready(cls, call, kind)
        unsupported = self._unsupported(info, request, call, kind)
        if unsupported:
            return self._local(cls, ResponseCode.UNSUPPORTED, CONFIG_ERROR, unsupported)
        try:
            message = TxStart(pay_intent=intent(), order=None, request_info=info)
        except ValidationError as exc:
            fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
            detail = f"In {call}: {kind} - invalid {fields}."
            return self._local(cls, ResponseCode.FAIL, "Invalid Argument.", detail)
        return await self._run_transaction(cls, message, info, request.external_id.strip(), timeout)

    async def _run_transaction(
        self,
        cls: type[R],
        message: Message,
        info: RequestInfo,
        external_id: str | None,
        timeout: float | None,
    ) -> R:
        if self._tx is not None:
            return self._local(
                cls, ResponseCode.ERROR, "Device Busy", "A transaction is in progress."
            )
        fut: asyncio.Future[MessageReceived] = asyncio.get_running_loop().create_future()
        tx = _Transaction(info, external_id, fut)
        self._tx = tx
        try:
            await self._send(message)
        except NotReadyError as exc:
            self._tx = None
            return self._local(cls, ResponseCode.ERROR, "Device Connection Error", str(exc))
        except LocalProtocolError:
            self._tx = None
            return self._local(
                cls,
                ResponseCode.ERROR,
                "Device Busy",
                "The device has not ended the previous transaction; see "
                "retrieve_device_status() or reset_device().",
            )
        except ConnectionClosed:
            self._tx = None
            lost = OutcomeUnknownError(
                "connection lost while sending; outcome unknown",
                method=message.method,
                external_id=external_id,
            )
            return await self._lost(cls, info, lost)
        try:
            event = await self._wait(fut, timeout, method=message.method, external_id=external_id)
        except OutcomeUnknownError as lost:
            if self._tx is tx:  # a late result now goes to the listener, not this wait
                self._tx = None
            return await self._lost(cls, info, lost)
        finally:
            if self._tx is tx:
                self._tx = None
        msg = event.message
        response: Response
        if isinstance(msg, TxStartResponse):
            response = tx_start_rejected(info, msg, external_id)
        elif isinstance(msg, FinishOk):
            response = finish_ok(info, msg)
            self._background(ShowThankYouScreen() if msg.payment else ShowWelcomeScreen())
        else:
            assert isinstance(msg, FinishCancel)
            response = finish_cancel(info, msg, tx.refund_response)
            self._background(ShowWelcomeScreen())
        assert isinstance(response, cls)
        self._notify(self.listener.on_response, response)
        return response

    async def _lost(self, cls: type[R], info: RequestInfo, lost: OutcomeUnknownError) -> R:
        if info in _RECOVERABLE and issubclass(cls, TransactionResponse):
            return await self._recover(cls, info, lost)
        raise lost

    def _unsupported(
        self, info: RequestInfo, request: TransactionRequest, call: str, kind: str
    ) -> str | None:
        mi = self.merchant_info
        assert mi is not None
        if request.vaulted_card is not None and not mi.supports_vault_card:
            return f"In {call}: {kind} - Vault Card support is not enabled for the payment gateway."
        needs = {
            RequestInfo.AUTH: (mi.supports_auth, "Auths"),
            RequestInfo.PREAUTH: (mi.supports_pre_auth, "PreAuths"),
            RequestInfo.CREDIT: (mi.supports_manual_refund, "Manual Refunds"),
        }
        if info in needs and not needs[info][0]:
            return f"In {call}: {kind} - {needs[info][1]} are not enabled for the payment gateway."
        return None
