"""Connecting a Clover merchant through OAuth v2 (browser endpoints, not in the schema).

``GET /oauth/connect`` stores a state (and PKCE verifier), sets the state in a cookie and
redirects to Clover's authorize page; ``?merchant_id=`` pre-selects the Clover merchant.
``GET /oauth/callback`` is the app's redirect URL: it checks the state, exchanges the
code, stores the tokens encrypted and shows the result (a new merchant's API key, once).
A callback without a state (Clover's App Market started the install) starts a flow of
our own for the same merchant. See docs/service.md, "Connecting merchants".
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cloverpay.service.api.deps import Ctx
from cloverpay.service.errors import InvalidRequest, ServiceError
from cloverpay.service.services.oauth_connect import (
    STATE_TTL,
    StateMissing,
    complete_connect,
    start_connect,
)
from cloverpay.service.web._security_headers import csp_header
from cloverpay.service.web._templates import templates

__all__ = ["STATE_COOKIE", "redirect_uri_for", "router", "set_state_cookie"]

router = APIRouter(include_in_schema=False)

STATE_COOKIE = "cloverpay_oauth_state"


def redirect_uri_for(request: Request) -> str:
    ctx = request.app.state.ctx
    if ctx.settings.oauth_redirect_url:
        return str(ctx.settings.oauth_redirect_url)
    web = getattr(request.app.state, "web", None)
    public = web.public_url if web is not None else str(request.base_url)
    return str(public).rstrip("/") + "/oauth/callback"


def _secure(request: Request) -> bool:
    web = getattr(request.app.state, "web", None)
    return bool(web.secure_cookies) if web is not None else False


def _page(request: Request, status: int, **context: object) -> HTMLResponse:
    response = templates.TemplateResponse(
        request, "oauth_result.html", {"merchant": None, **context}, status_code=status
    )
    response.headers["Content-Security-Policy"] = csp_header(clover_origin=None)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    return response


@router.get("/oauth/connect")
def oauth_connect(
    request: Request,
    ctx: Ctx,
    merchant_id: Annotated[str | None, Query(max_length=32, pattern=r"^[A-Za-z0-9]+$")] = None,
) -> Response:
    try:
        start = start_connect(
            ctx,
            redirect_uri=redirect_uri_for(request),
            actor="anonymous",
            clover_merchant_id=merchant_id,
        )
    except InvalidRequest as exc:
        return _page(
            request,
            503 if exc.code == "oauth_not_configured" else 400,
            ok=False,
            message=exc.message,
        )
    response = RedirectResponse(start.url, status_code=302)
    set_state_cookie(request, response, start.state)
    return response


def set_state_cookie(request: Request, response: Response, state: str) -> None:
    response.set_cookie(
        STATE_COOKIE,
        state,
        max_age=int(STATE_TTL.total_seconds()),
        path="/oauth",
        httponly=True,
        samesite="lax",  # sent on Clover's top-level redirect back to us
        secure=_secure(request),
    )


@router.get("/oauth/callback")
def oauth_callback(request: Request, ctx: Ctx) -> Response:
    params = dict(request.query_params)
    try:
        result = complete_connect(ctx, params, browser_state=request.cookies.get(STATE_COOKIE))
    except StateMissing:
        mid = params.get("merchant_id", "")
        target = "/oauth/connect" + (f"?merchant_id={mid}" if mid.isalnum() else "")
        return RedirectResponse(target, status_code=302)
    except ServiceError as exc:  # a refused code, or Clover out of reach (502)
        response: Response = _page(request, exc.status, ok=False, message=exc.message)
    else:
        response = _page(
            request,
            200,
            ok=True,
            merchant=result.merchant,
            api_key=result.api_key.secret if result.api_key else None,
            pakms_stored=result.pakms_stored,
        )
    response.delete_cookie(STATE_COOKIE, path="/oauth")
    return response
