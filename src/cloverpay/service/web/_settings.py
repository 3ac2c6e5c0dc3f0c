"""Settings of the web side (prefix ``CLOVERPAY_``, same ``.env`` as the core).

``CLOVERPAY_PAY_LINK_KEY`` signs pay links; without it a key is derived from the core's
``CLOVERPAY_SECRET_KEY`` (so production, which requires that key, gets a real one).
``CLOVERPAY_PUBLIC_URL`` is where payers reach the service (links in emails).
``CLOVERPAY_CLOVER_SDK_URL`` is Clover's iframe script; by default the one of the
merchant's Clover host (``https://checkout.sandbox.dev.clover.com/sdk.js`` for the sandbox
environment, the merchant's base URL + ``/sdk.js`` for a local cloverpay sandbox).
``CLOVERPAY_SMTP_HOST`` unset means emails are captured in the outbox, not sent.
"""

from __future__ import annotations

import hashlib
import hmac

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from cloverpay.service.core.config import Settings

__all__ = ["CLOVER_SDK_URLS", "WebSettings", "pay_link_key", "session_key"]

#: Clover's published iframe SDK per environment (docs.clover.com, "Using the iframe").
CLOVER_SDK_URLS = {
    "sandbox": "https://checkout.sandbox.dev.clover.com/sdk.js",
    "production": "https://checkout.clover.com/sdk.js",
}


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLOVERPAY_", env_file=".env", extra="ignore")

    public_url: str = "http://127.0.0.1:8000"
    pay_link_key: SecretStr | None = None
    #: How long a pay link stays valid.
    pay_link_ttl_s: int = 14 * 24 * 3600
    clover_sdk_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    email_from: str = "billing@cloverpay.invalid"
    #: Staff session lifetime.
    session_ttl_s: int = 12 * 3600
    #: Cookies with ``Secure`` (set it when served over https).
    secure_cookies: bool = False

    def __repr__(self) -> str:
        return f"WebSettings(public_url={self.public_url!r}, smtp_host={self.smtp_host!r})"


def _derive(settings: Settings, label: bytes) -> bytes:
    return hmac.new(settings.fernet_key(), label, hashlib.sha256).digest()


def pay_link_key(settings: Settings, web: WebSettings) -> bytes:
    if web.pay_link_key is not None:
        return web.pay_link_key.get_secret_value().encode()
    return _derive(settings, b"cloverpay pay links v1")


def session_key(settings: Settings) -> bytes:
    return _derive(settings, b"cloverpay staff sessions v1")
