"""The connector's recovery of a lost transaction answer (see :mod:`._recovery`)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import TypeVar

from ._device_calls import DeviceCalls
from ._errors import NotReadyError, OutcomeUnknownError
from ._recovery import (
    PaymentOutcome,
    PaymentResolution,
    outcome_of_result,
    resolve_from_rest,
)
from ._responses import ResponseCode, TransactionResponse, finish_ok
from .protocol import FinishOk, RequestInfo

__all__ = ["RecoveryCalls"]

log = logging.getLogger("cloverpay.remotepay")
R = TypeVar("R", bound=TransactionResponse)
_POLL = 0.25


class RecoveryCalls(DeviceCalls):
    async def resolve_payment(
        self, external_payment_id: str, *, timeout: float | None = None
    ) -> PaymentResolution:
        """Find out whether a payment started with ``external_payment_id`` exists.

        Waits (up to ``timeout``, default ``config.recovery_timeout`` or 30 s) for the
        device to be ready again, asks it (``RETRIEVE_PAYMENT``; an answer IN_PROGRESS
        is asked again), then, when the device does not know the payment or cannot be
        reached, the REST lookup given to the connector. The verdict is PAID or
        NOT_PAID only on evidence; otherwise UNKNOWN. Never sends a payment.

        An UNKNOWN verdict puts the id in :attr:`unknown_external_ids`: a new sale with
        it is refused until a later call resolves it (or you discard it from the set
        after resolving it by hand)."""
        resolution = await self._resolve(external_payment_id, timeout)
        if resolution.outcome is PaymentOutcome.UNKNOWN:
            self.unknown_external_ids.add(external_payment_id)
        else:
            self.unknown_external_ids.discard(external_payment_id)
        return resolution

    async def _resolve(self, external_payment_id: str, timeout: float | None) -> PaymentResolution:
        loop = asyncio.get_running_loop()
        budget = timeout or self.config.recovery_timeout or 30.0
        deadline = loop.time() + budget
        device = "the device did not answer in time"
        answered = False  # what the device last said is kept over a later failed ask
        not_found = False
        while (remaining := deadline - loop.time()) > 0:
            try:
                if not self.is_ready:
                    await self.connect(timeout=remaining)
                answer = await self.retrieve_payment(external_payment_id, timeout=remaining)
            except (TimeoutError, NotReadyError, OutcomeUnknownError) as exc:
                if not answered:
                    device = f"the device could not be asked ({type(exc).__name__})"
                await asyncio.sleep(min(_POLL, max(0.0, deadline - loop.time())))
                continue
            answered = True
            if answer.query_status == "FOUND" and answer.payment is not None:
                payment = answer.payment
                return PaymentResolution(
                    external_payment_id,
                    outcome_of_result(payment.result),
                    "device",
                    f"the device has it as {payment.result}",
                    payment,
                )
            if answer.query_status == "NOT_FOUND":
                device = "the device does not know it"
                not_found = True
                break
            if answer.query_status == "IN_PROGRESS":
                device = "the device is still working on it"
            else:
                device = f"the device answered {answer.result.value}: {answer.reason}"
            await asyncio.sleep(min(_POLL, max(0.0, deadline - loop.time())))
        if self.rest_lookup is None:
            return PaymentResolution(
                external_payment_id,
                PaymentOutcome.UNKNOWN,
                None,
                f"{device}; no REST lookup configured",
            )
        try:
            found = await asyncio.wait_for(self.rest_lookup(external_payment_id), budget)
        except Exception as exc:
            log.warning("REST payment lookup failed: %s", type(exc).__name__)
            return PaymentResolution(
                external_payment_id,
                PaymentOutcome.UNKNOWN,
                None,
                f"{device}; the REST lookup failed ({type(exc).__name__})",
            )
        verdict = resolve_from_rest(external_payment_id, found)
        if verdict.outcome is PaymentOutcome.NOT_PAID and verdict.payment is None and not not_found:
            # absent from the REST view, but the device may still be charging it
            return dataclasses.replace(
                verdict,
                outcome=PaymentOutcome.UNKNOWN,
                reason=f"{device}; the REST API does not know it (yet)",
            )
        return dataclasses.replace(verdict, reason=f"{device}; {verdict.reason}")

    async def _recover(self, cls: type[R], info: RequestInfo, lost: OutcomeUnknownError) -> R:
        """A transaction lost its answer: look it up (never re-send). Returns the
        response the lookup proves, or raises ``lost`` with the UNKNOWN resolution."""
        external_id = lost.external_id
        if external_id is None:
            raise lost
        if self.config.recovery_timeout is None:
            self.unknown_external_ids.add(external_id)
            raise lost
        self._error("COMMUNICATION", "Recovering", f"{lost}; looking the payment up")
        resolution = await self.resolve_payment(external_id)
        if resolution.outcome is PaymentOutcome.UNKNOWN:
            lost.resolution = resolution
            raise lost
        response: TransactionResponse
        if resolution.outcome is PaymentOutcome.PAID:
            proved = finish_ok(info, FinishOk(payment=resolution.payment, request_info=info))
            assert isinstance(proved, TransactionResponse)
            response = dataclasses.replace(
                proved,
                message=f"Recovered after a lost answer: {resolution.reason}.",
                recovery=resolution,
            )
        else:
            response = cls(
                success=False,
                result=ResponseCode.CANCEL,
                reason="NOT_PAID",
                message=f"Recovered after a lost answer: {resolution.reason}.",
                payment=resolution.payment,
                recovery=resolution,
            )
        assert isinstance(response, cls)
        self._notify(self.listener.on_response, response)
        return response
