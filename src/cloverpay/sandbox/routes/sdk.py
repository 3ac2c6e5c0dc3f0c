"""The iframe SDK stand-in (spec §15).

==============================  ====================================================
``GET /sdk.js``                  ``window.Clover`` with Clover's public API
``GET /iframe/element?type=…``   one hosted card field (an ``<input>`` in an iframe)
``GET /iframe/element.js``       the field's script
==============================  ====================================================

The field page may be framed by any site (it is the point of it), so it sends no
``X-Frame-Options``; it never sends card data anywhere but the sandbox's ``/v1/tokens``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from ._web import api_error, render, static_text

__all__ = ["ELEMENT_TYPES", "routes"]

ELEMENT_TYPES = {
    "CARD_NUMBER": "Card number",
    "CARD_DATE": "Expiry date",
    "CARD_CVV": "CVV",
    "CARD_POSTAL_CODE": "Postal code",
    "CARD_NAME": "Name on card",
    "CARD_STREET_ADDRESS": "Street address",
}

_JS_HEADERS = {"cache-control": "no-cache", "access-control-allow-origin": "*"}


async def sdk_js(request: Request) -> Response:
    return Response(static_text("sdk.js"), media_type="application/javascript", headers=_JS_HEADERS)


async def element_js(request: Request) -> Response:
    return Response(
        static_text("element.js"), media_type="application/javascript", headers=_JS_HEADERS
    )


async def element(request: Request) -> Response:
    kind = request.query_params.get("type", "")
    label = ELEMENT_TYPES.get(kind)
    if label is None:
        raise api_error(400, f"type must be one of {', '.join(ELEMENT_TYPES)}")
    return HTMLResponse(
        render("element.html", label=label),
        headers={
            "cache-control": "no-store",
            "referrer-policy": "no-referrer",
            # card data may only go to this origin's /v1/tokens; any site may frame it
            "content-security-policy": "default-src 'none'; script-src 'self'; "
            "style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors *",
        },
    )


routes: list[BaseRoute] = [
    Route("/sdk.js", sdk_js, methods=["GET"]),
    Route("/iframe/element", element, methods=["GET"]),
    Route("/iframe/element.js", element_js, methods=["GET"]),
]
