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

Verify over the *raw* body bytes, before any JSON parsing. A webhook that fails
verification must change nothing by itself (at most, trigger a fetch from Clover).

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
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from ._errors import CloverError, ConfigurationError

__all__ = [
    "APP_AUTH_HEADER",
    "CHECKOUT_SIGNATURE_HEADER",
    "AppEvent",
    "AppEventType",
    "AppWebhook",
    "CheckoutEvent",
    "CheckoutStatus",
    "SignatureFailure",
    "VerificationRequest",
    "WebhookError",
    "WebhookPayloadError",
    "WebhookSignatureError",
    "build_app_webhook",
    "build_checkout_webhook",
    "parse_app_webhook",
    "parse_checkout_event",
    "sign_checkout_webhook",
    "verify_app_webhook",
    "verify_checkout_signature",
]

CHECKOUT_SIGNATURE_HEADER = "Clover-Signature"
APP_AUTH_HEADER = "X-Clover-Auth"
DEFAULT_TOLERANCE = 300
"""Seconds a checkout signature's timestamp may differ from now. Clover does not
specify one; 300 s is what other verifiers use (guessed, hence the parameter)."""

logger = logging.getLogger("cloverpay.api.webhooks")


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


# --- typed events ------------------------------------------------------------------------


class CheckoutStatus(StrEnum):
    APPROVED = "APPROVED"
    DECLINED = "DECLINED"


class AppEventType(StrEnum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"


def _ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass(frozen=True)
class CheckoutEvent:
    """A Hosted Checkout payment notification. ``data`` is the checkout session id and
    ``id`` the payment id; there is no amount (only the ``message`` text)."""

    id: str
    merchant_id: str
    status: CheckoutStatus
    type: str
    data: str
    created_time: int
    message: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def checkout_session_id(self) -> str:
        return self.data

    @property
    def created_at(self) -> datetime:
        return _ms_to_datetime(self.created_time)


@dataclass(frozen=True)
class AppEvent:
    """One change notice: ``object_id`` of kind ``object_type`` (O orders, P payments,
    I inventory, C customers, E employees, A apps, M merchants, …) changed at ``ts`` (ms)."""

    merchant_id: str
    object_type: str
    object_id: str
    type: AppEventType
    ts: int

    @property
    def occurred_at(self) -> datetime:
        return _ms_to_datetime(self.ts)


@dataclass(frozen=True)
class AppWebhook:
    app_id: str | None
    events: tuple[AppEvent, ...]
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def merchants(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.merchant_id for e in self.events))


@dataclass(frozen=True)
class VerificationRequest:
    """Clover's one-off callback-URL check: show ``verification_code`` to the developer."""

    verification_code: str


