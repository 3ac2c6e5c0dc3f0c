"""What the emulated terminal does with each POS request other than pairing and
discovery (spec §6): start a flow, answer at once, or update the screen."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from cloverpay.remotepay.protocol import (
    Break,
    ExternalDeviceState,
    ExternalDeviceSubState,
    FinishCancel,
    FinishOk,
    KeyPress,
    KeyPressMessage,
    MessageReceived,
    PaymentConfirmed,
    PaymentRejected,
    QueryStatus,
    RefundRequest,
    RefundResponse,
    RequestInfo,
    ResetDeviceResponse,
    ResultStatus,
    RetrieveDeviceStatusRequest,
    RetrieveDeviceStatusResponse,
    RetrievePaymentRequest,
    RetrievePaymentResponse,
    SignatureVerified,
    TxStart,
    TxStartResponse,
    TxStartResponseResult,
    VoidPayment,
    VoidReason,
)

from ._answers import _answer
from ._device import InFlight
from ._flows import request_info_of, run_payment, run_refund
from ._ledger import LedgerError

if TYPE_CHECKING:
    from ._session import Session

__all__ = ["handle_message"]

log = logging.getLogger("cloverpay.sandbox.terminal")
_WAITING = {
    "CUSTOMER": (
        ExternalDeviceState.WAITING_FOR_CUSTOMER,
        ExternalDeviceSubState.PROCESSING_PAYMENT,
    ),
    "POS": (ExternalDeviceState.WAITING_FOR_POS, ExternalDeviceSubState.CONFIRM_PAYMENT),
    "PROCESSING": (ExternalDeviceState.BUSY, ExternalDeviceSubState.PROCESSING_PAYMENT),
}


def handle_message(session: Session, event: MessageReceived) -> None:
    """Act on one message from the POS (already ACKed)."""
    t = session.terminal
    m = event.message
    if isinstance(m, TxStart):
        _start_tx(session, m)
    elif isinstance(m, RefundRequest | VoidPayment) and (drop := t.take_drop_script()):
        _drop_during(session, m, after=drop.stage == "after_auth")
    elif isinstance(m, RefundRequest):
        _start(
            session,
            RequestInfo.REFUND,
            None,
            lambda: run_refund(t, session, m),
            busy=lambda: _refund_busy(session, m),
        )
    elif isinstance(m, KeyPressMessage):
        if m.key_press is KeyPress.ESC:
            t.post_input("pos_cancel")
    elif isinstance(m, PaymentConfirmed):
        t.post_input("pos_confirm")
    elif isinstance(m, PaymentRejected):
        t.post_input("pos_reject", reason=m.reason.value if m.reason else None)
    elif isinstance(m, SignatureVerified):
        t.post_input("pos_signature", verified=m.verified)
    elif isinstance(m, Break):
        session.spawn(_reset(session))
    elif isinstance(m, RetrieveDeviceStatusRequest):
        _device_status(session, bool(m.send_last_message))
    elif isinstance(m, RetrievePaymentRequest):
        _retrieve_payment(session, m.external_payment_id)
    else:
        answer = _answer(session, m, event.inner_version)
        if answer is not None:
            session.send(answer)


# -- transactions ----------------------------------------------------------------------


def _drop_during(session: Session, m: RefundRequest | VoidPayment, *, after: bool) -> None:
    """A ``drop_socket`` script on a refund or void: the socket drops before the device
    acts, or after the refund / void is made and before the POS hears of it."""
    t = session.terminal
    if after:
        try:
            if isinstance(m, RefundRequest):
                refund = t.books.refund(m.payment_id, m.amount, bool(m.full_refund))
                t.last_message = FinishOk(refund=refund, request_info=RequestInfo.REFUND)
            else:
                t.books.void(m.payment.id, (m.void_reason or VoidReason.USER_CANCEL).value)
        except LedgerError as exc:
            t.state.events.add("terminal_drop_refused", reason=exc.reason)
    t.state.events.add("terminal_drop", method=m.method.value, after=after)
    session.drop()


def _start_tx(session: Session, tx: TxStart) -> None:
    t = session.terminal
    ri = request_info_of(tx)
    ext = tx.pay_intent.external_payment_id

    def busy() -> None:
        session.send(
            TxStartResponse(
                success=False,
                result=TxStartResponseResult.FAIL,
                external_payment_id=ext,
                request_info=ri,
                reason="DEVICE_BUSY",
                message="The device is busy with another transaction",
            )
        )

    script = t.next_script()
    t.state.events.add("terminal_tx_start", request_info=ri.value, outcome=script.outcome)
    _start(session, ri, ext, lambda: run_payment(t, session, tx, script), busy=busy)


def _refund_busy(session: Session, req: RefundRequest) -> None:
    session.send(
        RefundResponse(
            order_id=req.order_id,
            payment_id=req.payment_id,
            code=ResultStatus.FAIL,
            reason="FAIL",
            message="The device is busy with another transaction",
        )
    )
    session.send(FinishCancel(request_info=RequestInfo.REFUND))


def _start(
    session: Session,
    ri: RequestInfo,
    ext: str | None,
    flow: Callable[[], Coroutine[Any, Any, None]],
    *,
    busy: Callable[[], None],
) -> None:
    t = session.terminal
    if t.in_flight is not None:
        busy()
        return
    flight = InFlight(ri.value, ext, session)
    t.in_flight = flight
    t.drain_inputs()

    async def runner() -> None:
        try:
            await flow()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("terminal flow failed")
            t.state.events.add("terminal_flow_error", request_info=ri.value)
            t.emit(FinishCancel(request_info=ri), session)
        finally:
            if t.in_flight is flight:
                t.in_flight = None
                t.last_external_payment_id = ext

    flight.task = asyncio.ensure_future(runner())


async def _reset(session: Session) -> None:
    """BREAK: end the transaction in flight (as a cancel), then report IDLE."""
    t = session.terminal
    flight = t.in_flight
    if flight is not None and flight.task is not None:
        t.post_input("pos_cancel")
        try:
            await asyncio.wait_for(asyncio.shield(flight.task), 5)
        except (TimeoutError, asyncio.CancelledError):
            flight.task.cancel()
    t.show("WELCOME_SCREEN", "Welcome")
    session.send(
        ResetDeviceResponse(
            status=ResultStatus.SUCCESS, reason="Device reset", state=ExternalDeviceState.IDLE
        )
    )


def _device_status(session: Session, send_last: bool) -> None:
    t = session.terminal
    flight = t.in_flight
    if flight is None:
        state, sub = ExternalDeviceState.IDLE, None
        ext = t.last_external_payment_id
    else:
        state, sub = _WAITING.get(flight.waiting_for, (ExternalDeviceState.BUSY, None))
        ext = flight.external_payment_id
    session.send(
        RetrieveDeviceStatusResponse(
            status=ResultStatus.SUCCESS,
            state=state,
            substate=sub,
            data={"externalPaymentId": ext} if ext else {},
        )
    )
    if send_last and flight is None and t.last_message is not None:
        session.send(t.last_message)


def _retrieve_payment(session: Session, ext: str) -> None:
    t = session.terminal
    flight = t.in_flight
    if flight is not None and flight.external_payment_id == ext:
        session.send(
            RetrievePaymentResponse(
                status=ResultStatus.SUCCESS,
                query_status=QueryStatus.IN_PROGRESS,
                external_payment_id=ext,
            )
        )
        return
    found = t.books.by_external_id(ext)
    if (
        found is not None
        and t.settings.retrieve_scope == "boot"
        and found["id"] not in t.books.boot_payment_ids
    ):
        found = None  # taken before the last restart: this device no longer knows it
    if found is None:
        session.send(
            RetrievePaymentResponse(
                status=ResultStatus.FAIL,
                query_status=QueryStatus.NOT_FOUND,
                external_payment_id=ext,
                reason="NOT_FOUND",
                message="No payment with that external id",
            )
        )
        return
    session.send(
        RetrievePaymentResponse(
            status=ResultStatus.SUCCESS,
            query_status=QueryStatus.FOUND,
            external_payment_id=ext,
            payment=found,
        )
    )
