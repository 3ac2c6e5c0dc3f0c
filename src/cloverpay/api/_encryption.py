"""TransArmor ``encrypted_pan`` for Clover's tokenizer (``POST /v1/tokens``).

Clover publishes RSA-2048 public keys in ``keys.json``
(``https://checkout.clover.com/assets/keys.json``): ``TA_PUBLIC_KEY_DEV`` for the
sandbox, ``TA_PUBLIC_KEY_PROD`` for production. Each is base64 of the raw modulus
(first 256 bytes, big-endian) followed by the public exponent (the rest). The card
number is encrypted as ``"00000000" + PAN`` with RSA-OAEP (SHA-1, MGF1-SHA-1) and sent
base64-encoded.

Card numbers pass through here in memory only: they are never logged, and error
messages name the field without quoting it.

This needs the ``cryptography`` package, which the bare ``pip install cloverpay``
does not bring (most integrations never see a card number: the iframe and Hosted
Checkout keep it off the merchant's server). Install it with
``pip install 'cloverpay[sandbox]'`` or ``pip install cryptography``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from enum import Enum
from typing import TYPE_CHECKING, Any

from ._errors import CloverError, ConfigurationError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import (
        RSAPrivateKey,
        RSAPublicKey,
        RSAPublicNumbers,
    )

__all__ = [
    "TA_KEYS_URL",
    "MissingCryptographyError",
    "decrypt_pan",
    "encrypt_pan",
    "load_ta_keys",
    "ta_public_key_from_rsa",
]

TA_KEYS_URL = "https://checkout.clover.com/assets/keys.json"
PAN_PREFIX = "00000000"
MODULUS_BYTES = 256

_DEV_NAMES = {"dev", "sandbox", "development", "test"}
_PROD_NAMES = {"prod", "production", "live"}


class MissingCryptographyError(CloverError, ImportError):
    """``cryptography`` is not installed; the message says how to install it."""


def _rsa() -> Any:
    try:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
    except ImportError as exc:
        raise MissingCryptographyError(
            "encrypting a card number needs the 'cryptography' package: "
            "pip install 'cloverpay[sandbox]' (or pip install cryptography)"
        ) from exc
    return hashes, padding, rsa


def _oaep() -> Any:
    hashes, padding, _ = _rsa()
    return padding.OAEP(
        mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None
    )


def _check_pan(pan: str) -> str:
    if not isinstance(pan, str) or not pan.isascii() or not pan.isdigit():
        raise ConfigurationError(
            "pan: must be a string of digits only (no spaces or dashes)", param="pan"
        )
    if not 12 <= len(pan) <= 19:
        raise ConfigurationError(f"pan: must be 12 to 19 digits, got {len(pan)}", param="pan")
    return pan


def _public_key(public_key_b64: str) -> RSAPublicKey:
    _, _, rsa = _rsa()
    try:
        raw = base64.b64decode(public_key_b64, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(
            "public_key_b64: not valid base64", param="public_key_b64"
        ) from None
    if len(raw) <= MODULUS_BYTES:
        raise ConfigurationError(
            f"public_key_b64: expected {MODULUS_BYTES} modulus bytes plus the exponent, "
            f"got {len(raw)} bytes",
            param="public_key_b64",
        )
    modulus = int.from_bytes(raw[:MODULUS_BYTES], "big")
    exponent = int.from_bytes(raw[MODULUS_BYTES:], "big")
    if modulus.bit_length() != MODULUS_BYTES * 8 or exponent < 3 or exponent % 2 == 0:
        raise ConfigurationError(
            "public_key_b64: not an RSA-2048 public key", param="public_key_b64"
        )
    key: RSAPublicKey = rsa.RSAPublicNumbers(exponent, modulus).public_key()
    return key


def encrypt_pan(pan: str, public_key_b64: str) -> str:
    """``encrypted_pan`` for ``pan`` under a TransArmor key from ``keys.json``.

    The result differs on every call (OAEP is randomised)."""
    key = _public_key(public_key_b64)
    plaintext = (PAN_PREFIX + _check_pan(pan)).encode("ascii")
    return base64.b64encode(key.encrypt(plaintext, _oaep())).decode("ascii")


def decrypt_pan(encrypted_pan: str, private_key: RSAPrivateKey) -> str:
    """The PAN inside ``encrypted_pan``: the tokenizer's side, for an emulator that
    holds the private key of the ``keys.json`` it serves."""
    _rsa()
    try:
        ciphertext = base64.b64decode(encrypted_pan, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError("encrypted_pan: not valid base64", param="encrypted_pan") from None
    try:
        plaintext = private_key.decrypt(ciphertext, _oaep())
    except ValueError:
        raise ConfigurationError(
            "encrypted_pan: does not decrypt with this key", param="encrypted_pan"
        ) from None
    text = plaintext.decode("ascii", "replace")
    if not text.startswith(PAN_PREFIX):
        raise ConfigurationError(
            f"encrypted_pan: plaintext lacks the {PAN_PREFIX!r} prefix", param="encrypted_pan"
        )
    try:
        return _check_pan(text[len(PAN_PREFIX) :])
    except ValueError as exc:
        raise ConfigurationError(f"encrypted_pan: {exc}", param="encrypted_pan") from None


def ta_public_key_from_rsa(public_key: RSAPublicNumbers | RSAPublicKey) -> str:
    """The ``keys.json`` value for an RSA-2048 public key (inverse of the layout
    :func:`encrypt_pan` reads): base64(modulus as 256 bytes + exponent bytes)."""
    numbers = public_key.public_numbers() if hasattr(public_key, "public_numbers") else public_key
    n, e = numbers.n, numbers.e
    if n.bit_length() != MODULUS_BYTES * 8:
        raise ConfigurationError(
            f"public_key: must be RSA-2048, got {n.bit_length()} bits", param="public_key"
        )
    raw = n.to_bytes(MODULUS_BYTES, "big") + e.to_bytes((e.bit_length() + 7) // 8, "big")
    return base64.b64encode(raw).decode("ascii")


def load_ta_keys(keys_json: Mapping[str, Any], environment: object) -> str:
    """Pick ``TA_PUBLIC_KEY_DEV`` (``"sandbox"``/``"dev"``) or ``TA_PUBLIC_KEY_PROD``
    (``"production"``/``"prod"``) from a parsed ``keys.json``. ``environment`` may be
    such a string, an enum whose value or name is one, or any object with such a
    ``name``; a production region suffix (``"production_eu"``) is accepted."""
    raw: object = environment
    if isinstance(environment, Enum):
        raw = environment.value if isinstance(environment.value, str) else environment.name
    elif not isinstance(environment, str):
        raw = getattr(environment, "name", environment)
    name = str(raw).strip().lower().replace("-", "_")
    base = name.split("_", 1)[0]
    if name in _DEV_NAMES or base in _DEV_NAMES:
        field = "TA_PUBLIC_KEY_DEV"
    elif name in _PROD_NAMES or base in _PROD_NAMES:
        field = "TA_PUBLIC_KEY_PROD"
    else:
        raise ConfigurationError(
            f"environment: expected 'sandbox' or 'production' (or 'dev'/'prod'), got {raw!r}",
            param="environment",
        )
    value = keys_json.get(field)
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"keys_json: {field} missing or not a string", param="keys_json")
    return value
