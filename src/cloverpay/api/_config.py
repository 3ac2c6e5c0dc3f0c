"""Constructor arguments shared by the sync and async clients, resolved once."""

from __future__ import annotations

import platform
from typing import Final, Literal

import httpx

from cloverpay import __version__
from cloverpay._redact import mask_secret
from cloverpay.api._environments import Environment, EnvironmentName, Region, resolve_environment
from cloverpay.api._errors import ConfigurationError
from cloverpay.api._limiter import RateLimit
from cloverpay.api._operation import client_ip as check_ip
from cloverpay.api._operation import path_id
from cloverpay.api._retry import RetryPolicy
from cloverpay.api._transport import RequestCore

__all__ = [
    "DEFAULT",
    "DEFAULT_TIMEOUT",
    "Default",
    "build_core",
    "client_repr",
    "resolve_retry",
    "resolve_timeout",
]


class Default:
    """Marker for "argument not given" where None has a meaning of its own."""

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Final = Default()

#: Connect fast, but give Clover time to answer a charge.
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)

USER_AGENT = f"cloverpay/{__version__} python/{platform.python_version()} httpx/{httpx.__version__}"


def build_core(
    *,
    access_token: str | None,
    merchant_id: str | None,
    api_access_key: str | None,
    environment: Environment | EnvironmentName | None,
    region: Region | Literal["na", "eu", "latam"] | None,
    base_url: str | None,
    client_ip: str | None,
    timeout: float | httpx.Timeout | None,
    retry: RetryPolicy | int | None,
    user_agent: str | None,
    http_timeout: httpx.Timeout | None,
) -> RequestCore:
    env = resolve_environment(environment, region=region, base_url=base_url)
    if merchant_id is not None:
        path_id("merchant_id", merchant_id)
    check_ip(client_ip)
    if access_token is not None and (not isinstance(access_token, str) or not access_token):
        raise ConfigurationError("access_token must be a non-empty string", param="access_token")
    if timeout is None:
        tmo = http_timeout or DEFAULT_TIMEOUT
    elif isinstance(timeout, httpx.Timeout):
        tmo = timeout
    else:
        tmo = httpx.Timeout(timeout)
    if retry is None:
        policy = RetryPolicy()
    elif isinstance(retry, int):
        policy = RetryPolicy(max_retries=retry)
    else:
        policy = retry
    ua = USER_AGENT if not user_agent else f"{user_agent} {USER_AGENT}"
    return RequestCore(
        environment=env,
        access_token=access_token,
        api_access_key=api_access_key,
        merchant_id=merchant_id,
        client_ip=client_ip,
        user_agent=ua,
        timeout=tmo,
        retry=policy,
    )


def resolve_rate_limit(rate_limit: RateLimit | Default | None) -> RateLimit | None:
    if isinstance(rate_limit, Default):
        return RateLimit()
    return rate_limit


def client_repr(name: str, core: RequestCore, access_token: str | None) -> str:
    return (
        f"{name}(environment={core.environment.name!r}, merchant_id={core.merchant_id!r}, "
        f"access_token={mask_secret(access_token)!r})"
    )


def resolve_timeout(timeout: float | httpx.Timeout | None) -> httpx.Timeout | None:
    if timeout is None or isinstance(timeout, httpx.Timeout):
        return timeout
    return httpx.Timeout(timeout)


def resolve_retry(retry: RetryPolicy | int | None) -> RetryPolicy | None:
    if retry is None or isinstance(retry, RetryPolicy):
        return retry
    return RetryPolicy(max_retries=retry)
