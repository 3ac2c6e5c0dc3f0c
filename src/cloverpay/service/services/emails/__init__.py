"""The emails the service sends to payers, rendered once for the outbox.

Every payer email (pay link, payment / refund / void receipts, subscription notices) is
two Jinja2 templates in this folder, ``<name>.txt`` and ``<name>.html``, rendered by
:func:`render_email` from the same facts, and queued as one outbox payload
(:func:`email_payload`): ``{"to", "subject", "text", "html", ...facts}``. The email
worker (``outbox_email``) sends ``text`` as ``text/plain`` and, when the payload has
``html``, adds it as the ``text/html`` alternative (``multipart/alternative``); a payload
queued before HTML existed has ``text`` only and is sent as plain text.

The HTML templates are autoescaped (anything a merchant or a payer typed, or Clover
said, comes out as text), styled inline on a table layout (many email clients drop
``<style>`` blocks), and load nothing: no scripts, no images, no fonts, no external
stylesheets. The plain-text templates are not escaped: they are plain text.

What a payer sees is rendered when the email is queued, not when it is sent, so what
the outbox shows is what goes out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

__all__ = [
    "EmailContent",
    "card_brand_name",
    "email_payload",
    "format_money",
    "render_email",
    "render_or_skip",
]

log = logging.getLogger("cloverpay.emails")


def format_money(cents: int | None, currency: str = "usd") -> str:
    value = (cents or 0) / 100
    symbol = {"usd": "$", "eur": "€", "gbp": "£", "cad": "CA$"}.get(currency.lower(), "")
    text = f"{symbol}{value:,.2f}"
    return text if symbol else f"{text} {currency.upper()}"


#: Clover's card brand codes (``cardType`` / ``brand``) as people write them.
_BRANDS = {
    "VISA": "Visa",
    "MC": "Mastercard",
    "MASTERCARD": "Mastercard",
    "AMEX": "American Express",
    "DISCOVER": "Discover",
    "DINERS_CLUB": "Diners Club",
    "JCB": "JCB",
    "UNIONPAY": "UnionPay",
    "CHINA_UNION_PAY": "UnionPay",
    "MAESTRO": "Maestro",
    "INTERAC": "Interac",
    "EBT": "EBT",
}


def card_brand_name(brand: str | None) -> str:
    """``MC`` → ``Mastercard``; an unknown code in words (``GIFT_CARD`` → ``Gift Card``);
    no brand → ``Card``."""
    if not brand:
        return "Card"
    code = brand.strip().upper()
    return _BRANDS.get(code) or code.replace("_", " ").title()


_env = Environment(
    loader=FileSystemLoader(str(Path(__file__).parent)),
    undefined=StrictUndefined,
    autoescape=select_autoescape(["html"]),  # the .txt parts are plain text
    keep_trailing_newline=True,
)
_env.filters["money"] = format_money
_env.filters["brand"] = card_brand_name


@dataclass(frozen=True, slots=True)
class EmailContent:
    """The two parts of one email."""

    text: str
    html: str


def render_email(name: str, data: Mapping[str, Any]) -> EmailContent:
    """Render ``<name>.txt`` and ``<name>.html`` from the same ``data``. Raises on a
    template error or a missing fact (undefined names are errors)."""
    return EmailContent(
        text=_env.get_template(f"{name}.txt").render(**data),
        html=_env.get_template(f"{name}.html").render(**data),
    )


def render_or_skip(name: str, data: Mapping[str, Any]) -> EmailContent | None:
    """:func:`render_email`, for an email that must never cost the recording it belongs
    to (a receipt, a billing notice): a template error is logged and None returned."""
    try:
        return render_email(name, data)
    except Exception:
        log.exception("email %s could not be rendered; not queued", name)
        return None


def email_payload(*, to: str, subject: str, content: EmailContent, **facts: Any) -> dict[str, Any]:
    """The outbox payload of an email: recipient, subject, both parts, and the facts it
    is about (ids, shown on the Outbox page and useful to whoever reads the row)."""
    return {"to": to, "subject": subject, "text": content.text, "html": content.html, **facts}
