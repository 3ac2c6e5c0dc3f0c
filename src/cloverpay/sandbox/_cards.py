"""Sandbox test cards: what happens when a card is charged.

The outcome is decided when the card is tokenized (the token keeps it; the card number
itself is never stored) and applied when the token is charged.

Clover's documented sandbox cards (spec §14):

=====================  ===========  =============================================
number                 brand        charge result
=====================  ===========  =============================================
4242424242424242       VISA         approved
6011361000006668       DISCOVER     approved
4005578003333335       VISA         partial approval -> declined (``partial_approval``);
                                    the Ecommerce API declines partial auths
4005571702222222       VISA         declined (``generic_decline``)
375987654000004        AMEX         declined (``generic_decline``)
5424180273333333       MC           declined (``generic_decline``)
4264281511117771       VISA         declined (``generic_decline``)
378282246310005,       AMEX         approved
371449635398431
30569309025904,        DINERS_CLUB  approved
38520000023237
6011000990139424       DISCOVER     approved
3566002020360505       JCB          approved
4000056655665556       VISA         approved (debit)
4761530001111126,      various      approved, AVS match
5204245250003294,
375186917371340,
6011000050617475
=====================  ===========  =============================================

cloverpay's own extra cards, one per decline code (``code: card_declined`` with this
``decline_code``; Clover documents no decline codes, these follow Stripe's names [G]):

=====================  ==========================
4000000000000002       ``generic_decline``
4000000000009995       ``insufficient_funds``
4000000000009987       ``lost_card``
4000000000009979       ``stolen_card``
4000000000000069       ``expired_card``
4000000000000127       ``incorrect_cvc`` (``cvc_check: fail``)
4000000000000119       ``processing_error``
4000000000000036       ``do_not_honor``
4100000000000019       ``fraudulent``
4000000000000044       ``pickup_card``
4000000000000077       ``transaction_not_allowed``
=====================  ==========================

Any other Luhn-valid number of a known brand is approved.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BRANDS", "TEST_CARDS", "CardOutcome", "card_brand", "luhn_valid", "outcome_for"]

BRANDS: tuple[str, ...] = ("VISA", "MC", "AMEX", "DISCOVER", "DINERS_CLUB", "JCB")


@dataclass(frozen=True, slots=True)
class CardOutcome:
    """``decline_code is None`` means approved."""

    decline_code: str | None = None
    message: str = "Approved"
    cvc_check: str = "pass"

    @property
    def approved(self) -> bool:
        return self.decline_code is None


_APPROVED = CardOutcome()


def _decline(code: str, message: str, cvc_check: str = "pass") -> CardOutcome:
    return CardOutcome(code, message, cvc_check)


_GENERIC = _decline("generic_decline", "The card was declined.")

TEST_CARDS: dict[str, CardOutcome] = {
    "4242424242424242": _APPROVED,
    "6011361000006668": _APPROVED,
    "4005578003333335": _decline(
        "partial_approval",
        "The card was declined: partial approvals are not supported by the Ecommerce API.",
    ),
    "4005571702222222": _GENERIC,
    "375987654000004": _GENERIC,
    "5424180273333333": _GENERIC,
    "4264281511117771": _GENERIC,
    "378282246310005": _APPROVED,
    "371449635398431": _APPROVED,
    "30569309025904": _APPROVED,
    "38520000023237": _APPROVED,
    "6011000990139424": _APPROVED,
    "3566002020360505": _APPROVED,
    "4000056655665556": _APPROVED,
    "4761530001111126": _APPROVED,
    "5204245250003294": _APPROVED,
    "375186917371340": _APPROVED,
    "6011000050617475": _APPROVED,
    # cloverpay extras, one per decline code
    "4000000000000002": _GENERIC,
    "4000000000009995": _decline("insufficient_funds", "The card has insufficient funds."),
    "4000000000009987": _decline("lost_card", "The card was reported lost."),
    "4000000000009979": _decline("stolen_card", "The card was reported stolen."),
    "4000000000000069": _decline("expired_card", "The card has expired."),
    "4000000000000127": _decline("incorrect_cvc", "The card's security code is incorrect.", "fail"),
    "4000000000000119": _decline(
        "processing_error", "An error occurred while processing the card."
    ),
    "4000000000000036": _decline("do_not_honor", "The card was declined: do not honor."),
    "4100000000000019": _decline("fraudulent", "The payment was declined as fraudulent."),
    "4000000000000044": _decline("pickup_card", "The card was declined: pick up card."),
    "4000000000000077": _decline(
        "transaction_not_allowed", "The card does not allow this transaction."
    ),
}


def luhn_valid(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card_brand(number: str) -> str | None:
    """Brand from the PAN's prefix, in Clover's enum; ``None`` if unknown."""
    if number.startswith("4"):
        return "VISA"
    p2, p3, p4, p6 = int(number[:2]), int(number[:3]), int(number[:4]), int(number[:6])
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return "MC"
    if p2 in (34, 37):
        return "AMEX"
    if p4 == 6011 or p2 == 65 or 644 <= p3 <= 649 or 622126 <= p6 <= 622925:
        return "DISCOVER"
    if 300 <= p3 <= 305 or p2 in (36, 38, 39) or p4 == 3095:
        return "DINERS_CLUB"
    if 3528 <= p4 <= 3589:
        return "JCB"
    return None


def outcome_for(number: str) -> CardOutcome:
    return TEST_CARDS.get(number, _APPROVED)
