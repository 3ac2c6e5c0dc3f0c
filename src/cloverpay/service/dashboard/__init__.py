"""The staff dashboard: server-rendered pages over the core's units of work.

``router`` holds every page; :func:`cloverpay.service.web.install_web` includes it and
installs :func:`install_handlers` (login redirects, CSRF refusals).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cloverpay.service.dashboard._auth import (
    SESSION_COOKIE,
    LoginRequired,
    StaffSession,
    authenticate_staff,
    create_staff_user,
    hash_password,
    read_session,
    sign_session,
    verify_password,
)
from cloverpay.service.dashboard._common import CsrfError
from cloverpay.service.dashboard._report import (
    DayRow,
    FeeRate,
    daily_report,
    report_csv,
    report_svg,
)
from cloverpay.service.dashboard._routes import router as _main
from cloverpay.service.dashboard._routes_more import router as _more
from cloverpay.service.dashboard._routes_outbox import router as _outbox
from cloverpay.service.dashboard._routes_reports import router as _reports
from cloverpay.service.dashboard._routes_settings import router as _settings
from cloverpay.service.dashboard._routes_subscriptions import router as _subscriptions
from cloverpay.service.dashboard._routes_terminals import router as _terminals
from cloverpay.service.dashboard._routes_webhooks import router as _webhooks

__all__ = [
    "SESSION_COOKIE",
    "CsrfError",
    "DayRow",
    "FeeRate",
    "LoginRequired",
    "StaffSession",
    "authenticate_staff",
    "create_staff_user",
    "daily_report",
    "hash_password",
    "install_handlers",
    "read_session",
    "report_csv",
    "report_svg",
    "router",
    "sign_session",
    "verify_password",
]

router = APIRouter()
router.include_router(_main)
router.include_router(_more)
router.include_router(_outbox)
router.include_router(_reports)
router.include_router(_settings)
router.include_router(_subscriptions)
router.include_router(_terminals)
router.include_router(_webhooks)


def install_handlers(app: FastAPI) -> None:
    async def _login(request: Request, exc: Exception) -> Response:
        return RedirectResponse("/dashboard/login", status_code=303)

    async def _csrf(request: Request, exc: Exception) -> Response:
        return HTMLResponse(
            "<h1>Forbidden</h1><p>The form was stale or not sent from the dashboard "
            "(missing CSRF token). Go back, reload the page and try again.</p>",
            status_code=403,
        )

    app.add_exception_handler(LoginRequired, _login)
    app.add_exception_handler(CsrfError, _csrf)
