"""OAuth v2 routes (spec §3) and their control API.

==================================  ==================================================
``GET  /oauth/v2/authorize``         approval page; ``?sandbox_auto_approve=true`` (or the
                                     ``auto_approve`` setting) redirects at once
``POST /oauth/v2/authorize``         the page's Approve / Deny form
``POST /oauth/v2/token``             code exchange (``client_secret`` or ``code_verifier``;
                                     ``?no_refresh_token=true``)
``POST /oauth/v2/refresh``           single-use refresh rotation
``GET/POST /_sandbox/oauth/settings`` lifetimes, refresh-token cap, auto-approve
``POST /_sandbox/oauth/apps``        register another app ``{client_id?, client_secret?,
                                     redirect_uris?}``
``GET  /oauth/authorize``            legacy flow (same page; codes for ``/oauth/token``)
``GET  /oauth/token``                legacy exchange ``?client_id&client_secret&code`` ->
                                     ``{"access_token"}`` that never expires
``POST /oauth/token/migrate_v2``     ``{client_id, client_secret, access_token}``: legacy
                                     token -> v2 pair, legacy token revoked ([G] body)
==================================  ==================================================

Every merchant's own ``app_id``/``app_secret`` is a registered app. Access tokens issued
here are accepted as bearer tokens on every route until they expire on the sandbox clock.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .._auth import state_of
from .._http import json_body, json_response
from .._oauth import OAuthApp, OAuthError, OAuthStore
from .._state import Merchant, SandboxState
from ._web import api_error, form_body, render

__all__ = ["oauth_store", "routes"]

_AUTHORIZE_PARAMS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "state",
    "merchant_id",
    "code_challenge",
    "code_challenge_method",
)


def oauth_store(state: SandboxState) -> OAuthStore:
    """The OAuth store, with every merchant's own app registered."""
    store = state.domain(OAuthStore)
    for merchant in list(state.merchants.values()):
        if merchant.app_id not in store.apps:
            store.register_app(merchant.app_id, merchant.app_secret)
    return store


def _fail(exc: OAuthError) -> Exception:
    return api_error(exc.status, exc.message, "unauthorized" if exc.status == 401 else "invalid")


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&{urlencode(params)}" if parts.query else urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _merchant(state: SandboxState, merchant_id: str | None) -> Merchant:
    if not merchant_id:
        return state.merchant
    merchant = state.merchants.get(merchant_id)
    if merchant is None:
        raise api_error(400, f"merchant_id {merchant_id} is not a sandbox merchant")
    return merchant


def _check(state: SandboxState, params: dict[str, str]) -> tuple[OAuthApp, Merchant]:
    store = oauth_store(state)
    try:
        app = store.check_authorize(params.get("client_id", ""), params.get("redirect_uri", ""))
    except OAuthError as exc:
        raise _fail(exc) from None
    response_type = params.get("response_type")
    if response_type not in (None, "", "code"):
        raise api_error(400, "response_type must be code")
    return app, _merchant(state, params.get("merchant_id"))


def _approve(state: SandboxState, params: dict[str, str], merchant: Merchant) -> Response:
    store = oauth_store(state)
    with state.lock:
        try:
            code = store.issue_code(
                client_id=params["client_id"],
                merchant_id=merchant.merchant_id,
                redirect_uri=params["redirect_uri"],
                now=state.clock.now_s(),
                code_challenge=params.get("code_challenge") or None,
                code_challenge_method=params.get("code_challenge_method") or None,
            )
        except OAuthError as exc:
            raise _fail(exc) from None
    query = {"merchant_id": merchant.merchant_id, "client_id": params["client_id"], "code": code}
    if params.get("state"):
        query["state"] = params["state"]
    return RedirectResponse(_with_query(params["redirect_uri"], query), status_code=302)


async def authorize_page(request: Request) -> Response:
    state = state_of(request)
    params = {k: v for k, v in request.query_params.items() if k in _AUTHORIZE_PARAMS}
    _, merchant = _check(state, params)
    auto = request.query_params.get("sandbox_auto_approve", "").lower() in ("1", "true", "yes")
    if auto or oauth_store(state).settings.auto_approve:
        return _approve(state, params, merchant)
    # No merchant_id and several merchants: the person picks one (Clover's merchant picker).
    choices = [] if params.get("merchant_id") else list(state.merchants.values())
    hidden = {k: v for k, v in params.items() if k != "merchant_id"}
    if len(choices) <= 1:
        choices = []
        hidden["merchant_id"] = merchant.merchant_id
    html = render(
        "authorize.html",
        client_id=params.get("client_id", ""),
        merchant_id=merchant.merchant_id,
        merchant_name=merchant.name,
        choices=[(m.merchant_id, m.name) for m in choices],
        params=hidden,
    )
    return HTMLResponse(html, headers={"x-frame-options": "DENY", "cache-control": "no-store"})


async def authorize_decision(request: Request) -> Response:
    state = state_of(request)
    form = await form_body(request)
    params = {k: v for k, v in form.items() if k in _AUTHORIZE_PARAMS}
    _, merchant = _check(state, params)
    if form.get("decision") != "approve":
        query = {"error": "access_denied"}
        if params.get("state"):
            query["state"] = params["state"]
        return RedirectResponse(_with_query(params["redirect_uri"], query), status_code=302)
    return _approve(state, params, merchant)


