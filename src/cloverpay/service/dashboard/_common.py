"""What every dashboard route uses: the staff session dependency, CSRF checks, pages."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse

from cloverpay.service.dashboard._auth import (
    SESSION_COOKIE,
    LoginRequired,
    StaffSession,
    read_session,
)
from cloverpay.service.db import Merchant
from cloverpay.service.db.models_web import StaffUser
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.web._security_headers import csp_header
from cloverpay.service.web._settings import WebSettings, session_key
from cloverpay.service.web._templates import templates

__all__ = ["Csrf", "Ctx", "Staff", "Web", "page"]


def get_ctx(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


def get_web(request: Request) -> WebSettings:
    web: WebSettings = request.app.state.web
    return web


Ctx = Annotated[ServiceContext, Depends(get_ctx)]
Web = Annotated[WebSettings, Depends(get_web)]


def get_staff(request: Request, ctx: Ctx) -> StaffSession:
    staff = read_session(session_key(ctx.settings), request.cookies.get(SESSION_COOKIE))
    with ctx.sessions() as s:
        user = s.get(StaffUser, staff.user_id)
        if user is None or user.disabled_at is not None:
            raise LoginRequired()
    return staff


Staff = Annotated[StaffSession, Depends(get_staff)]


class CsrfError(Exception):
    """A dashboard POST without the session's CSRF token."""


def check_csrf(staff: Staff, csrf_token: Annotated[str, Form()] = "") -> StaffSession:
    if not csrf_token or not hmac.compare_digest(csrf_token, staff.csrf):
        raise CsrfError()
    return staff


Csrf = Annotated[StaffSession, Depends(check_csrf)]


def page(
    request: Request,
    name: str,
    staff: StaffSession | None,
    context: dict[str, Any],
    *,
    status: int = 200,
    form_targets: tuple[str, ...] = (),
) -> HTMLResponse:
    """``form_targets``: origins a form of the page may end up at besides ours (a form
    whose answer redirects elsewhere, such as Clover's authorize page, is held to the
    policy's ``form-action`` through the redirect)."""
    ctx = get_ctx(request)
    merchant = None
    if staff is not None:
        with ctx.sessions() as s:
            merchant = s.get(Merchant, staff.merchant_id)
    full = {
        "staff": staff,
        "merchant": merchant,
        "csrf": staff.csrf if staff else "",
        "msg": request.query_params.get("msg", "")[:300],
        "err": request.query_params.get("err", "")[:300],
        "section": name.split("_")[0].split(".")[0],
        **context,
    }
    response = templates.TemplateResponse(request, name, full, status_code=status)
    response.headers["Content-Security-Policy"] = csp_header(
        clover_origin=None, form_targets=form_targets
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response
