"""The service's pool of connections to Clover drops an idle connection before servers
usually close it (and before the sandbox does), so it does not reuse one the server is
closing at that instant. Configuration only: no test here waits for a clock."""

from __future__ import annotations

import httpx
import pytest
import uvicorn
from cryptography.fernet import Fernet
from pydantic import ValidationError

from cloverpay.sandbox import KEEPALIVE_S
from cloverpay.service.core.config import Settings
from cloverpay.service.core.security import TokenCipher
from cloverpay.service.gateway import CloverGateway


def _pool_expiry(gateway: CloverGateway) -> float | None:
    expiry: float | None = gateway.http._transport._pool._keepalive_expiry  # type: ignore[attr-defined]
    return expiry


def _gateway(**settings: object) -> CloverGateway:
    return CloverGateway(
        Settings(env="test", **settings),  # type: ignore[arg-type]
        TokenCipher(Fernet.generate_key()),
    )


def test_pool_keepalive_expiry_comes_from_the_settings() -> None:
    gateway = _gateway(clover_keepalive_expiry_s=1.25)
    try:
        assert _pool_expiry(gateway) == 1.25
    finally:
        gateway.close()


def test_default_is_below_what_servers_usually_allow_and_below_the_sandbox() -> None:
    gateway = _gateway()
    try:
        expiry = _pool_expiry(gateway)
    finally:
        gateway.close()
    assert expiry == Settings(env="test").clover_keepalive_expiry_s
    assert expiry is not None
    assert expiry < uvicorn.Config(app=None).timeout_keep_alive  # uvicorn's default, 5 s
    assert expiry < httpx.Limits(max_connections=None).keepalive_expiry  # type: ignore[operator]
    assert expiry < KEEPALIVE_S


@pytest.mark.parametrize("value", [0, -1])
def test_expiry_must_be_positive(value: float) -> None:
    with pytest.raises(ValidationError, match="clover_keepalive_expiry_s"):
        Settings(env="test", clover_keepalive_expiry_s=value)
