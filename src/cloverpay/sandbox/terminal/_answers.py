"""Requests the emulated terminal answers at once, with no customer (spec §6): voids,
tip adjusts, pre-auth captures and increments, closeout, pending payments, card reads,
vaulting, printing, printers, screens and custom activities."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cloverpay.remotepay.protocol import (
    ActivityRequest,
    ActivityResponse,
    Batch,
    CapturePreAuth,
    CapturePreAuthResponse,
    CardData,
    CardDataRequest,
    CardDataResponse,
    CloseoutRequest,
    CloseoutResponse,
    GetPrintersRequest,
    GetPrintersResponse,
    IncrementPreAuthRequest,
    IncrementPreAuthResponse,
    Message,
    Printer,
    PrintImage,
    PrintJobStatusRequest,
    PrintJobStatusResponse,
    PrintText,
    ResultStatus,
    RetrievePendingPayments,
    RetrievePendingPaymentsResponse,
    ShowThankYouScreen,
    ShowWelcomeScreen,
    TerminalMessage,
    TipAdjust,
    TipAdjustResponse,
    UiDirection,
    UiStateMessage,
    UntypedMessage,
    VaultCard,
    VaultCardResponse,
    VaultedCard,
    VoidPayment,
    VoidPaymentResponse,
    VoidReason,
)
from cloverpay.remotepay.protocol import Method as M

from ._ledger import LedgerError
from ._script import DEFAULT_SCRIPT, TestCard

if TYPE_CHECKING:
    from ._device import Terminal
    from ._session import Session

__all__: list[str] = []  # the request handlers' own part


def _answer(
    session: Session, m: Message | UntypedMessage, inner_version: int | None
) -> Message | None:
    t = session.terminal
    books = t.books
    if isinstance(m, VoidPayment):
        reason = m.void_reason or VoidReason.USER_CANCEL
        try:
            payment = books.void(m.payment.id, reason.value)
            response = VoidPaymentResponse(
                payment=payment, void_reason=reason, status=ResultStatus.SUCCESS
            )
        except LedgerError as exc:
            response = VoidPaymentResponse(
                payment=m.payment,
                void_reason=reason,
                status=ResultStatus.FAIL,
                reason=exc.reason,
                message=exc.message,
            )
        t.show("WELCOME_SCREEN", "Welcome")
        # Version 3 asks for VOID_PAYMENT_RESPONSE; older SDKs take the ACK (spec §4.3).
        return response if (inner_version or 0) >= 3 else None
    if isinstance(m, TipAdjust):
        try:
            books.tip_adjust(m.payment_id, m.tip_amount)
        except LedgerError as exc:
            return TipAdjustResponse(
                success=False,
                payment_id=m.payment_id,
                order_id=m.order_id,
                reason=exc.reason,
                message=exc.message,
            )
        return TipAdjustResponse(
            success=True, amount=m.tip_amount, payment_id=m.payment_id, order_id=m.order_id
        )
    if isinstance(m, CapturePreAuth):
        try:
            books.capture(m.payment_id, m.amount, m.tip_amount or 0)
        except LedgerError as exc:
            return CapturePreAuthResponse(
                status=ResultStatus.FAIL,
                payment_id=m.payment_id,
                reason=exc.reason,
                message=exc.message,
            )
        return CapturePreAuthResponse(
            status=ResultStatus.SUCCESS,
            payment_id=m.payment_id,
            amount=m.amount,
            tip_amount=m.tip_amount or 0,
        )
    if isinstance(m, IncrementPreAuthRequest):
        try:
            _, auth = books.increment(m.payment_id, m.amount)
        except LedgerError as exc:
            return IncrementPreAuthResponse(status=ResultStatus.FAIL, reason=exc.message)
        return IncrementPreAuthResponse(status=ResultStatus.SUCCESS, authorization=auth)
    if isinstance(m, CloseoutRequest):
        return CloseoutResponse(
            status=ResultStatus.SUCCESS, batch=Batch.model_validate(books.closeout())
        )
    if isinstance(m, RetrievePendingPayments):
        return RetrievePendingPaymentsResponse(
            status=ResultStatus.SUCCESS, pending_payment_entries=[]
        )
    if isinstance(m, CardDataRequest):
        card = _default_card(t)
        for direction in (UiDirection.ENTER, UiDirection.EXIT):
            session.send(
                UiStateMessage(ui_state="START", ui_text="Swipe card", ui_direction=direction)
            )
        masked = f"{card.first6}******{card.last4}"
        return CardDataResponse(
            status=ResultStatus.SUCCESS,
            card_data=CardData(
                first6=card.first6,
                last4=card.last4,
                cardholder_name=card.cardholder_name,
                exp=card.exp,
                encrypted=False,
                masked_track1=f"%B{masked}^{card.cardholder_name}^{card.exp[2:]}{card.exp[:2]}?",
                masked_track2=f";{masked}={card.exp[2:]}{card.exp[:2]}?",
            ),
        )
    if isinstance(m, VaultCard):
        card = _default_card(t)
        return VaultCardResponse(
            status=ResultStatus.SUCCESS,
            card=VaultedCard(
                first6=card.first6,
                last4=card.last4,
                cardholder_name=card.cardholder_name,
                expiration_date=card.exp,
                token=t.state.ids.token("vault-"),
            ),
        )
    if isinstance(m, PrintText | PrintImage):
        job = m.external_print_job_id or t.state.ids.clover_id()
        t.print_jobs[job] = list(m.text_lines) if isinstance(m, PrintText) else ["<image>"]
        t.state.events.add("terminal_print", job=job)
        return None
    if isinstance(m, PrintJobStatusRequest):
        known = m.external_print_job_id in t.print_jobs
        return PrintJobStatusResponse(
            external_print_job_id=m.external_print_job_id, status="DONE" if known else "NOT_FOUND"
        )
    if isinstance(m, GetPrintersRequest):
        return GetPrintersResponse(
            printers=[Printer(id="PRN0SANDBOX01", name="Built-in", type="MY_LOCAL")]
        )
    if isinstance(m, TerminalMessage):
        t.show("DISPLAY_MESSAGE", m.text)
    elif isinstance(m, ShowWelcomeScreen):
        t.show("WELCOME_SCREEN", "Welcome")
    elif isinstance(m, ShowThankYouScreen):
        t.show("THANKYOU_SCREEN", "Thank you")
    elif isinstance(m, ActivityRequest):
        return ActivityResponse(action=m.action, result_code=-1, payload=m.payload)
    elif isinstance(m, UntypedMessage) and m.method is M.SHOW_ORDER_SCREEN:
        order = m.fields.get("order") or {}
        t.show("DISPLAY_ORDER", "Your order", amount=order.get("total"))
    return None


def _default_card(t: Terminal) -> TestCard:
    """Card reads and vaulting use the card of the next queued script (not consumed)."""
    queued = t.scripts()
    return (queued[0] if queued else DEFAULT_SCRIPT).test_card
