"""Signed, expiring pay links: ``/pay/<invoice id>.<expiry>.<signature>``.

The signature is HMAC-SHA256 over ``v1|invoice id|expiry`` with the pay link key,
truncated to 128 bits and base64url-encoded. Anything else (a changed id, a changed
expiry, a cut signature) is refused as tampered; a good link past its expiry as expired.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["LinkError", "PayLink", "sign_link", "verify_link"]


class LinkError(Exception):
    """A link that cannot be used; ``reason`` is ``expired`` or ``invalid``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class PayLink:
    invoice_id: str
    expires_at: datetime
    token: str


def _sig(key: bytes, invoice_id: str, expiry: int) -> str:
    mac = hmac.new(key, f"v1|{invoice_id}|{expiry}".encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def sign_link(key: bytes, invoice_id: str, *, now: datetime, ttl_s: int) -> PayLink:
    expires_at = (now + timedelta(seconds=ttl_s)).replace(microsecond=0)
    expiry = int(expires_at.timestamp()) if expires_at.tzinfo else _epoch(expires_at)
    token = f"{invoice_id}.{expiry}.{_sig(key, invoice_id, expiry)}"
    return PayLink(invoice_id=invoice_id, expires_at=expires_at, token=token)


def _epoch(naive_utc: datetime) -> int:
    return int((naive_utc - datetime(1970, 1, 1)).total_seconds())


def verify_link(key: bytes, token: str, *, now: datetime) -> PayLink:
    """The link's invoice id, or :class:`LinkError`. ``now`` is naive UTC."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].isalnum() or not parts[1].isdigit() or len(token) > 200:
        raise LinkError("invalid", "This payment link is not valid.")
    invoice_id, raw_expiry, sig = parts
    expiry = int(raw_expiry)
    if not hmac.compare_digest(sig, _sig(key, invoice_id, expiry)):
        raise LinkError("invalid", "This payment link is not valid.")
    expires_at = datetime(1970, 1, 1) + timedelta(seconds=expiry)
    if now >= expires_at:
        raise LinkError("expired", "This payment link has expired.")
    return PayLink(invoice_id=invoice_id, expires_at=expires_at, token=token)