def _load_object(body: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(body, Mapping):
        return dict(body)
    try:
        data = json.loads(body)
    except ValueError:
        raise WebhookPayloadError("<body>", "not valid JSON") from None
    if not isinstance(data, dict):
        raise WebhookPayloadError("<body>", "not a JSON object")
    return data


_CHECKOUT_FIELDS = {
    "createdTime": "created_time",
    "message": "message",
    "status": "status",
    "type": "type",
    "id": "id",
    "merchantId": "merchant_id",
    "data": "data",
}


def parse_checkout_event(body: bytes | str | Mapping[str, Any]) -> CheckoutEvent:
    """Parse a (verified) Hosted Checkout webhook body. Accepts camelCase and
    Capitalised keys (``merchantId`` / ``MerchantId``); unknown fields are kept in
    ``extra`` and logged; a missing or mistyped required field raises
    :class:`WebhookPayloadError`."""
    raw = _load_object(body)
    canonical = {name.lower(): name for name in _CHECKOUT_FIELDS}
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in raw.items():
        name = canonical.get(key.lower()) if isinstance(key, str) else None
        if name is None:
            extra[key] = value
        elif name in values:
            raise WebhookPayloadError(name, "given twice with different casing")
        else:
            values[name] = value
    if extra:
        logger.info("checkout webhook: unknown fields kept aside: %s", sorted(extra))
    status = _required_str(values, "status")
    try:
        parsed_status = CheckoutStatus(status.upper())
    except ValueError:
        raise WebhookPayloadError(
            "status", f"expected APPROVED or DECLINED, got {status!r}"
        ) from None
    message = values.get("message")
    if message is not None and not isinstance(message, str):
        raise WebhookPayloadError("message", "must be a string")
    return CheckoutEvent(
        id=_required_str(values, "id"),
        merchant_id=_required_str(values, "merchantId"),
        status=parsed_status,
        type=_required_str(values, "type"),
        data=_required_str(values, "data"),
        created_time=_required_int(values, "createdTime"),
        message=message,
        extra=extra,
    )


def parse_app_webhook(body: bytes | str | Mapping[str, Any]) -> AppWebhook | VerificationRequest:
    """Parse an app webhook body: the verification handshake or a batch of change
    notices (``{"appId", "merchants": {mId: [{objectId, type, ts}, …]}}``)."""
    raw = _load_object(body)
    if "verificationCode" in raw and "merchants" not in raw:
        return VerificationRequest(_required_str(raw, "verificationCode"))
    merchants = raw.get("merchants")
    if not isinstance(merchants, dict):
        raise WebhookPayloadError("merchants", "required, an object of merchant id -> events")
    app_id = raw.get("appId")
    if app_id is not None and not isinstance(app_id, str):
        raise WebhookPayloadError("appId", "must be a string")
    events: list[AppEvent] = []
    for merchant_id, items in merchants.items():
        where = f"merchants.{merchant_id}"
        if not isinstance(items, list):
            raise WebhookPayloadError(where, "must be a list of events")
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise WebhookPayloadError(f"{where}[{i}]", "must be an object")
            events.append(_parse_app_event(merchant_id, item, f"{where}[{i}]"))
    extra = {k: v for k, v in raw.items() if k not in ("appId", "merchants")}
    return AppWebhook(app_id=app_id, events=tuple(events), extra=extra)


def _parse_app_event(merchant_id: str, item: dict[str, Any], where: str) -> AppEvent:
    object_ref = _required_str(item, "objectId", where)
    object_type, sep, object_id = object_ref.partition(":")
    if not sep or not object_type or not object_id:
        raise WebhookPayloadError(f"{where}.objectId", "expected '<type key>:<id>'")
    kind = _required_str(item, "type", where)
    try:
        event_type = AppEventType(kind)
    except ValueError:
        raise WebhookPayloadError(
            f"{where}.type", f"expected CREATE, UPDATE or DELETE, got {kind!r}"
        ) from None
    ts = _required_int(item, "ts", where)
    return AppEvent(merchant_id, object_type, object_id, event_type, ts)


def _required_str(values: Mapping[str, Any], name: str, where: str = "") -> str:
    value = values.get(name)
    path = f"{where}.{name}" if where else name
    if not isinstance(value, str) or not value:
        raise WebhookPayloadError(path, "required, a non-empty string")
    return value


def _required_int(values: Mapping[str, Any], name: str, where: str = "") -> int:
    value = values.get(name)
    path = f"{where}.{name}" if where else name
    if isinstance(value, bool) or not isinstance(value, int):
        raise WebhookPayloadError(path, "required, an integer (epoch milliseconds)")
    return value


# --- builders (tests, emulators) ---------------------------------------------------------


def build_checkout_webhook(
    *,
    secret: str,
    payment_id: str,
    merchant_id: str,
    checkout_session_id: str,
    status: CheckoutStatus | str = CheckoutStatus.APPROVED,
    message: str | None = None,
    created_time: int | None = None,
    timestamp: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A signed Hosted Checkout webhook as Clover sends it: ``(body, headers)``."""
    now = time.time()
    body = {
        "createdTime": int(now * 1000) if created_time is None else created_time,
        "message": message if message is not None else str(CheckoutStatus(status)).title(),
        "status": str(CheckoutStatus(status)),
        "type": "PAYMENT",
        "id": payment_id,
        "merchantId": merchant_id,
        "data": checkout_session_id,
    }
    raw = json.dumps(body, separators=(",", ":")).encode()
    ts = int(now) if timestamp is None else timestamp
    headers = {
        "Content-Type": "application/json",
        CHECKOUT_SIGNATURE_HEADER: sign_checkout_webhook(raw, secret, ts),
    }
    return raw, headers


def build_app_webhook(
    *,
    app_id: str,
    auth_code: str | None,
    events: Sequence[AppEvent] = (),
    verification_code: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """An app webhook as Clover sends it: ``(body, headers)``. With
    ``verification_code`` it is the unauthenticated setup handshake instead."""
    headers = {"Content-Type": "application/json"}
    if verification_code is not None:
        return json.dumps({"verificationCode": verification_code}).encode(), headers
    merchants: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        merchants.setdefault(event.merchant_id, []).append(
            {
                "objectId": f"{event.object_type}:{event.object_id}",
                "type": str(event.type),
                "ts": event.ts,
            }
        )
    if auth_code is not None:
        headers[APP_AUTH_HEADER] = auth_code
    body = json.dumps({"appId": app_id, "merchants": merchants}, separators=(",", ":"))
    return body.encode(), headers
