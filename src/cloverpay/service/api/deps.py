"""``Annotated`` dependencies: the service context and the authenticated merchant.

They are ``async def``: FastAPI runs a plain ``def`` dependency in a worker thread, a
thread hand-off per dependency per request for what is a dictionary look-up here. The
one that may read the database (an API key not in the per-process cache) hands that
read to a worker thread itself.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from cloverpay.service.api.idempotency import ANSWER_STATE, PRINCIPAL_STATE, StoredAnswer
from cloverpay.service.errors import AuthError
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.merchants import (
    Principal,
    authenticate_cached,
    cached_principal,
)

__all__ = ["Answer", "ClientIp", "Ctx", "CurrentPrincipal", "get_client_ip"]

_bearer = HTTPBearer(auto_error=False, description="API key of the merchant: `Bearer cpk_...`")


async def get_ctx(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ServiceContext, Depends(get_ctx)]


async def get_principal(
    request: Request,
    ctx: Ctx,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise AuthError("missing API key (Authorization: Bearer ...)", field="Authorization")
    # A POST with an Idempotency-Key was authenticated by the idempotency middleware,
    # in the transaction that claimed the key, from this same Authorization header.
    known = request.scope.get("state", {}).get(PRINCIPAL_STATE)
    if isinstance(known, Principal):
        return known
    secret = credentials.credentials
    cached = cached_principal(ctx, secret)
    if cached is not None:
        return cached
    principal: Principal = await run_in_threadpool(authenticate_cached, ctx, secret)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def get_client_ip(request: Request) -> str | None:
    """The payer's IP (Clover wants it as ``x-forwarded-for``); None when it is not an IP
    address (e.g. a test client's host name), so the configured default is used."""
    forwarded = request.headers.get("x-forwarded-for")
    candidate = forwarded.split(",")[0].strip() if forwarded else None
    if not candidate and request.client:
        candidate = request.client.host
    try:
        return str(ipaddress.ip_address(candidate)) if candidate else None
    except ValueError:
        return None


async def _client_ip(request: Request) -> str | None:
    return get_client_ip(request)


ClientIp = Annotated[str | None, Depends(_client_ip)]


async def get_stored_answer(request: Request) -> StoredAnswer | None:
    """The request's Idempotency-Key row, when it has one (a POST with the header)."""
    found = request.scope.get("state", {}).get(ANSWER_STATE)
    return found if isinstance(found, StoredAnswer) else None


Answer = Annotated[StoredAnswer | None, Depends(get_stored_answer)]
