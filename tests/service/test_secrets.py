"""Secrets at rest and in reprs: OAuth tokens encrypted, API keys hashed, no card data."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from cloverpay.sandbox import Sandbox
from cloverpay.service.core.security import TokenCipher, generate_api_key
from cloverpay.service.db import Merchant
from cloverpay.service.errors import AuthError
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.merchants import authenticate, create_api_key
from cloverpay.service.services.payments import pay_invoice

from .conftest import APPROVE, make_token, open_test_invoice


def test_nothing_secret_is_stored_in_clear(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox
) -> None:
    key = create_api_key(ctx, merchant.id)
    inv = open_test_invoice(ctx, merchant)
    pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    dump = []
    with ctx.engine.connect() as conn:
        for table in ("merchants", "api_keys", "payment_attempts", "payments", "audit_log"):
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                dump.append(" ".join(str(v) for v in row))
    everything = "\n".join(dump)
    assert sandbox.credentials.access_token not in everything
    assert key.secret not in everything
    assert APPROVE not in everything
    assert key.prefix in everything  # shown in lists
    assert key.secret not in repr(key)
    with ctx.sessions() as s:
        assert authenticate(s, key.secret).merchant_id == merchant.id
        with pytest.raises(AuthError):
            authenticate(s, key.secret + "x")
    assert ctx.cipher.decrypt(merchant.access_token_enc or "") == sandbox.credentials.access_token
    assert "key" not in repr(ctx.cipher).lower().replace("<key hidden>", "")


def test_cipher_refuses_another_key() -> None:
    from cryptography.fernet import Fernet

    stored = TokenCipher(Fernet.generate_key()).encrypt("secret-token")
    with pytest.raises(ValueError, match="cannot be decrypted"):
        TokenCipher(Fernet.generate_key()).decrypt(stored)
    assert generate_api_key().secret != generate_api_key().secret
