"""Merchants and API keys. A merchant is connected through OAuth v2
(:mod:`~cloverpay.service.services.oauth_connect`) or with tokens obtained elsewhere (e.g.
the sandbox's credentials, an Ecommerce private key) through :func:`connect_merchant`."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cloverpay.service.core.security import ApiKey, generate_api_key, hash_api_key
from cloverpay.service.db import ApiKeyRow, Merchant, reading
from cloverpay.service.errors import AuthError
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.records import add_audit

__all__ = [
    "AUTH_CACHE_TTL_S",
    "Principal",
    "authenticate",
    "authenticate_cached",
    "cached_principal",
    "connect_merchant",
    "create_api_key",
    "ensure_pakms_key",
]

log = logging.getLogger("cloverpay.service")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a merchant through one of its API keys."""

    merchant_id: str
    api_key_prefix: str
    #: The merchant's currency (set when it is connected, never changed): what a new
    #: invoice is in unless it names another.
    currency: str = "usd"

    @property
    def actor(self) -> str:
        return f"api_key:{self.api_key_prefix}"


def connect_merchant(
    ctx: ServiceContext,
    *,
    name: str,
    clover_merchant_id: str,
    access_token: str,
    refresh_token: str | None = None,
    pakms_key: str | None = None,
    clover_base_url: str | None = None,
    actor: str = "system",
) -> Merchant:
    """Create (or update the tokens of) a merchant; tokens are stored encrypted."""
    with ctx.sessions.begin() as s:
        merchant = s.scalar(
            select(Merchant).where(Merchant.clover_merchant_id == clover_merchant_id)
        )
        created = merchant is None
        if merchant is None:
            merchant = Merchant(name=name, clover_merchant_id=clover_merchant_id)
            s.add(merchant)
        merchant.access_token_enc = ctx.cipher.encrypt(access_token)
        merchant.refresh_token_enc = ctx.cipher.encrypt(refresh_token) if refresh_token else None
        # The refresh compare-and-swap key (services.oauth_store); expirations unknown here.
        merchant.refresh_token_sha256 = (
            hashlib.sha256(refresh_token.encode()).hexdigest() if refresh_token else None
        )
        merchant.access_token_expires_at = None
        merchant.refresh_token_expires_at = None
        merchant.pakms_key = pakms_key or merchant.pakms_key
        merchant.clover_base_url = clover_base_url
        s.flush()
        add_audit(
            s,
            merchant_id=merchant.id,
            actor=actor,
            action="merchant.connected" if created else "merchant.tokens_updated",
            entity_type="merchant",
            entity_id=merchant.id,
        )
    return merchant


def create_api_key(ctx: ServiceContext, merchant_id: str, *, name: str = "default") -> ApiKey:
    """A new key; its secret is returned once and only its hash is stored."""
    key = generate_api_key()
    with ctx.sessions.begin() as s:
        s.add(ApiKeyRow(merchant_id=merchant_id, name=name, prefix=key.prefix, key_hash=key.hashed))
        add_audit(
            s,
            merchant_id=merchant_id,
            actor="system",
            action="api_key.created",
            entity_type="api_key",
            entity_id=key.prefix,
        )
    return key


#: How long a process trusts an API key it has looked up: a key revoked in the
#: database (``api_keys.revoked_at``) is refused by every process within this many
#: seconds. Unknown and revoked keys are never cached (each attempt is looked up).
AUTH_CACHE_TTL_S = 5.0
_AUTH_CACHE_MAX = 10_000


def authenticate(session: Session, secret: str) -> Principal:
    hashed = hash_api_key(secret)
    row = session.execute(
        select(ApiKeyRow.merchant_id, ApiKeyRow.prefix, ApiKeyRow.revoked_at, Merchant.currency)
        .join(Merchant, Merchant.id == ApiKeyRow.merchant_id)
        .where(ApiKeyRow.key_hash == hashed)
    ).first()
    if row is None or row.revoked_at is not None:
        raise AuthError("invalid API key", field="Authorization")
    return Principal(merchant_id=row.merchant_id, api_key_prefix=row.prefix, currency=row.currency)


def cached_principal(ctx: ServiceContext, secret: str) -> Principal | None:
    """The principal :func:`authenticate_cached` keeps for ``secret``, if it is still
    fresh; None otherwise (no database read: safe on the event loop)."""
    hit = ctx.auth_cache.get(hash_api_key(secret))
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    return None


def authenticate_cached(ctx: ServiceContext, secret: str) -> Principal:
    """:func:`authenticate` with the answer kept for :data:`AUTH_CACHE_TTL_S` seconds
    (per process, keyed by the key's hash): most requests read no database row to know
    who calls. Raises :class:`AuthError` for an unknown or revoked key."""
    known = cached_principal(ctx, secret)
    if known is not None:
        return known
    hashed = hash_api_key(secret)
    now = time.monotonic()
    with reading(ctx.engine) as s:
        principal = authenticate(s, secret)
    if len(ctx.auth_cache) >= _AUTH_CACHE_MAX:
        ctx.auth_cache.clear()
    ctx.auth_cache[hashed] = (now + AUTH_CACHE_TTL_S, principal)
    return principal


def ensure_pakms_key(ctx: ServiceContext, merchant: Merchant) -> str:
    """The merchant's PAKMS public key (``apiAccessKey``), fetched from Clover once and
    stored in ``merchants.pakms_key``; later calls read the row. Clover's key does not
    expire, so it is never fetched again (clear the column to force it). Raises the
    client's :class:`~cloverpay.api.CloverError` if Clover cannot be reached."""
    if merchant.pakms_key:
        return merchant.pakms_key
    with ctx.sessions() as s:
        stored = s.scalar(select(Merchant.pakms_key).where(Merchant.id == merchant.id))
    if stored:
        merchant.pakms_key = stored
        return stored
    with ctx.gateway.client(merchant) as client:
        key = client.pakms.get().api_access_key
    with ctx.sessions.begin() as s:
        # Two processes may fetch at once; Clover answers the same key, the first stores it.
        s.execute(
            update(Merchant)
            .where(Merchant.id == merchant.id, Merchant.pakms_key.is_(None))
            .values(pakms_key=key)
        )
        stored = s.scalar(select(Merchant.pakms_key).where(Merchant.id == merchant.id))
    merchant.pakms_key = stored or key
    log.info("stored the PAKMS key of merchant %s", merchant.id)
    return merchant.pakms_key
