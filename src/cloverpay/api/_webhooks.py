"""Clover webhooks: verify, parse into typed events, and build them (for tests and
emulators).

Two kinds reach a Clover app:

* **Hosted Checkout** webhooks (per merchant, configured in the Merchant Dashboard)
  carry ``Clover-Signature: t=<unix s>,v1=<hex HMAC-SHA256>`` over
  ``"<t>." + raw body``, keyed with the signing secret. Verify with
  :func:`verify_checkout_signature`, then :func:`parse_checkout_event`.
* **App** webhooks carry ``X-Clover-Auth: <Clover Auth Code>``, a static shared secret
  compared verbatim (not an HMAC): :func:`verify_app_webhook`. When the callback URL is
  set up, Clover first POSTs ``{"verificationCode": "…"}`` without that header;
  :func:`parse_app_webhook` returns a :class:`VerificationRequest` for it (answer 200
  and show the code to the developer; it changes nothing, so needs no auth).

Typed events, parsing and the builders live in ``_webhook_events``. Verify over the
*raw* body bytes, before any JSON parsing. A webhook that fails verification must
change nothing by itself (at most, trigger a fetch from Clover).

Exceptions::

    CloverError
    ├── ConfigurationError            bad arguments, e.g. an empty secret (also ValueError)
    └── WebhookError                  (also ValueError)
        ├── WebhookSignatureError     signature / auth code missing, malformed, stale or
        │                             wrong; ``reason`` is a SignatureFailure
        └── WebhookPayloadError       body is not the expected JSON; ``field`` names it
"""

from __future__ import annotations

import hashlib
import hmac
import time
from enum import StrEnum

from ._errors import CloverError, ConfigurationError

__all__ = [
    "APP_AUTH_HEADER",
    "CHECKOUT_SIGNATURE_HEADER",
    "SignatureFailure",
    "WebhookError",
    "WebhookPayloadError",
    "WebhookSignatureError",
    "sign_checkout_webhook",
    "verify_app_webhook",
    "verify_checkout_signature",
]

CHECKOUT_SIGNATURE_HEADER = "Clover-Signature"
APP_AUTH_HEADER = "X-Clover-Auth"
DEFAULT_TOLERANCE = 300
"""Seconds a checkout signature's timestamp may differ from now. Clover does not
specify one; 300 s is what other verifiers use (guessed, hence the parameter)."""


class WebhookError(CloverError, ValueError):
    """A webhook could not be accepted."""


class SignatureFailure(StrEnum):
    MISSING_HEADER = "missing_header"
    MALFORMED_HEADER = "malformed_header"
    STALE_TIMESTAMP = "stale_timestamp"
    NO_MATCHING_SIGNATURE = "no_matching_signature"
    AUTH_CODE_MISMATCH = "auth_code_mismatch"


class WebhookSignatureError(WebhookError):
    """The webhook is not proven to come from Clover. Never includes the secret."""

    def __init__(self, reason: SignatureFailure, message: str) -> None:
        super().__init__(f"{reason.value}: {message}")
        self.reason = reason


class WebhookPayloadError(WebhookError):
    """The body is not the expected JSON; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


# --- Hosted Checkout signatures ----------------------------------------------------------


def _hmac_hex(body: bytes, secret: str, timestamp: int | str) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_checkout_webhook(body: bytes, secret: str, timestamp: int) -> str:
    """The ``Clover-Signature`` header value Clover would send for ``body``."""
    return f"t={timestamp},v1={_hmac_hex(body, secret, timestamp)}"


def verify_checkout_signature(
    payload: bytes,
    header: str | bytes | None,
    secret: str,
    *,
    tolerance: float | None = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> int:
    """Check a Hosted Checkout webhook's ``Clover-Signature`` header against the raw
    ``payload``. Returns the signed timestamp; raises :class:`WebhookSignatureError`.

    Several ``v1=`` entries are accepted (any one may match, as during a secret
    rotation); other keys are ignored. ``tolerance`` (seconds, either direction)
    rejects replays of old deliveries; ``None`` disables the check.
    """
    if not secret:
        raise ConfigurationError("secret is required (the webhook signing secret)", param="secret")
    if isinstance(header, bytes):
        header = header.decode("latin-1")
    if header is None or not header.strip():
        raise WebhookSignatureError(
            SignatureFailure.MISSING_HEADER, f"no {CHECKOUT_SIGNATURE_HEADER} header"
        )
    timestamp, signatures = _parse_signature_header(header)
    if tolerance is not None:
        current = time.time() if now is None else now
        if abs(current - timestamp) > tolerance:
            raise WebhookSignatureError(
                SignatureFailure.STALE_TIMESTAMP,
                f"signature timestamp {timestamp} is more than {tolerance:g} s from now",
            )
    expected = _hmac_hex(payload, secret, timestamp).encode("ascii")
    matched = False
    for candidate in signatures:
        # compare every entry (no early exit) to keep the timing independent of position
        matched |= hmac.compare_digest(expected, candidate.lower().encode("ascii", "replace"))
    if not matched:
        raise WebhookSignatureError(
            SignatureFailure.NO_MATCHING_SIGNATURE,
            f"none of {len(signatures)} v1 signature(s) matches the body",
        )
    return timestamp


def _parse_signature_header(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "t":
            if timestamp is not None or not value.isascii() or not value.isdigit():
                raise WebhookSignatureError(
                    SignatureFailure.MALFORMED_HEADER, "t= must appear once, as Unix seconds"
                )
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None:
        raise WebhookSignatureError(SignatureFailure.MALFORMED_HEADER, "no t= timestamp")
    if not signatures:
        raise WebhookSignatureError(SignatureFailure.MALFORMED_HEADER, "no v1= signature")
    return timestamp, signatures


# --- App webhook auth --------------------------------------------------------------------


def verify_app_webhook(header_value: str | bytes | None, auth_code: str) -> None:
    """Check ``X-Clover-Auth`` against the app's Clover Auth Code (constant time).
    Raises :class:`WebhookSignatureError`; never echoes either value."""
    if not auth_code:
        raise ConfigurationError(
            "auth_code is required (the app's Clover Auth Code)", param="auth_code"
        )
    if header_value is None or not header_value:
        raise WebhookSignatureError(SignatureFailure.MISSING_HEADER, f"no {APP_AUTH_HEADER} header")
    given = header_value if isinstance(header_value, bytes) else header_value.encode()
    if not hmac.compare_digest(given.strip(), auth_code.encode()):
        raise WebhookSignatureError(
            SignatureFailure.AUTH_CODE_MISMATCH, f"{APP_AUTH_HEADER} does not match"
        )
