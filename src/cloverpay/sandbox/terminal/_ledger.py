"""Money moved on the emulated terminal, written into the sandbox's merchant state.

Payments taken on the terminal are Clover v3 payments: they go into the sandbox's
:class:`~cloverpay.sandbox.PlatformStore` (so ``GET /v3/merchants/{mId}/payments``
and ``filter=externalPaymentId=…`` see them) and each change is announced with
``state.notify("P", id, kind)`` (app webhooks), as on a real Clover account. The v3
record *is* the device's record: the JSON the terminal returns in FINISH_OK is the
JSON the REST view serves (Remote Pay and v3 use the same field names), so a payment
a rebooted terminal forgot is still found through the REST API.

Manual refunds (credits) and closeout batches stay in :class:`TerminalLedger`; the
sandbox has no v3 credits view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cloverpay.remotepay.protocol import Credit, Payment, Refund

from .._platform import PlatformStore
from .._state import SandboxState
from ._script import TestCard

__all__ = ["Books", "LedgerError", "TerminalLedger", "card_transaction"]

TENDER = {"id": "", "label": "Credit Card", "labelKey": "com.clover.tender.credit_card"}


class LedgerError(Exception):
    """A maintenance request that cannot apply (unknown payment, wrong state, amount)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class TerminalLedger:
    """Per-sandbox terminal records that have no v3 view (a ``state.domain``)."""

    credits: dict[str, dict[str, Any]] = field(default_factory=dict)
    batches: list[dict[str, Any]] = field(default_factory=list)
    #: payment ids not yet in a closed batch, in order
    open_batch: list[str] = field(default_factory=list)
    #: pairing auth token -> POS name (tokens survive reboots, not a sandbox reset)
    tokens: dict[str, str] = field(default_factory=dict)


def card_transaction(
    state: SandboxState, card: TestCard, entry: str, tx_type: str, *, captured: bool = True
) -> dict[str, Any]:
    ids = state.ids
    return {
        "cardType": card.card_type,
        "entryType": entry,
        "first6": card.first6,
        "last4": card.last4,
        "type": tx_type,
        "authCode": "OK" + ids.digits(4),
        "referenceId": ids.digits(12),
        "transactionNo": ids.digits(6),
        "state": "CLOSED" if captured else "PENDING",
        "cardholderName": card.cardholder_name,
        "extra": {"cvmResult": "NO_CVM_REQUIRED", "authorizingNetworkName": card.card_type},
        "currency": "usd",
    }


