"""The outgoing webhooks' configuration, deliveries and log (see ``_webhooks_out``).

``WebhookStore`` holds the app and Hosted Checkout webhook configuration, the app events
waiting for their batch and the delivery log; ``sign_hosted_checkout`` makes the
``Clover-Signature`` header.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "AppWebhookConfig",
    "Delivery",
    "DeliveryAttempt",
    "HostedCheckoutWebhookConfig",
    "WebhookSettings",
    "WebhookStore",
    "sign_hosted_checkout",
]

DeliveryKind = Literal["app", "hosted_checkout", "verification"]


def sign_hosted_checkout(secret: str, body: bytes, t: int) -> str:
    """The ``Clover-Signature`` header value for ``body`` sent at unix second ``t``."""
    mac = hmac.new(secret.encode("utf-8"), f"{t}.".encode() + body, hashlib.sha256)
    return f"t={t},v1={mac.hexdigest()}"


@dataclass
class WebhookSettings:
    """Delivery knobs (seconds). Clover's own retry policy is unpublished; these are ours."""

    batch_window: float = 0.2
    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    timeout: float = 5.0
    max_log: int = 1000
    #: Clock for the ``t=`` of ``Clover-Signature``: "wall" (real time, what a receiver's
    #: tolerance window compares with) or "sandbox" (the controllable clock, like the
    #: payload's ``createdTime``).
    signature_clock: Literal["wall", "sandbox"] = "wall"


@dataclass
class AppWebhookConfig:
    app_id: str
    url: str
    verification_code: str
    verified: bool = False
    auth_code: str | None = field(default=None, repr=False)
    handshake_status: int | None = None
    handshake_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "appId": self.app_id,
            "url": self.url,
            "verificationCode": self.verification_code,
            "verified": self.verified,
            "authCode": self.auth_code,
            "handshakeStatus": self.handshake_status,
            "handshakeError": self.handshake_error,
        }


@dataclass
class HostedCheckoutWebhookConfig:
    merchant_id: str
    url: str
    signing_secret: str = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "merchantId": self.merchant_id,
            "url": self.url,
            "signingSecret": self.signing_secret,
        }


@dataclass
class DeliveryAttempt:
    at: float
    status_code: int | None
    error: str | None


@dataclass
class Delivery:
    id: str
    kind: DeliveryKind
    url: str
    body: bytes
    headers: dict[str, str] = field(repr=False)
    attempts: list[DeliveryAttempt] = field(default_factory=list)
    state: Literal["pending", "delivered", "failed"] = "pending"
    next_attempt_at: float = 0.0
    created_at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "url": self.url,
            "state": self.state,
            "attempts": [
                {"at": round(a.at * 1000), "statusCode": a.status_code, "error": a.error}
                for a in self.attempts
            ],
            "createdAt": round(self.created_at * 1000),
            "body": json.loads(self.body),
        }


@dataclass
class WebhookStore:
    """Configuration, pending app events and the delivery log."""

    settings: WebhookSettings = field(default_factory=WebhookSettings)
    app: AppWebhookConfig | None = None
    hosted_checkout: dict[str, HostedCheckoutWebhookConfig] = field(default_factory=dict)
    deliveries: deque[Delivery] = field(default_factory=deque)
    pending_events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def new_app_config(self, app_id: str, url: str) -> AppWebhookConfig:
        self.app = AppWebhookConfig(app_id=app_id, url=url, verification_code=str(uuid.uuid4()))
        return self.app

    def confirm(self, code: str) -> AppWebhookConfig:
        app = self.app
        if app is None:
            raise LookupError("no app webhook URL is registered")
        if not hmac.compare_digest(code, app.verification_code):
            raise ValueError("verificationCode does not match the one sent to the URL")
        app.verified = True
        if app.auth_code is None:
            app.auth_code = secrets.token_hex(16)
        return app

    def set_hosted_checkout(
        self, merchant_id: str, url: str, signing_secret: str | None = None
    ) -> HostedCheckoutWebhookConfig:
        cfg = HostedCheckoutWebhookConfig(merchant_id, url, signing_secret or secrets.token_hex(32))
        self.hosted_checkout[merchant_id] = cfg
        return cfg

    def log(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        while len(self.deliveries) > self.settings.max_log:
            self.deliveries.popleft()
