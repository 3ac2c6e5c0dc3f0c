"""Clover webhook bodies as typed events, strict parsing, and builders that produce
what Clover sends (for tests and emulators). Verification is in ``_webhooks``.

Events are frozen dataclasses; statuses and event types are enums. Parsing is strict:
a missing or mistyped required field raises :class:`WebhookPayloadError` naming it,
and unknown fields are kept aside (``extra``) and logged.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from ._webhooks import (
    APP_AUTH_HEADER,
    CHECKOUT_SIGNATURE_HEADER,
    WebhookPayloadError,
    sign_checkout_webhook,
)

__all__ = [
    "AppEvent",
    "AppEventType",
    "AppWebhook",
    "CheckoutEvent",
    "CheckoutStatus",
    "VerificationRequest",
    "build_app_webhook",
    "build_checkout_webhook",
    "parse_app_webhook",
    "parse_checkout_event",
]

logger = logging.getLogger("cloverpay.api.webhooks")


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
