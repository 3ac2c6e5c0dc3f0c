"""Webhook set-up: a merchant's Hosted Checkout signing secret (encrypted at rest) and
the app webhook verification code Clover sent, for a person to paste back into Clover."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from cloverpay.service.db import Merchant, MerchantWebhookSecret, WebhookInbox
from cloverpay.service.errors import InvalidRequest, NotFound
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.records import add_audit

__all__ = [
    "SOURCE_APP",
    "SOURCE_APP_VERIFICATION",
    "SOURCE_CHECKOUT",
    "VerificationCode",
    "checkout_signing_secret",
    "latest_verification_code",
    "set_checkout_signing_secret",
]

SOURCE_APP = "clover_app"
SOURCE_APP_VERIFICATION = "clover_app_verification"
SOURCE_CHECKOUT = "hosted_checkout"


def set_checkout_signing_secret(
    ctx: ServiceContext, merchant_id: str, secret: str, *, actor: str
) -> None:
    """Store (or replace) the merchant's Hosted Checkout signing secret."""
    secret = secret.strip()
    if len(secret) < 16:
        raise InvalidRequest("the signing secret looks too short", field="signing_secret")
    with ctx.sessions.begin() as s:
        if s.get(Merchant, merchant_id) is None:
            raise NotFound(f"no merchant {merchant_id}", field="merchant_id")
        row = s.get(MerchantWebhookSecret, merchant_id)
        enc = ctx.cipher.encrypt(secret)
        if row is None:
            s.add(MerchantWebhookSecret(merchant_id=merchant_id, checkout_signing_secret_enc=enc))
        else:
            row.checkout_signing_secret_enc = enc
            row.updated_at = ctx.now()
        add_audit(
            s,
            merchant_id=merchant_id,
            actor=actor,
            action="webhooks.checkout_secret_set",
            entity_type="merchant",
            entity_id=merchant_id,
        )
    from cloverpay.service.webhooks._receive import forget_secret

    forget_secret(ctx, merchant_id)


def checkout_signing_secret(ctx: ServiceContext, merchant_id: str) -> str | None:
    """The merchant's signing secret, or None (no merchant, or none configured)."""
    with ctx.sessions() as s:
        enc = s.scalar(
            select(MerchantWebhookSecret.checkout_signing_secret_enc).where(
                MerchantWebhookSecret.merchant_id == merchant_id
            )
        )
    return None if enc is None else ctx.cipher.decrypt(enc)


@dataclass(frozen=True, slots=True)
class VerificationCode:
    code: str
    received_at: datetime


def latest_verification_code(ctx: ServiceContext) -> VerificationCode | None:
    """The last ``verificationCode`` Clover POSTed to the app receiver (unauthenticated
    by nature: it only works if pasted into Clover's dashboard, so showing it is safe)."""
    with ctx.sessions() as s:
        row = s.scalar(
            select(WebhookInbox)
            .where(WebhookInbox.source == SOURCE_APP_VERIFICATION)
            .order_by(WebhookInbox.id.desc())
            .limit(1)
        )
    if row is None:
        return None
    code = json.loads(row.body).get("verificationCode")
    return VerificationCode(str(code), row.received_at) if code else None
