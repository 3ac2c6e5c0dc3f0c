"""Scripted customer behaviour for the emulated terminal.

A :class:`CustomerScript` says what the person at the terminal does during one
transaction: which card they present and how, whether they add a tip or sign, which
challenge the device raises and how the transaction ends. Scripts are queued through
the control API (``POST /_sandbox/terminal/script``) for the next N transactions; when
the queue is empty the :data:`DEFAULT_SCRIPT` applies (approve at once, no tip, no
signature, no challenge), which is what demos and benchmarks want.

Outcomes:

=====================  ===============================================================
``approve``            approved for the full amount
``decline``            the issuer declines (FINISH_CANCEL; a v3 payment with result FAIL)
``partial``            approved for ``partial_amount`` (default: half) when the POS
                       allows partial auths, declined otherwise
``cancel``             the customer presses Cancel on the card screen (FINISH_CANCEL)
``never_act``          the customer walks away: the card screen stays until the POS
                       cancels (KEY_PRESS ESC), resets the device (BREAK) or the
                       terminal is rebooted
``reject``             the device refuses the TX_START (TX_START_RESPONSE FAIL)
``reboot_mid_sale``    the device restarts; ``stage="card_read"`` (default) before the
                       authorization (nothing charged), ``stage="after_auth"`` after it
                       (charged: the payment is in the v3 view, the device forgot it)
``drop_socket``        the socket drops after the authorization, before FINISH_OK: the
                       payment exists; the device keeps it as its last message. Also
                       taken by the next refund or void: ``stage="after_auth"`` drops
                       after the refund / void is made (before the answer),
                       ``stage="card_read"`` (default) before the device acts on it
=====================  ===============================================================

``human=True`` makes the terminal wait for a person on the ``/terminal`` page (or the
``/_sandbox/terminal/customer`` control route) at each step instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Final, Literal, get_args

__all__ = [
    "CARDS",
    "DEFAULT_SCRIPT",
    "ENTRY_TYPES",
    "OUTCOMES",
    "CustomerScript",
    "ScriptError",
    "TestCard",
]

Outcome = Literal[
    "approve",
    "decline",
    "partial",
    "cancel",
    "never_act",
    "reject",
    "reboot_mid_sale",
    "drop_socket",
]
OUTCOMES: Final = frozenset(get_args(Outcome))
ChallengeName = Literal["DUPLICATE", "OFFLINE"]
Stage = Literal["card_read", "after_auth"]

#: Entry types a customer can use (CardTransaction.entryType names).
ENTRY_TYPES: Final = frozenset(
    {"EMV_CONTACT", "EMV_CONTACTLESS", "SWIPED", "KEYED", "MSD_CONTACTLESS", "VAULTED"}
)


@dataclass(frozen=True, slots=True)
class TestCard:
    """A test card as the terminal reports it: brand, first6/last4, holder, expiry."""

    card_type: str
    first6: str
    last4: str
    cardholder_name: str = "EMULATED/CARD"
    exp: str = "1230"


#: Cards a customer can present (``cardType`` names); only first6/last4 exist here.
CARDS: Final[dict[str, TestCard]] = {
    "VISA": TestCard("VISA", "476173", "0010"),
    "MC": TestCard("MC", "541333", "4084"),
    "AMEX": TestCard("AMEX", "371449", "8431"),
    "DISCOVER": TestCard("DISCOVER", "601100", "0012"),
    "JCB": TestCard("JCB", "353011", "0000"),
    "DINERS_CLUB": TestCard("DINERS_CLUB", "361234", "0001"),
}


class ScriptError(ValueError):
    """A script field is invalid; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class CustomerScript:
    """What the customer does during one transaction (see the module docstring)."""

    card: str = "VISA"
    entry: str = "EMV_CONTACT"
    tip: int | None = None
    signature: bool = False
    challenge: ChallengeName | None = None
    outcome: Outcome = "approve"
    partial_amount: int | None = None
    stage: Stage = "card_read"
    human: bool = False

    @property
    def test_card(self) -> TestCard:
        return CARDS[self.card]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> CustomerScript:
        """Parse a control-API body; unknown or bad fields raise :class:`ScriptError`."""
        known = set(cls.__dataclass_fields__)
        for name in body:
            if name not in known and name != "count":
                raise ScriptError(name, "unknown field")
        kwargs: dict[str, Any] = {}
        if "card" in body:
            card = body["card"]
            if not isinstance(card, str) or card.upper() not in CARDS:
                raise ScriptError("card", f"must be one of {sorted(CARDS)}")
            kwargs["card"] = card.upper()
        if "entry" in body:
            entry = body["entry"]
            if not isinstance(entry, str) or entry.upper() not in ENTRY_TYPES:
                raise ScriptError("entry", f"must be one of {sorted(ENTRY_TYPES)}")
            kwargs["entry"] = entry.upper()
        for name in ("tip", "partial_amount"):
            if body.get(name) is not None:
                value = body[name]
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise ScriptError(name, "must be a non-negative integer (cents)")
                kwargs[name] = value
        for name in ("signature", "human"):
            if name in body:
                if not isinstance(body[name], bool):
                    raise ScriptError(name, "must be true or false")
                kwargs[name] = body[name]
        if body.get("challenge") is not None:
            challenge = body["challenge"]
            if not isinstance(challenge, str) or challenge not in ("DUPLICATE", "OFFLINE"):
                raise ScriptError("challenge", "must be DUPLICATE, OFFLINE or null")
            kwargs["challenge"] = challenge
        if "outcome" in body:
            if not isinstance(body["outcome"], str) or body["outcome"] not in OUTCOMES:
                raise ScriptError("outcome", f"must be one of {sorted(OUTCOMES)}")
            kwargs["outcome"] = body["outcome"]
        if "stage" in body:
            if not isinstance(body["stage"], str) or body["stage"] not in (
                "card_read",
                "after_auth",
            ):
                raise ScriptError("stage", "must be card_read or after_auth")
            kwargs["stage"] = body["stage"]
        return cls(**kwargs)


DEFAULT_SCRIPT: Final = CustomerScript()
