"""Merchants and API keys. OAuth code exchange and refresh come later; a merchant can
be connected with tokens obtained elsewhere (e.g. the sandbox's credentials)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloverpay.service.core.security import ApiKey, generate_api_key, hash_api_key
from cloverpay.service.db import ApiKeyRow, Merchant
from cloverpay.service.errors import AuthError
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.records import add_audit

__all__ = ["Principal", "authenticate", "connect_merchant", "create_api_key"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a merchant through one of its API keys."""

    merchant_id: str
    api_key_prefix: str

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


def authenticate(session: Session, secret: str) -> Principal:
    row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == hash_api_key(secret)))
    if row is None or row.revoked_at is not None:
        raise AuthError("invalid API key", field="Authorization")
    return Principal(merchant_id=row.merchant_id, api_key_prefix=row.prefix)
