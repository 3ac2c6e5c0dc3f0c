"""The Jinja2 environment shared by the pay pages and the dashboard."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.templating import Jinja2Templates

from cloverpay.service.web._security_headers import sri

__all__ = ["money", "templates"]

_DIRS = [
    str(Path(__file__).parent / "templates"),
    str(Path(__file__).parent.parent / "dashboard" / "templates"),
]


def money(cents: int | None, currency: str = "usd") -> str:
    value = (cents or 0) / 100
    symbol = {"usd": "$", "eur": "€", "gbp": "£", "cad": "CA$"}.get(currency.lower(), "")
    text = f"{symbol}{value:,.2f}"
    return text if symbol else f"{text} {currency.upper()}"


templates = Jinja2Templates(directory=_DIRS)
templates.env.globals["sri"] = sri
templates.env.filters["money"] = money
templates.env.filters["fromjson"] = json.loads
