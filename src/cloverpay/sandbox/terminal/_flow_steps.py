"""The steps every transaction flow of the emulated terminal takes: sending to the POS,
entering and leaving screens (UI_STATE), waiting for the customer or the POS (a cancel
from either ends the flow), and ending with FINISH_CANCEL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cloverpay.remotepay.protocol import (
    FinishCancel,
    FinishOk,
    Message,
    RequestInfo,
    TransactionType,
    TxStart,
    UiDirection,
    UiStateMessage,
)

if TYPE_CHECKING:
    from ._device import Terminal
    from ._session import Session

__all__ = ["request_info_of"]


class _Cancelled(Exception):
    def __init__(self, by_pos: bool) -> None:
        self.by_pos = by_pos


def request_info_of(tx: TxStart) -> RequestInfo:
    if tx.request_info is not None:
        return tx.request_info
    kind = tx.pay_intent.transaction_type
    if kind is TransactionType.CREDIT:
        return RequestInfo.CREDIT
    if kind is TransactionType.AUTH:
        return RequestInfo.PREAUTH
    return RequestInfo.SALE


class _Flow:
    def __init__(self, terminal: Terminal, session: Session | None, ri: RequestInfo) -> None:
        self.t = terminal
        self.s = session
        self.ri = ri
        #: the screen entered last and not yet left (state, text)
        self.current: tuple[str, str] | None = None

    def emit(self, message: Message) -> None:
        if isinstance(message, FinishOk | FinishCancel):
            self.t.last_message = message
        self.t.emit(message, self.s)

    def ui(self, state: str, text: str, direction: UiDirection, **extra: Any) -> None:
        options = extra.pop("options", None)
        fields: dict[str, Any] = {"ui_state": state, "ui_text": text, "ui_direction": direction}
        if options is not None:
            fields["input_options"] = options
        self.emit(UiStateMessage(**fields))
        if direction is UiDirection.ENTER:
            self.current = (state, text)
            self.t.show(state, text, **extra)
        elif self.current == (state, text):
            self.current = None

    def leave_screen(self) -> None:
        if self.current is not None:
            self.ui(*self.current, UiDirection.EXIT)

    def waiting(self, who: str) -> None:
        if self.t.in_flight is not None:
            self.t.in_flight.waiting_for = who

    async def wait(self, *kinds: str) -> dict[str, Any]:
        """Wait for one of ``kinds``; a cancel (customer or POS) raises _Cancelled."""
        item = await self.t.expect(*kinds, "cancel", "pos_cancel")
        if item.kind in ("cancel", "pos_cancel"):
            raise _Cancelled(by_pos=item.kind == "pos_cancel")
        return {"kind": item.kind, **item.data}

    def finish_cancel(self) -> None:
        self.emit(FinishCancel(request_info=self.ri))
        self.t.show("WELCOME_SCREEN", "Welcome")