def _str_field(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise api_error(400, f"{name} must be a string")
    return value


def _register_tokens(state: SandboxState, merchant_id: str, body: dict[str, Any]) -> None:
    state.add_access_token(
        body["access_token"], merchant_id, expires_s=body["access_token_expiration"]
    )


async def token(request: Request) -> Response:
    state = state_of(request)
    body = json_body(request)
    no_refresh = request.query_params.get("no_refresh_token", "").lower() == "true"
    store = oauth_store(state)
    with state.lock:
        try:
            pair, merchant_id = store.exchange_code(
                client_id=_str_field(body, "client_id") or "",
                code=_str_field(body, "code") or "",
                client_secret=_str_field(body, "client_secret"),
                code_verifier=_str_field(body, "code_verifier"),
                now=state.clock.now_s(),
                with_refresh=not no_refresh,
            )
        except OAuthError as exc:
            raise _fail(exc) from None
        payload = pair.to_json()
        _register_tokens(state, merchant_id, payload)
    return json_response(payload)


async def refresh(request: Request) -> Response:
    state = state_of(request)
    body = json_body(request)
    store = oauth_store(state)
    with state.lock:
        try:
            pair = store.refresh_pair(
                client_id=_str_field(body, "client_id") or "",
                refresh_token=_str_field(body, "refresh_token") or "",
                now=state.clock.now_s(),
            )
        except OAuthError as exc:
            raise _fail(exc) from None
        grant = store.access[pair.access_token]
        payload = pair.to_json()
        _register_tokens(state, grant.merchant_id, payload)
    return json_response(payload)


async def legacy_token(request: Request) -> Response:
    state = state_of(request)
    q = request.query_params
    store = oauth_store(state)
    with state.lock:
        try:
            token = store.exchange_legacy(
                client_id=q.get("client_id", ""),
                client_secret=q.get("client_secret", ""),
                code=q.get("code", ""),
                now=state.clock.now_s(),
            )
        except OAuthError as exc:
            raise _fail(exc) from None
        state.add_access_token(token, store.access[token].merchant_id)
    return json_response({"access_token": token})


async def migrate_v2(request: Request) -> Response:
    state = state_of(request)
    body = json_body(request)
    store = oauth_store(state)
    with state.lock:
        legacy = _str_field(body, "access_token") or ""
        try:
            pair = store.migrate_legacy(
                client_id=_str_field(body, "client_id") or "",
                client_secret=_str_field(body, "client_secret") or "",
                access_token=legacy,
                now=state.clock.now_s(),
            )
        except OAuthError as exc:
            raise _fail(exc) from None
        state.revoke_access_token(legacy)
        payload = pair.to_json()
        _register_tokens(state, store.access[pair.access_token].merchant_id, payload)
    return json_response(payload)


_SETTINGS_INT = ("access_token_ttl", "refresh_token_ttl", "code_ttl", "max_active_refresh_tokens")


def _settings_json(store: OAuthStore) -> dict[str, Any]:
    s = store.settings
    return {name: getattr(s, name) for name in (*_SETTINGS_INT, "auto_approve")}


async def settings_get(request: Request) -> Response:
    return json_response(_settings_json(oauth_store(state_of(request))))


async def settings_set(request: Request) -> Response:
    store = oauth_store(state_of(request))
    body = json_body(request)
    for name, value in body.items():
        if name in _SETTINGS_INT:
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise api_error(400, f"{name} must be a positive integer")
        elif name == "auto_approve":
            if not isinstance(value, bool):
                raise api_error(400, "auto_approve must be true or false")
        else:
            raise api_error(400, f"{name} is not an OAuth setting")
    for name, value in body.items():
        setattr(store.settings, name, value)
    return json_response(_settings_json(store))


async def apps_add(request: Request) -> Response:
    state = state_of(request)
    body = json_body(request)
    client_id = _str_field(body, "client_id") or state.ids.clover_id()
    secret = _str_field(body, "client_secret")
    uris = body.get("redirect_uris", [])
    if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
        raise api_error(400, "redirect_uris must be a list of strings")
    app = oauth_store(state).register_app(client_id, secret, uris)
    return json_response(
        {
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "redirect_uris": app.redirect_uris,
        }
    )


routes: list[BaseRoute] = [
    Route("/oauth/v2/authorize", authorize_page, methods=["GET"]),
    Route("/oauth/v2/authorize", authorize_decision, methods=["POST"]),
    Route("/oauth/v2/token", token, methods=["POST"]),
    Route("/oauth/v2/refresh", refresh, methods=["POST"]),
    Route("/oauth/authorize", authorize_page, methods=["GET"]),
    Route("/oauth/token", legacy_token, methods=["GET"]),
    Route("/oauth/token/migrate_v2", migrate_v2, methods=["POST"]),
    Route("/_sandbox/oauth/settings", settings_get, methods=["GET"]),
    Route("/_sandbox/oauth/settings", settings_set, methods=["POST"]),
    Route("/_sandbox/oauth/apps", apps_add, methods=["POST"]),
]
