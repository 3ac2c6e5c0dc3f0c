"""Connecting a Clover merchant through OAuth v2: start (state + PKCE) and finish (code
exchange, tokens stored encrypted, PAKMS key fetched once).

Start (:func:`start_connect`): a random ``state`` goes to the browser (a cookie) and to
Clover (the authorize URL); its sha256 and the PKCE verifier (encrypted) go to
``oauth_connect_states`` with a 10-minute expiry, so any service process can finish.

Finish (:func:`complete_connect`): the callback's ``state`` must equal the browser's
cookie (the callback was started in this browser: no login CSRF) and name a stored,
unexpired, unused state (single use, marked in the row before the exchange). Then the
code is exchanged (client secret for a high-trust app, PKCE verifier when one was
sent), and one transaction creates the merchant (or replaces its tokens), writes its
audit row and, for a new merchant, its first API key (the secret is shown once). A
reconnect started by a merchant's staff must come back for that same Clover merchant.
The PAKMS key and the merchant's name are fetched after the commit; a failure there is
logged and retried later (the pay page fetches the PAKMS key when it is missing).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import httpx
from sqlalchemy import delete, select

from cloverpay.api import (
    PKCE,
    CloverError,
    OAuthClient,
    OAuthError,
    OAuthToken,
    parse_authorize_callback,
)
from cloverpay.api import authorize_url as clover_authorize_url
from cloverpay.service.core.security import ApiKey, generate_api_key
from cloverpay.service.db import ApiKeyRow, Merchant, OAuthConnectState
from cloverpay.service.errors import InvalidRequest, UpstreamError
from cloverpay.service.gateway import oauth_hosts
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.merchants import ensure_pakms_key
from cloverpay.service.services.oauth_store import token_columns
from cloverpay.service.services.records import add_audit

__all__ = [
    "STATE_TTL",
    "ConnectResult",
    "ConnectStart",
    "StateMissing",
    "complete_connect",
    "start_connect",
]

log = logging.getLogger("cloverpay.service.oauth")

STATE_TTL = timedelta(minutes=10)


class StateMissing(InvalidRequest):
    """The callback carries no ``state``: Clover started the flow (an App Market install).
    The caller starts a flow of its own for that merchant."""

    code = "oauth_state_missing"


@dataclass(frozen=True, slots=True)
class ConnectStart:
    url: str
    state: str

    def __repr__(self) -> str:
        return "ConnectStart(url=<authorize url>, state=<hidden>)"


@dataclass(frozen=True, slots=True)
class ConnectResult:
    merchant: Merchant
    created: bool
    #: A new merchant's first API key (its secret shown once); None on a reconnect.
    api_key: ApiKey | None
    pakms_stored: bool


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def _app_id(ctx: ServiceContext) -> str:
    app_id = ctx.settings.clover_app_id
    if not app_id:
        raise InvalidRequest(
            "OAuth is not configured: set CLOVERPAY_CLOVER_APP_ID (and the app secret)",
            code="oauth_not_configured",
        )
    return app_id


def start_connect(
    ctx: ServiceContext,
    *,
    redirect_uri: str,
    actor: str,
    merchant: Merchant | None = None,
    clover_merchant_id: str | None = None,
) -> ConnectStart:
    """Store a fresh state (and PKCE verifier) and build Clover's authorize URL.
    ``merchant`` is set when its staff reconnect it (the callback must match it);
    ``clover_merchant_id`` pre-selects the merchant on Clover's page."""
    app_id = _app_id(ctx)
    state = secrets.token_urlsafe(32)
    pkce = PKCE.generate() if ctx.settings.clover_oauth_pkce else None
    if pkce is None and ctx.settings.clover_app_secret is None:
        raise InvalidRequest(
            "a low-trust app (no app secret) needs PKCE: set CLOVERPAY_CLOVER_OAUTH_PKCE=true",
            code="oauth_not_configured",
        )
    now = ctx.now()
    with ctx.sessions.begin() as s:
        # Old states are of no use to anyone: drop those expired for a day.
        s.execute(
            delete(OAuthConnectState).where(OAuthConnectState.expires_at < now - timedelta(days=1))
        )
        s.add(
            OAuthConnectState(
                id=_digest(state),
                code_verifier_enc=ctx.cipher.encrypt(pkce.code_verifier) if pkce else None,
                redirect_uri=redirect_uri,
                merchant_id=merchant.id if merchant else None,
                actor=actor,
                created_at=now,
                expires_at=now + STATE_TTL,
            )
        )
    _, www_host = oauth_hosts(ctx.settings, merchant.clover_base_url if merchant else None)
    url = clover_authorize_url(
        app_id,
        redirect_uri,
        state=state,
        merchant_id=clover_merchant_id or (merchant.clover_merchant_id if merchant else None),
        pkce=pkce,
        base_url=www_host,
    )
    return ConnectStart(url=url, state=state)


