"""The connector's recovery of a refund or void whose answer was lost.

Like a sale (:mod:`._recover_calls`), a refund or void that left us without an answer
is never sent again; what became of it is looked up instead. Clover gives two views of
a payment: the device's (``RETRIEVE_PAYMENT``, by the payment's externalPaymentId,
when the caller gave it) and the REST API's (v3 payment by id, through the
``rest_payment`` fetch given to the connector). The device is also asked whether it is
idle again (``RETRIEVE_DEVICE_STATUS``), so that "no change" means "it did not happen",
not "it has not happened yet".

Evidence, per operation:

- refund: the payment's refunds are read before the request is sent; afterwards,
  exactly one new refund of the requested amount (any amount for a full refund) is
  DONE; no new refund with the device idle is NOT_DONE; anything else (no view from
  before, several new refunds, the device still busy) is UNKNOWN.
- void: the payment VOIDED is DONE; still SUCCESS / AUTH with the device idle is
  NOT_DONE; anything else UNKNOWN.

[guess] A real device reports a refund or void to Clover's servers before it goes back
to idle; if yours does not, a REST view may lag and NOT_DONE from source ``rest`` can
be premature (a second void is refused by Clover anyway; a second refund is not:
prefer the device view, by passing ``external_payment_id``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from ._errors import NotReadyError, OutcomeUnknownError
from ._recover_calls import RecoveryCalls
from ._recovery import OperationOutcome, OperationResolution, as_device_payment
from ._requests import RefundPaymentRequest, VoidPaymentRequest
from ._responses import RefundPaymentResponse, ResponseCode, VoidPaymentResponse
from .protocol import Payment, Refund

__all__ = ["OperationRecovery"]

log = logging.getLogger("cloverpay.remotepay")
_POLL = 0.25
_Source = Literal["device", "rest"]


class OperationRecovery(RecoveryCalls):
    # -- views of one payment ------------------------------------------------------------
    async def _payment_view(
        self, payment_id: str, external_payment_id: str | None, budget: float
    ) -> tuple[Payment | None, _Source | None]:
        """The payment as the device (by externalPaymentId) or else the REST API sees it."""
        if external_payment_id:
            try:
                answer = await self.retrieve_payment(external_payment_id, timeout=budget)
            except (TimeoutError, NotReadyError, OutcomeUnknownError):
                answer = None
            if (
                answer is not None
                and answer.query_status == "FOUND"
                and answer.payment is not None
                and answer.payment.id == payment_id
            ):
                return answer.payment, "device"
        if self.rest_payment is not None:
            try:
                found = await asyncio.wait_for(self.rest_payment(payment_id), budget)
            except Exception as exc:
                log.warning("REST payment fetch failed: %s", type(exc).__name__)
                return None, None
            if found is not None:
                payment = as_device_payment(found)
                if payment is not None:
                    return payment, "rest"
        return None, None

    async def _refund_ids_before(self, request: RefundPaymentRequest) -> frozenset[str] | None:
        """The ids of the payment's refunds before a refund is sent (None: no view; only
        when recovery is on and a view is configured)."""
        if self.config.recovery_timeout is None:
            return None
        if not request.external_payment_id and self.rest_payment is None:
            return None
        payment, _ = await self._payment_view(
            request.payment_id, request.external_payment_id, self.config.request_timeout
        )
        if payment is None:
            return None
        return frozenset(r.id for r in payment.refunds or [] if r.id)

    async def _device_idle(self, deadline: float) -> bool:
        """Wait (until ``deadline``, loop time) for the device to be reachable and idle."""
        loop = asyncio.get_running_loop()
        while (remaining := deadline - loop.time()) > 0:
            try:
                if not self.is_ready:
                    await self.connect(timeout=remaining)
                status = await self.retrieve_device_status(timeout=remaining)
            except (TimeoutError, NotReadyError, OutcomeUnknownError):
                status = None
            if status is not None and status.state == "IDLE":
                return True
            await asyncio.sleep(min(_POLL, max(0.0, deadline - loop.time())))
        return False

    # -- refunds ---------------------------------------------------------------------------
    async def _recover_refund(
        self,
        request: RefundPaymentRequest,
        before: frozenset[str] | None,
        lost: OutcomeUnknownError,
    ) -> RefundPaymentResponse:
        if self.config.recovery_timeout is None:
            raise lost
        self._error("COMMUNICATION", "Recovering", f"{lost}; looking the refund up")
        verdict = await self._resolve_refund(request, before, self.config.recovery_timeout)
        if verdict.outcome is OperationOutcome.UNKNOWN:
            lost.resolution = verdict
            raise lost
        message = f"Recovered after a lost answer: {verdict.reason}."
        if verdict.outcome is OperationOutcome.DONE:
            refund = verdict.refund
            response = RefundPaymentResponse(
                success=True,
                result=ResponseCode.SUCCESS,
                reason="SUCCESS",
                message=message,
                order_id=refund.order_ref.id if refund and refund.order_ref else request.order_id,
                payment_id=request.payment_id,
                refund=refund,
                recovery=verdict,
            )
        else:
            response = RefundPaymentResponse(
                success=False,
                result=ResponseCode.FAIL,
                reason="NOT_REFUNDED",
                message=message,
                order_id=request.order_id,
                payment_id=request.payment_id,
                recovery=verdict,
            )
        self._notify(self.listener.on_response, response)
        return response

    async def _resolve_refund(
        self, request: RefundPaymentRequest, before: frozenset[str] | None, budget: float
    ) -> OperationResolution:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        idle = await self._device_idle(deadline)
        remaining = max(0.1, deadline - loop.time())
        payment, source = await self._payment_view(
            request.payment_id, request.external_payment_id, remaining
        )

        def verdict(
            outcome: OperationOutcome, reason: str, refund: Refund | None = None
        ) -> OperationResolution:
            return OperationResolution(
                "refund", request.payment_id, outcome, source, reason, refund, payment
            )

        if payment is None:
            return verdict(OperationOutcome.UNKNOWN, "the payment could not be looked up")
        if before is None:
            return verdict(
                OperationOutcome.UNKNOWN,
                f"the {source} view shows {len(payment.refunds or [])} refund(s), but there "
                "was no view of the payment's refunds from before the request",
            )
        new = [r for r in payment.refunds or [] if r.id not in before]
        wanted = [r for r in new if request.full_refund or r.amount == request.amount]
        if len(new) == 1 and wanted:
            return verdict(
                OperationOutcome.DONE, f"the {source} view has the new refund", refund=wanted[0]
            )
        if not new and idle:
            return verdict(
                OperationOutcome.NOT_DONE,
                f"the device is idle and the {source} view has no new refund",
            )
        if not new:
            return verdict(
                OperationOutcome.UNKNOWN,
                f"no new refund in the {source} view, but the device did not get back to idle",
            )
        return verdict(
            OperationOutcome.UNKNOWN,
            f"{len(new)} new refund(s) on the payment, {len(wanted)} of the requested amount: "
            "check them by hand",
        )

    # -- voids -----------------------------------------------------------------------------
    async def _recover_void(
        self, request: VoidPaymentRequest, lost: OutcomeUnknownError
    ) -> VoidPaymentResponse:
        if self.config.recovery_timeout is None:
            raise lost
        self._error("COMMUNICATION", "Recovering", f"{lost}; looking the void up")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.recovery_timeout
        idle = await self._device_idle(deadline)
        payment, source = await self._payment_view(
            request.payment_id, request.external_payment_id, max(0.1, deadline - loop.time())
        )
        result = payment.result if payment is not None else None
        if result == "VOIDED":
            outcome, reason = OperationOutcome.DONE, f"the {source} view has the payment VOIDED"
        elif result in ("SUCCESS", "AUTH") and idle:
            outcome = OperationOutcome.NOT_DONE
            reason = f"the device is idle and the {source} view has the payment {result}"
        elif payment is None:
            outcome, reason = OperationOutcome.UNKNOWN, "the payment could not be looked up"
        else:
            outcome = OperationOutcome.UNKNOWN
            reason = f"the {source} view has the payment {result} (device idle: {idle})"
        verdict = OperationResolution(
            "void", request.payment_id, outcome, source, reason, payment=payment
        )
        if outcome is OperationOutcome.UNKNOWN:
            lost.resolution = verdict
            raise lost
        done = outcome is OperationOutcome.DONE
        response = VoidPaymentResponse(
            success=done,
            result=ResponseCode.SUCCESS if done else ResponseCode.FAIL,
            reason="SUCCESS" if done else "NOT_VOIDED",
            message=f"Recovered after a lost answer: {reason}.",
            payment_id=request.payment_id,
            payment=payment,
            recovery=verdict,
        )
        self._notify(self.listener.on_response, response)
        return response
