"""Transaction flows of the emulated terminal (spec §6.1–§6.6), one coroutine each.

A flow runs as a task on the terminal's loop, sends what the device would send
(through :meth:`Terminal.emit`) and waits for the customer or the POS with
:meth:`Terminal.expect`. Money is written through :class:`~._ledger.Books` the moment
it moves (at authorization), before the POS hears of it: a socket that drops or a
device that reboots after that point leaves a payment the POS must look up.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import TYPE_CHECKING

from cloverpay.remotepay.protocol import (
    Challenge,
    ChallengeType,
    ConfirmPaymentMessage,
    DataEntryLocation,
    FinishOk,
    InputOption,
    Payment,
    PrintPayment,
    PrintPaymentDecline,
    RefundErrorCode,
    RefundRequest,
    RefundResponse,
    RequestInfo,
    ResultStatus,
    Signature,
    SignaturePoint,
    SignatureStroke,
    TipAdded,
    TipMode,
    TransactionSettings,
    TxStart,
    TxStartResponse,
    TxStartResponseResult,
    TxState,
    TxStateMessage,
    UiDirection,
    VerifySignature,
    VoidReason,
)

from ._flow_steps import _Cancelled, _Flow, request_info_of
from ._ledger import LedgerError, card_transaction
from ._script import CARDS, CustomerScript

if TYPE_CHECKING:
    from ._device import Terminal
    from ._session import Session

__all__ = ["SIGNATURE", "request_info_of", "run_payment", "run_refund"]

#: The signature the emulated customer draws (a short zig-zag).
SIGNATURE = Signature(
    width=400,
    height=120,
    strokes=[
        SignatureStroke(
            points=[
                SignaturePoint(x=x, y=30 + (60 if i % 2 else 0))
                for i, x in enumerate(range(20, 380, 40))
            ]
        )
    ],
)

_CANCEL_OPTION = [InputOption(key_press="ESC", description="Cancel")]
_CHALLENGES = {
    "DUPLICATE": (
        ChallengeType.DUPLICATE_CHALLENGE,
        "Duplicate payment? A payment with this card and amount was just taken.",
        VoidReason.REJECT_DUPLICATE,
    ),
    "OFFLINE": (
        ChallengeType.OFFLINE_CHALLENGE,
        "The device is offline. Accept the payment offline?",
        VoidReason.REJECT_OFFLINE,
    ),
}


async def run_payment(
    terminal: Terminal, session: Session | None, tx: TxStart, script: CustomerScript
) -> None:
    """Sale, auth, preauth or manual refund (``requestInfo``), from TX_START on."""
    f = _Flow(terminal, session, request_info_of(tx))
    pi = tx.pay_intent
    ri = f.ri
    ext = pi.external_payment_id
    ts = pi.transaction_settings or TransactionSettings()
    amount = abs(pi.amount or 0) if ri is RequestInfo.CREDIT else (pi.amount or 0)

    def reject(result: TxStartResponseResult, reason: str | None, message: str | None) -> None:
        f.emit(
            TxStartResponse(
                success=False,
                result=result,
                external_payment_id=ext,
                request_info=ri,
                reason=reason,
                message=message,
            )
        )

    if amount <= 0:
        return reject(
            TxStartResponseResult.FAIL, "INVALID_AMOUNT", "amount must be greater than zero"
        )
    if not ext or len(ext.strip()) > 32:
        return reject(
            TxStartResponseResult.FAIL,
            "INVALID_EXTERNAL_ID",
            "externalPaymentId is required and at most 32 characters",
        )
    if script.outcome == "reject":
        return reject(TxStartResponseResult.FAIL, "FAIL", "Scripted TX_START failure")
    existing = terminal.books.by_external_id(ext)
    if ri is not RequestInfo.CREDIT and existing and existing["result"] in ("SUCCESS", "AUTH"):
        return reject(TxStartResponseResult.DUPLICATE, None, None)

    f.emit(
        TxStartResponse(
            success=True,
            result=TxStartResponseResult.SUCCESS,
            external_payment_id=ext,
            request_info=ri,
        )
    )
    payment: Payment | None = None
    try:
        while True:  # a decline may restart at the card screen
            f.ui(
                "START",
                "Insert, tap, or swipe card",
                UiDirection.ENTER,
                options=_CANCEL_OPTION,
                amount=amount,
                actions=["tap", "cancel"],
            )
            f.emit(TxStateMessage(tx_state=TxState.START))
            card, entry = script.test_card, script.entry
            if script.human or script.outcome == "never_act":
                f.waiting("CUSTOMER")
                tap = await f.wait("tap")
                card = CARDS.get(str(tap.get("card") or card.card_type), card)
                entry = str(tap.get("entry") or entry)
            elif script.outcome == "cancel":
                raise _Cancelled(by_pos=False)
            elif script.outcome == "reboot_mid_sale" and script.stage == "card_read":
                terminal.reboot()
                return
            f.ui("START", "Insert, tap, or swipe card", UiDirection.EXIT)

            tip = pi.tip_amount or 0
            if (
                ri is RequestInfo.SALE
                and not tip
                and ts.tip_mode
                in (
                    None,
                    TipMode.ON_SCREEN_BEFORE_PAYMENT,
                    TipMode.ON_SCREEN_AFTER_PAYMENT,
                )
                and (script.human or script.tip is not None)
            ):
                f.ui(
                    "ADD_TIP",
                    "Add a tip?",
                    UiDirection.ENTER,
                    amount=amount,
                    actions=["tip", "cancel"],
                )
                if script.human:
                    f.waiting("CUSTOMER")
                    tip = int((await f.wait("tip")).get("amount") or 0)
                else:
                    tip = script.tip or 0
                f.ui("ADD_TIP", "Add a tip?", UiDirection.EXIT)
                if tip:
                    f.emit(TipAdded(tip_amount=tip))

            f.ui("PROCESSING", "Processing", UiDirection.ENTER, amount=amount + tip)
            f.waiting("PROCESSING")
            approved = amount
            declined = script.outcome == "decline"
            if script.outcome == "partial":
                approved = (
                    script.partial_amount if script.partial_amount is not None else amount // 2
                )
                declined = not pi.allow_partial_auth or not 0 < approved < amount
            f.ui("PROCESSING", "Processing", UiDirection.EXIT)

            if ri is RequestInfo.CREDIT and not declined:
                credit = terminal.books.credit(
                    amount, card_transaction(terminal.state, card, entry, "CREDIT")
                )
                f.emit(TxStateMessage(tx_state=TxState.SUCCESS))
                f.emit(FinishOk(credit=credit, request_info=ri))
                terminal.show("THANKYOU_SCREEN", "Refund complete", amount=amount)
                return

            tx_type = "AUTH" if ri is RequestInfo.SALE else "PREAUTH"
            result = "AUTH" if ri is RequestInfo.PREAUTH else "SUCCESS"
            settings_json = {
                "cardEntryMethods": ts.card_entry_methods or pi.card_entry_methods or 34567,
                "tipMode": (ts.tip_mode or (TipMode.TIP_PROVIDED if tip else TipMode.NO_TIP)).value,
                "cloverShouldHandleReceipts": ts.clover_should_handle_receipts is not False,
            }
            record = terminal.books.new_payment(
                amount=approved,
                tip_amount=tip,
                tax_amount=pi.tax_amount or 0,
                external_payment_id=ext,
                result="FAIL" if declined else result,
                card_tx=card_transaction(
                    terminal.state, card, entry, tx_type, captured=ri is RequestInfo.SALE
                ),
                transaction_settings=settings_json,
            )
            if declined:
                failed = terminal.books.record(record)
                f.emit(TxStateMessage(tx_state=TxState.FAIL))
                f.ui("DECLINED", "Declined", UiDirection.ENTER)
                if ts.clover_should_handle_receipts is False:
                    f.emit(PrintPaymentDecline(payment=failed, reason="Declined"))
                f.ui("DECLINED", "Declined", UiDirection.EXIT)
                restart = terminal.settings.restart_on_decline and not (
                    ts.disable_restart_transaction_on_failure
                    or pi.disable_restart_transaction_when_failed
                )
                if restart and script.human:
                    script = replace(script, outcome="approve")  # another card, say
                    continue
                f.finish_cancel()
                return
            payment = terminal.books.record(record)
            break

        if script.outcome == "reboot_mid_sale":  # stage after_auth
            terminal.reboot()
            return
        if script.outcome == "drop_socket":
            finish = FinishOk(payment=payment, request_info=ri)
            terminal.last_message = finish
            if session is not None:
                session.drop()
            terminal.show("THANKYOU_SCREEN", "Approved", amount=approved + tip)
            return

        if script.challenge is not None and not ts.auto_accept_payment_confirmations:
            ctype, text, void_reason = _CHALLENGES[script.challenge]
            challenge = Challenge(type=ctype, message=text, reason=void_reason)
            if pi.requires_remote_confirmation:
                f.emit(ConfirmPaymentMessage(payment=payment, challenges=[challenge]))
                terminal.show(
                    "CONFIRM_DUPLICATE_CHECK",
                    "Waiting for the merchant",
                    actions=["accept", "reject"],
                )
                f.waiting("POS")
                answer = await f.wait("pos_confirm", "pos_reject", "accept", "reject")
            else:
                f.ui(
                    "CONFIRM_DUPLICATE_CHECK", text, UiDirection.ENTER, actions=["accept", "reject"]
                )
                answer = await f.wait("accept", "reject") if script.human else {"kind": "accept"}
                f.ui("CONFIRM_DUPLICATE_CHECK", text, UiDirection.EXIT)
            if answer["kind"] in ("pos_reject", "reject"):
                terminal.books.void(payment.id, void_reason.value)
                f.finish_cancel()
                return

        signature: Signature | None = None
        location = ts.signature_entry_location
        if script.signature and location not in (
            DataEntryLocation.NONE,
            DataEntryLocation.ON_PAPER,
        ):
            f.ui("ADD_SIGNATURE", "Please sign", UiDirection.ENTER, actions=["sign", "cancel"])
            if script.human:
                f.waiting("CUSTOMER")
                await f.wait("sign")
            f.ui("ADD_SIGNATURE", "Please sign", UiDirection.EXIT)
            signature = SIGNATURE
            if not ts.auto_accept_signature:
                f.emit(VerifySignature(payment=payment, signature=signature))
                f.ui(
                    "VERIFY_SIGNATURE_ON_SCREEN",
                    "Waiting for signature verification",
                    UiDirection.ENTER,
                    actions=["accept", "reject"],
                )
                f.waiting("POS")
                answer = await f.wait("pos_signature", "accept", "reject")
                f.ui(
                    "VERIFY_SIGNATURE_ON_SCREEN",
                    "Waiting for signature verification",
                    UiDirection.EXIT,
                )
                if answer["kind"] == "reject" or answer.get("verified") is False:
                    terminal.books.void(payment.id, VoidReason.REJECT_SIGNATURE.value)
                    f.finish_cancel()
                    return

        f.emit(TxStateMessage(tx_state=TxState.SUCCESS))
        if ts.clover_should_handle_receipts is False:
            f.emit(PrintPayment(payment=payment))
        elif not ts.disable_receipt_selection:
            f.ui("RECEIPT_OPTIONS", "Receipt options", UiDirection.ENTER, actions=["receipt"])
            if script.human:
                f.waiting("CUSTOMER")
                await f.wait("receipt")
            f.ui("RECEIPT_OPTIONS", "Receipt options", UiDirection.EXIT)
        f.emit(FinishOk(payment=payment, signature=signature, request_info=ri))
        terminal.show("THANKYOU_SCREEN", "Approved", amount=approved + tip)
    except _Cancelled as cancel:
        if payment is not None:  # money moved: give it back before reporting the cancel
            with contextlib.suppress(LedgerError):
                terminal.books.void(payment.id, VoidReason.USER_CUSTOMER_CANCEL.value)
        f.leave_screen()
        if cancel.by_pos:
            f.ui("CANCELED", "Transaction canceled", UiDirection.ENTER)
            f.ui("CANCELED", "Transaction canceled", UiDirection.EXIT)
        f.finish_cancel()


async def run_refund(terminal: Terminal, session: Session | None, req: RefundRequest) -> None:
    """REFUND_REQUEST → REFUND_RESPONSE, then FINISH_OK / FINISH_CANCEL (spec §6.4)."""
    f = _Flow(terminal, session, RequestInfo.REFUND)
    f.ui("PROCESSING_CREDIT", "Processing refund", UiDirection.ENTER)
    f.ui("PROCESSING_CREDIT", "Processing refund", UiDirection.EXIT)
    try:
        refund = terminal.books.refund(req.payment_id, req.amount, bool(req.full_refund))
    except LedgerError as exc:
        reason = (
            RefundErrorCode.PAYMENT_NOT_FOUND.value
            if exc.reason == "PAYMENT_NOT_FOUND"
            else RefundErrorCode.FAIL.value
        )
        f.emit(
            RefundResponse(
                order_id=req.order_id,
                payment_id=req.payment_id,
                code=ResultStatus.FAIL,
                reason=reason,
                message=exc.message,
            )
        )
        f.finish_cancel()
        return
    order_id = refund.order_ref.id if refund.order_ref else req.order_id
    f.emit(
        RefundResponse(
            order_id=order_id, payment_id=req.payment_id, refund=refund, code=ResultStatus.SUCCESS
        )
    )
    f.emit(FinishOk(refund=refund, request_info=RequestInfo.REFUND))
    terminal.show("THANKYOU_SCREEN", "Refund complete", amount=refund.amount)