class Books:
    """Reads and writes terminal money in one sandbox state (always under its lock)."""

    def __init__(self, state: SandboxState, device_id: str) -> None:
        self.state = state
        self.device_id = device_id

    @property
    def platform(self) -> PlatformStore:
        return self.state.domain(PlatformStore)

    @property
    def ledger(self) -> TerminalLedger:
        return self.state.domain(TerminalLedger)

    @property
    def merchant_id(self) -> str:
        return self.state.merchant.merchant_id

    # -- payments --------------------------------------------------------------------

    def new_payment(
        self,
        *,
        amount: int,
        tip_amount: int,
        tax_amount: int,
        external_payment_id: str | None,
        result: str,
        card_tx: dict[str, Any],
        transaction_settings: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """A payment (not yet recorded) in the wire / v3 shape."""
        now = self.state.clock.now_ms()
        ids = self.state.ids
        payment: dict[str, Any] = {
            "id": ids.clover_id(),
            "order": {"id": ids.clover_id()},
            "device": {"id": self.device_id},
            "tender": {**TENDER, "id": ids.clover_id()},
            "amount": amount,
            "tipAmount": tip_amount,
            "taxAmount": tax_amount,
            "cashbackAmount": 0,
            "externalPaymentId": external_payment_id,
            "employee": {"id": "DFLTEMPLOYEE"},
            "createdTime": now,
            "clientCreatedTime": now,
            "modifiedTime": now,
            "offline": False,
            "result": result,
            "cardTransaction": card_tx,
            "refunds": {"elements": []},
        }
        if transaction_settings:
            payment["transactionSettings"] = transaction_settings
        return payment

    def record(self, payment: dict[str, Any], kind: str = "CREATE") -> Payment:
        """Store ``payment`` in the v3 view and announce it; returns the wire model."""
        with self.state.lock:
            self.platform.record_payment(self.merchant_id, payment)
            if kind == "CREATE" and payment["result"] in ("SUCCESS", "AUTH"):
                self.ledger.open_batch.append(payment["id"])
        self.state.events.add(
            "terminal_payment", payment_id=payment["id"], result=payment["result"], change=kind
        )
        self.state.notify(
            "P",
            payment["id"],
            "CREATE" if kind == "CREATE" else "UPDATE",
            merchant_id=self.merchant_id,
        )
        return Payment.model_validate(payment)

    def get(self, payment_id: str) -> dict[str, Any] | None:
        with self.state.lock:
            return self.platform.payment(self.merchant_id, payment_id)

    def by_external_id(self, external_payment_id: str) -> dict[str, Any] | None:
        with self.state.lock:
            found = self.platform.by_external(self.merchant_id, external_payment_id)
        return max(found, key=lambda p: p.get("createdTime", 0)) if found else None

    def _update(self, payment_id: str, **changes: Any) -> Payment:
        with self.state.lock:
            current = self.platform.payment(self.merchant_id, payment_id)
            if current is None:
                raise LedgerError("PAYMENT_NOT_FOUND", f"No payment {payment_id}")
            updated = {**current, **changes, "modifiedTime": self.state.clock.now_ms()}
            self.platform.record_payment(self.merchant_id, updated)
        self.state.notify("P", payment_id, "UPDATE", merchant_id=self.merchant_id)
        return Payment.model_validate(updated)

    def _live(self, payment_id: str, *results: str) -> dict[str, Any]:
        payment = self.get(payment_id)
        if payment is None:
            raise LedgerError("PAYMENT_NOT_FOUND", f"No payment {payment_id}")
        if payment["result"] not in results:
            raise LedgerError("FAIL", f"Payment {payment_id} is {payment['result']}")
        return payment

    def void(self, payment_id: str, reason: str) -> Payment:
        with self.state.lock:
            payment = self._live(payment_id, "SUCCESS", "AUTH")
            if self._refunded(payment):
                raise LedgerError("FAIL", f"Payment {payment_id} has refunds")
            return self._update(payment_id, result="VOIDED", voidReason=reason)

    def tip_adjust(self, payment_id: str, tip_amount: int) -> Payment:
        with self.state.lock:
            payment = self._live(payment_id, "SUCCESS")
            if (payment.get("cardTransaction") or {}).get("type") != "PREAUTH":
                raise LedgerError("FAIL", "Only auths (not sales) can be tip-adjusted")
            return self._update(payment_id, tipAmount=tip_amount)

    def increment(self, payment_id: str, amount: int) -> tuple[Payment, dict[str, Any]]:
        with self.state.lock:
            payment = self._live(payment_id, "AUTH")
            auth = {
                "id": self.state.ids.clover_id(),
                "amount": amount,
                "payment": {"id": payment_id},
            }
            increments = list((payment.get("increments") or {}).get("elements", []))
            increments.append(auth)
            updated = self._update(
                payment_id,
                amount=payment["amount"] + amount,
                increments={"elements": increments},
            )
        return updated, auth

    def capture(self, payment_id: str, amount: int, tip_amount: int) -> Payment:
        with self.state.lock:
            payment = self._live(payment_id, "AUTH")
            card_tx = {**(payment.get("cardTransaction") or {}), "captured": True}
            card_tx["state"] = "CLOSED"
            return self._update(
                payment_id,
                amount=amount,
                tipAmount=tip_amount,
                result="SUCCESS",
                cardTransaction=card_tx,
            )

    @staticmethod
    def _refunded(payment: dict[str, Any]) -> int:
        return sum(
            int(r.get("amount") or 0) for r in (payment.get("refunds") or {}).get("elements", [])
        )

    def refund(self, payment_id: str, amount: int | None, full: bool) -> Refund:
        with self.state.lock:
            payment = self._live(payment_id, "SUCCESS")
            total = int(payment["amount"]) + int(payment.get("tipAmount") or 0)
            remaining = total - self._refunded(payment)
            if full:
                amount = remaining
            if amount is None or amount <= 0:
                raise LedgerError("FAIL", "amount must be greater than zero")
            if amount > remaining:
                raise LedgerError("FAIL", f"Refund of {amount} exceeds the {remaining} left")
            now = self.state.clock.now_ms()
            refund = {
                "id": self.state.ids.clover_id(),
                "orderRef": {"id": payment["order"]["id"]},
                "device": {"id": self.device_id},
                "payment": {"id": payment_id},
                "amount": amount,
                "taxAmount": 0,
                "tipAmount": 0,
                "createdTime": now,
                "clientCreatedTime": now,
                "employee": {"id": "DFLTEMPLOYEE"},
                "cardTransaction": {
                    **(payment.get("cardTransaction") or {}),
                    "type": "REFUND",
                },
            }
            refunds = [*(payment.get("refunds") or {}).get("elements", []), refund]
            self._update(payment_id, refunds={"elements": refunds})
        self.state.events.add("terminal_refund", payment_id=payment_id, refund_id=refund["id"])
        return Refund.model_validate(refund)

    # -- credits and batches ---------------------------------------------------------

    def credit(self, amount: int, card_tx: dict[str, Any]) -> Credit:
        now = self.state.clock.now_ms()
        ids = self.state.ids
        credit_id = ids.clover_id()
        credit: dict[str, Any] = {
            "id": credit_id,
            "orderRef": {"id": ids.clover_id()},
            "device": {"id": self.device_id},
            "tender": {**TENDER, "id": ids.clover_id()},
            "employee": {"id": "DFLTEMPLOYEE"},
            "amount": amount,
            "createdTime": now,
            "clientCreatedTime": now,
            "cardTransaction": card_tx,
            "result": "SUCCESS",
        }
        with self.state.lock:
            self.ledger.credits[credit_id] = credit
        self.state.events.add("terminal_credit", credit_id=credit_id)
        return Credit.model_validate(credit)

    def closeout(self) -> dict[str, Any]:
        with self.state.lock:
            ids, self.ledger.open_batch = self.ledger.open_batch, []
            payments = [p for pid in ids if (p := self.get(pid)) and p["result"] == "SUCCESS"]
            total = sum(int(p["amount"]) + int(p.get("tipAmount") or 0) for p in payments)
            total -= sum(self._refunded(p) for p in payments)
            batch = {
                "id": self.state.ids.clover_id(),
                "txCount": len(payments),
                "totalBatchAmount": total,
                "state": "CLOSED",
                "batchType": "MANUAL_CLOSE",
                "createdTime": self.state.clock.now_ms(),
            }
            self.ledger.batches.append(batch)
        return batch
