"""Secrets at rest: OAuth tokens encrypted with Fernet, API keys stored as sha256.

An API key is ``cpk_<prefix>_<secret>``: the prefix (8 characters) is stored in clear
and shown in lists; the whole key is stored only as its sha256, which is enough
because the secret has 256 bits of entropy (no slow hash needed).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken

__all__ = ["API_KEY_PREFIX", "ApiKey", "TokenCipher", "generate_api_key", "hash_api_key"]

API_KEY_PREFIX = "cpk_"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A freshly made key: ``secret`` is shown once and never stored."""

    prefix: str
    secret: str
    hashed: str

    def __repr__(self) -> str:
        return f"ApiKey(prefix={self.prefix!r})"


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_api_key() -> ApiKey:
    prefix = secrets.token_hex(4)
    secret = f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return ApiKey(prefix=prefix, secret=secret, hashed=hash_api_key(secret))


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)


class TokenCipher:
    """Encrypts OAuth tokens for storage."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def encrypt(self, token: str) -> str:
        return self._fernet.encrypt(token.encode()).decode()

    def decrypt(self, stored: str) -> str:
        try:
            return self._fernet.decrypt(stored.encode()).decode()
        except InvalidToken:
            raise ValueError("stored token cannot be decrypted with this secret key") from None

    def __repr__(self) -> str:
        return "TokenCipher(<key hidden>)"