def _claim_state(ctx: ServiceContext, state: str) -> OAuthConnectState:
    now = ctx.now()
    with ctx.sessions.begin() as s:
        row = s.get(OAuthConnectState, _digest(state), with_for_update=True)
        if row is None:
            raise InvalidRequest("unknown authorization state", field="state", code="oauth_state")
        if row.used_at is not None:
            raise InvalidRequest(
                "this authorization was already completed", field="state", code="oauth_state_used"
            )
        if row.expires_at <= now:
            raise InvalidRequest(
                "this authorization expired; start again", field="state", code="oauth_state_expired"
            )
        row.used_at = now
        return row


def complete_connect(
    ctx: ServiceContext,
    params: Mapping[str, str],
    *,
    browser_state: str | None,
    actor: str = "oauth",
) -> ConnectResult:
    """Finish the flow from the callback's query ``params`` (see the module docstring)."""
    app_id = _app_id(ctx)
    try:
        callback = parse_authorize_callback(params)
    except OAuthError as exc:
        raise InvalidRequest(str(exc), field="code", code="oauth_denied") from None
    if not callback.state:
        raise StateMissing("the authorization did not come from here", field="state")
    if browser_state is None or not hmac.compare_digest(
        browser_state.encode(), callback.state.encode()
    ):
        raise InvalidRequest(
            "the authorization was started in another browser", field="state", code="oauth_state"
        )
    row = _claim_state(ctx, callback.state)
    if callback.client_id and callback.client_id != app_id:
        raise InvalidRequest("the callback is for another app", field="client_id")
    clover_mid = callback.merchant_id
    if not clover_mid:
        raise InvalidRequest("the callback names no merchant", field="merchant_id")
    verifier = ctx.cipher.decrypt(row.code_verifier_enc) if row.code_verifier_enc else None
    base_url = None  # a reconnect exchanges the code where its authorize page was
    if row.merchant_id is not None:
        with ctx.sessions() as s:
            base_url = s.scalar(
                select(Merchant.clover_base_url).where(Merchant.id == row.merchant_id)
            )
    token = _exchange(ctx, app_id, callback.code, verifier, base_url)
    result = _store(ctx, row, clover_mid, token_columns(ctx.cipher, token), actor=actor)
    merchant = result.merchant
    pakms = False
    try:
        _fetch_name(ctx, merchant, created=result.created)
        ensure_pakms_key(ctx, merchant)
        pakms = True
    except (CloverError, InvalidRequest) as exc:
        log.warning("merchant %s connected; PAKMS key not fetched yet: %s", merchant.id, exc)
    return ConnectResult(merchant, result.created, result.api_key, pakms)


def _exchange(
    ctx: ServiceContext, app_id: str, code: str, verifier: str | None, base_url: str | None
) -> OAuthToken:
    api_host, www_host = oauth_hosts(ctx.settings, base_url)
    client = OAuthClient(
        app_id,
        ctx.settings.clover_app_secret,
        api_base_url=api_host,
        authorize_base_url=www_host,
        http_client=ctx.gateway.http,
    )
    try:
        return client.exchange_code(code, verifier)
    except OAuthError as exc:
        raise InvalidRequest(
            f"Clover refused the authorization code: {exc.server_message or exc}",
            field="code",
            code="oauth_exchange_failed",
        ) from None
    except httpx.TransportError as exc:  # the code is single use: the flow starts again
        raise UpstreamError(
            f"could not reach Clover to exchange the authorization code ({type(exc).__name__});"
            " nothing was stored, start the connection again",
            field="code",
        ) from None


def _store(
    ctx: ServiceContext,
    row: OAuthConnectState,
    clover_mid: str,
    columns: dict[str, object],
    *,
    actor: str,
) -> ConnectResult:
    with ctx.sessions.begin() as s:
        merchant = s.scalar(
            select(Merchant).where(Merchant.clover_merchant_id == clover_mid).with_for_update()
        )
        if row.merchant_id is not None and (merchant is None or merchant.id != row.merchant_id):
            raise InvalidRequest(
                "authorized a different Clover merchant than the one being reconnected",
                field="merchant_id",
                code="oauth_merchant_mismatch",
            )
        created = merchant is None
        if merchant is None:
            merchant = Merchant(name=f"Clover merchant {clover_mid}", clover_merchant_id=clover_mid)
            s.add(merchant)
        for name, value in columns.items():
            setattr(merchant, name, value)
        s.flush()
        key = None
        if created:
            key = generate_api_key()
            s.add(ApiKeyRow(merchant_id=merchant.id, prefix=key.prefix, key_hash=key.hashed))
        add_audit(
            s,
            merchant_id=merchant.id,
            actor=row.actor if row.actor != "anonymous" else actor,
            action="merchant.connected" if created else "merchant.reconnected",
            entity_type="merchant",
            entity_id=merchant.id,
            reason="OAuth v2 authorization",
            data={"clover_merchant_id": clover_mid, "api_key": key.prefix if key else None},
        )
    return ConnectResult(merchant, created, key, False)


def _fetch_name(ctx: ServiceContext, merchant: Merchant, *, created: bool) -> None:
    if not created:
        return
    with ctx.gateway.client(merchant) as client:
        name = client.platform.merchant().name
    if name:
        with ctx.sessions.begin() as s:
            s.get_one(Merchant, merchant.id).name = name[:200]
        merchant.name = name[:200]
