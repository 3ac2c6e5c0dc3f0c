"""Clover's requests on payments already taken (voidPayment, tipAdjustAuth,
capturePreAuth, incrementPreAuth) and the batch's closeout, as coroutines."""

from __future__ import annotations

from typing import Any

from ._calls import CONFIG_ERROR
from ._errors import OutcomeUnknownError
from ._recover_ops import OperationRecovery
from ._requests import (
    CapturePreAuthRequest,
    IncrementPreAuthRequest,
    TipAdjustAuthRequest,
    VoidPaymentRequest,
)
from ._responses import (
    CapturePreAuthResponse,
    CloseoutResponse,
    IncrementPreAuthResponse,
    ResponseCode,
    TipAdjustAuthResponse,
    VoidPaymentResponse,
    status_code,
)
from .protocol import (
    CapturePreAuth,
    CloseoutRequest,
    Method,
    Payment,
    Reference,
    ShowWelcomeScreen,
    TipAdjust,
    VoidPayment,
)
from .protocol import CloseoutResponse as CloseoutMessage
from .protocol import (
    IncrementPreAuthRequest as IncrementMessage,
)

__all__ = ["PaymentCalls"]


class PaymentCalls(OperationRecovery):
    """Payment maintenance; :class:`~._connector.CloverConnector` adds the transactions."""

    async def void_payment(
        self, request: VoidPaymentRequest, *, timeout: float | None = None
    ) -> VoidPaymentResponse:
        problem = request.check()
        if problem:
            return self._local(VoidPaymentResponse, ResponseCode.FAIL, *problem)
        if not self.is_ready:
            return self._not_ready(VoidPaymentResponse, "voidPayment", "VoidPaymentRequest")
        payment = Payment(
            id=request.payment_id,
            order=Reference(id=request.order_id) if request.order_id else None,
            employee=Reference(id=request.employee_id) if request.employee_id else Reference(),
            offline=False,
        )
        message = VoidPayment(payment=payment, void_reason=request.void_reason)
        try:
            return await self._void(request, message, payment, timeout)
        except OutcomeUnknownError as lost:
            return await self._recover_void(request, lost)

    async def _void(
        self,
        request: VoidPaymentRequest,
        message: VoidPayment,
        payment: Payment,
        timeout: float | None,
    ) -> VoidPaymentResponse:
        mi = self.merchant_info
        assert mi is not None
        if mi.supports_void_payment_response:
            event = await self._request(
                message, Method.VOID_PAYMENT_RESPONSE, timeout, inner_version=3
            )
            msg: Any = event.message
            code = status_code(msg.status)
            response = VoidPaymentResponse(
                success=code is ResponseCode.SUCCESS,
                result=code,
                reason=msg.reason or code.value,
                message=msg.message,
                payment_id=request.payment_id,
                payment=msg.payment,
            )
        else:
            if mi.supports_acknowledgement:
                await self._request(message, None, timeout, wait_ack=True)
            else:
                await self._send(message)
            response = VoidPaymentResponse(
                success=True,
                result=ResponseCode.SUCCESS,
                reason="SUCCESS",
                payment_id=request.payment_id,
                payment=payment,
            )
        self._background(ShowWelcomeScreen())
        self._notify(self.listener.on_response, response)
        return response

    async def tip_adjust_auth(
        self, request: TipAdjustAuthRequest, *, timeout: float | None = None
    ) -> TipAdjustAuthResponse:
        problem = request.check()
        if problem:
            return self._local(TipAdjustAuthResponse, ResponseCode.FAIL, *problem)
        if not self.is_ready:
            return self._not_ready(TipAdjustAuthResponse, "tipAdjustAuth", "TipAdjustAuthRequest")
        assert self.merchant_info is not None
        if not self.merchant_info.supports_tip_adjust:
            return self._local(
                TipAdjustAuthResponse,
                ResponseCode.UNSUPPORTED,
                CONFIG_ERROR,
                "In tipAdjustAuth: TipAdjustAuthRequest - Tip Adjustments are not enabled for "
                "the payment gateway.",
            )
        message = TipAdjust(
            tip_amount=request.tip_amount, order_id=request.order_id, payment_id=request.payment_id
        )
        event = await self._request(message, Method.TIP_ADJUST_RESPONSE, timeout)
        msg: Any = event.message
        ok = bool(msg.success)
        return self._answer(
            TipAdjustAuthResponse(
                success=ok,
                result=ResponseCode.SUCCESS if ok else ResponseCode.FAIL,
                reason=msg.reason,
                message=msg.message,
                payment_id=msg.payment_id,
                tip_amount=msg.amount,
            )
        )

    async def capture_pre_auth(
        self, request: CapturePreAuthRequest, *, timeout: float | None = None
    ) -> CapturePreAuthResponse:
        problem = request.check()
        if problem:
            return self._local(CapturePreAuthResponse, ResponseCode.FAIL, *problem)
        if not self.is_ready:
            return self._not_ready(
                CapturePreAuthResponse, "capturePreAuth", "CapturePreAuthRequest"
            )
        assert self.merchant_info is not None
        if not self.merchant_info.supports_pre_auth:
            return self._local(
                CapturePreAuthResponse,
                ResponseCode.UNSUPPORTED,
                CONFIG_ERROR,
                "In capturePreAuth: PreAuth Captures are not enabled for the payment gateway.",
            )
        message = CapturePreAuth(
            amount=request.amount, tip_amount=request.tip_amount, payment_id=request.payment_id
        )
        event = await self._request(message, Method.CAPTURE_PREAUTH_RESPONSE, timeout)
        msg: Any = event.message
        code = status_code(msg.status)
        return self._answer(
            CapturePreAuthResponse(
                success=code is ResponseCode.SUCCESS,
                result=code,
                reason=msg.reason,
                message=msg.message,
                payment_id=msg.payment_id,
                amount=msg.amount,
                tip_amount=msg.tip_amount,
            )
        )

    async def increment_pre_auth(
        self, request: IncrementPreAuthRequest, *, timeout: float | None = None
    ) -> IncrementPreAuthResponse:
        problem = request.check()
        if problem:
            return self._local(IncrementPreAuthResponse, ResponseCode.FAIL, *problem)
        if not self.is_ready:
            return self._not_ready(
                IncrementPreAuthResponse, "incrementPreAuth", "IncrementPreAuthRequest"
            )
        message = IncrementMessage(amount=request.amount, payment_id=request.payment_id)
        event = await self._request(message, Method.INCREMENT_PREAUTH_RESPONSE, timeout)
        msg: Any = event.message
        code = status_code(msg.status)
        return self._answer(
            IncrementPreAuthResponse(
                success=code is ResponseCode.SUCCESS,
                result=code,
                reason=msg.reason,
                authorization=msg.authorization,
            )
        )

    async def closeout(
        self,
        *,
        allow_open_tabs: bool = False,
        batch_id: str | None = None,
        timeout: float | None = None,
    ) -> CloseoutResponse:
        if not self.is_ready:
            return self._not_ready(CloseoutResponse, "closeout", "CloseoutRequest")
        values: dict[str, Any] = {"allow_open_tabs": allow_open_tabs}
        if batch_id is not None:
            values["batch_id"] = batch_id
        event = await self._request(CloseoutRequest(**values), Method.CLOSEOUT_RESPONSE, timeout)
        msg = event.message
        assert isinstance(msg, CloseoutMessage)
        code = status_code(msg.status)
        return self._answer(
            CloseoutResponse(
                success=code is ResponseCode.SUCCESS,
                result=code,
                reason=msg.reason,
                batch=msg.batch,
            )
        )
