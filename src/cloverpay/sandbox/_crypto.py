"""The sandbox's TransArmor key: ``keys.json`` and ``encrypted_pan`` (spec §5.2).

Clover publishes RSA-2048 public keys in ``keys.json`` under ``TA_PUBLIC_KEY_DEV`` and
``TA_PUBLIC_KEY_PROD``: base64 of the 256-byte modulus followed by the exponent bytes.
Clients encrypt ``"00000000" + PAN`` with RSA-OAEP (SHA-1, MGF1-SHA-1) and send the
base64 ciphertext as ``card.encrypted_pan``. The sandbox generates its own key once
per process (lazily, on first use) and serves it under both names, so the tokenizer
can decrypt and test cards keep their outcomes.
"""

from __future__ import annotations

import base64
import binascii
import functools

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = ["decrypt_pan", "encrypt_pan", "keys_json", "ta_private_key"]

_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)  # noqa: S303
_PREFIX = "00000000"


@functools.cache
def ta_private_key() -> rsa.RSAPrivateKey:
    """The process-wide sandbox TransArmor key (generated once, ~0.1 s)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def _public_key_b64() -> str:
    numbers = ta_private_key().public_key().public_numbers()
    exponent = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
    return base64.b64encode(numbers.n.to_bytes(256, "big") + exponent).decode()


def keys_json() -> dict[str, str]:
    """The body of ``/assets/keys.json``."""
    key = _public_key_b64()
    return {"TA_PUBLIC_KEY_DEV": key, "TA_PUBLIC_KEY_PROD": key}


def encrypt_pan(pan: str, ta_public_key: str) -> str:
    """Build ``encrypted_pan`` the way Clover's docs describe, from a ``keys.json`` value
    (works against the sandbox's key and Clover's)."""
    raw = base64.b64decode(ta_public_key)
    n, e = int.from_bytes(raw[:256], "big"), int.from_bytes(raw[256:], "big")
    public = rsa.RSAPublicNumbers(e, n).public_key()
    return base64.b64encode(public.encrypt((_PREFIX + pan).encode(), _OAEP)).decode()


def decrypt_pan(encrypted_pan: str) -> str | None:
    """The PAN digits, or ``None`` if this is not a valid ciphertext for our key."""
    try:
        blob = base64.b64decode(encrypted_pan, validate=True)
        plain = ta_private_key().decrypt(blob, _OAEP).decode("ascii")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if not plain.startswith(_PREFIX):
        return None
    pan = plain[len(_PREFIX) :]
    return pan if pan.isdigit() else None
