"""The web side of the service: signed pay links, the hosted pay page with Clover's
card iframe (or a Hosted Checkout redirect, per merchant), and the tables they use.

:func:`install_web` adds the pay routes and static files to the service's app.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from cloverpay.service.db.models_web import (
    PAY_FLOWS,
    CheckoutLink,
    EmailDelivery,
    MerchantWebSettings,
    StaffUser,
)
from cloverpay.service.web._links import LinkError, PayLink, sign_link, verify_link
from cloverpay.service.web._pay import PayOutcome, PaySubmission, submit_payment
from cloverpay.service.web._security_headers import STATIC_DIR, csp_header, origin_of, sri
from cloverpay.service.web._send import SentLink, pay_link_for, send_pay_link
from cloverpay.service.web._settings import (
    CLOVER_SDK_URLS,
    WebSettings,
    pay_link_key,
    session_key,
)

__all__ = [
    "CLOVER_SDK_URLS",
    "PAY_FLOWS",
    "STATIC_DIR",
    "CheckoutLink",
    "EmailDelivery",
    "LinkError",
    "MerchantWebSettings",
    "PayLink",
    "PayOutcome",
    "PaySubmission",
    "SentLink",
    "StaffUser",
    "WebSettings",
    "csp_header",
    "install_web",
    "origin_of",
    "pay_link_for",
    "pay_link_key",
    "send_pay_link",
    "session_key",
    "sign_link",
    "sri",
    "submit_payment",
    "verify_link",
]


def install_web(app: FastAPI, web: WebSettings | None = None) -> None:
    """Pay pages, the staff dashboard and their static files. ``web`` defaults to the
    environment's settings; replace ``app.state.web`` to change them later."""
    from cloverpay.service.dashboard import install_handlers
    from cloverpay.service.dashboard import router as dashboard_router
    from cloverpay.service.web._routes_pay import router as pay_router

    app.state.web = web or WebSettings()
    app.mount("/static/web", StaticFiles(directory=STATIC_DIR), name="web-static")
    app.include_router(pay_router)
    app.include_router(dashboard_router)
    install_handlers(app)
