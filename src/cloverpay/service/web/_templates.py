"""The Jinja2 environment shared by the pay pages and the dashboard.

Amounts are formatted by the payer emails' ``money`` filter
(:func:`cloverpay.service.services.emails.format_money`): a page and an email show an
amount the same way.
"""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.templating import Jinja2Templates

from cloverpay.service.services.emails import card_brand_name, format_money
from cloverpay.service.web._security_headers import sri

__all__ = ["templates"]

_DIRS = [
    str(Path(__file__).parent / "templates"),
    str(Path(__file__).parent.parent / "dashboard" / "templates"),
]

templates = Jinja2Templates(directory=_DIRS)
templates.env.globals["sri"] = sri
templates.env.filters["money"] = format_money
templates.env.filters["brand"] = card_brand_name
templates.env.filters["fromjson"] = json.loads
