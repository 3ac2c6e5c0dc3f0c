"""How to reach and trust a Clover device: directly on the LAN (Secure Network Pay
Display) or through Clover's cloud (Cloud Pay Display, ``cloud=CloudSettings(...)``)."""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from ._cloud import CloudSettings

__all__ = ["ConnectorConfig", "direct_url"]

DEFAULT_PORT = 12345


def direct_url(host: str, port: int = DEFAULT_PORT, *, secure: bool = True) -> str:
    """``wss://<host>:<port>/remote_pay`` (``ws://`` only with ``secure=False``)."""
    return f"{'wss' if secure else 'ws'}://{host}:{port}/remote_pay"


@dataclass(frozen=True, slots=True)
class ConnectorConfig:
    """Connector settings. Times are in seconds.

    Trust (``wss://``): give ``ca_file`` (a PEM bundle holding Clover's device roots, or
    your own CA for the sandbox) or ``pinned_sha256`` (hex SHA-256 of the device's DER
    certificate; the chain is then not checked, the exact certificate is). Device
    certificates name the device, not its LAN address, so ``check_hostname`` is off by
    default [guess: no real device certificate was available; turn it on if yours
    carries the address]. Plain ``ws://`` is refused unless ``allow_plain_ws`` is set.
    """

    url: str
    remote_application_id: str
    pos_name: str = "cloverpay"
    serial_number: str = "cloverpay-1"
    ca_file: str | None = None
    pinned_sha256: str | None = None
    check_hostname: bool = False
    allow_plain_ws: bool = False
    request_timeout: float = 120.0
    """Default wait for a device answer; a transaction waits for a customer."""
    connect_timeout: float = 10.0
    heartbeat_interval: float | None = 15.0
    """Application-level PING every so often once ready (None: off). The JS SDK keeps
    its own heartbeat off by default; devices answer PINGs per the SDKs [guess for real
    devices: if yours does not, set None, or every missed PONG drops the connection]."""
    heartbeat_timeout: float = 5.0
    """No PONG within this time: the connection is dropped and re-established."""
    reconnect_delay: float | None = 3.0
    """Delay before the first reconnect attempt (None: do not reconnect). Each attempt
    that does not reach a ready device doubles it, up to ``reconnect_max_delay``; a
    ready device resets it."""
    reconnect_max_delay: float = 30.0
    remote_source_sdk: str | None = None
    cloud: CloudSettings | None = None
    """Cloud Pay Display: ``url`` is then Clover's server (``https://www.clover.com/``)."""
    recovery_timeout: float | None = 30.0
    """After a transaction's answer is lost (connection drop, timeout), how long the
    connector spends finding out what happened: reconnecting, ``RETRIEVE_PAYMENT`` by
    externalPaymentId, then the REST lookup if one was given. None: raise
    :class:`OutcomeUnknownError` at once. Nothing is ever re-sent."""

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        schemes = ("http", "https") if self.cloud else ("ws", "wss")
        if parts.scheme not in schemes or not parts.hostname:
            if self.cloud:
                raise ValueError("url must be Clover's server, e.g. https://www.clover.com/")
            raise ValueError("url must be ws://host:port/remote_pay or wss://host:port/...")
        if parts.scheme in ("ws", "http") and not self.allow_plain_ws:
            raise ValueError(
                f"plain {parts.scheme}:// sends card flows unencrypted: set allow_plain_ws=True"
            )
        if not self.remote_application_id:
            raise ValueError("remote_application_id is required (the POS's Remote App ID)")
        if self.pinned_sha256 is not None:
            pin = self.pinned_sha256.replace(":", "").lower()
            if len(pin) != 64 or any(c not in "0123456789abcdef" for c in pin):
                raise ValueError("pinned_sha256 must be 64 hex digits")
        for name in ("request_timeout", "connect_timeout", "heartbeat_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.reconnect_delay is not None and self.reconnect_delay < 0:
            raise ValueError("reconnect_delay must be >= 0 or None")
        if self.reconnect_max_delay <= 0:
            raise ValueError("reconnect_max_delay must be positive")
        if self.recovery_timeout is not None and self.recovery_timeout <= 0:
            raise ValueError("recovery_timeout must be positive or None")
        if self.heartbeat_interval is not None and self.heartbeat_interval <= 0:
            raise ValueError("heartbeat_interval must be positive or None")

    @property
    def secure(self) -> bool:
        return urlsplit(self.url).scheme in ("wss", "https")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for ``wss://`` (None for ``ws://``)."""
        if not self.secure:
            return None
        if self.pinned_sha256 is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE  # the pin is checked after the handshake
            return ctx
        ctx = ssl.create_default_context(cafile=self.ca_file)
        ctx.check_hostname = self.check_hostname
        return ctx

    def pin_matches(self, der_certificate: bytes | None) -> bool:
        """True when no pin is set, or the peer certificate matches it."""
        if self.pinned_sha256 is None:
            return True
        if der_certificate is None:
            return False
        pin = self.pinned_sha256.replace(":", "").lower()
        return hashlib.sha256(der_certificate).hexdigest() == pin

    def next_reconnect_delay(self, current: float | None) -> float | None:
        """The wait after a failed attempt that waited ``current`` (None: the first)."""
        if self.reconnect_delay is None:
            return None
        if current is None:
            return self.reconnect_delay
        return min(max(current * 2, self.reconnect_delay), self.reconnect_max_delay)
