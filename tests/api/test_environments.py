from __future__ import annotations

import dataclasses

import pytest

from cloverpay.api import (
    PRODUCTION_EU,
    PRODUCTION_LATAM,
    PRODUCTION_NA,
    SANDBOX,
    ConfigurationError,
    Environment,
    Service,
)
from cloverpay.api._environments import resolve_environment


def test_sandbox_hosts() -> None:
    assert SANDBOX.url_for(Service.ECOMMERCE) == "https://scl-sandbox.dev.clover.com"
    assert SANDBOX.url_for(Service.TOKENS) == "https://token-sandbox.dev.clover.com"
    assert SANDBOX.url_for(Service.REST) == "https://apisandbox.dev.clover.com"
    assert SANDBOX.url_for(Service.OAUTH_AUTHORIZE) == "https://sandbox.dev.clover.com"
    assert SANDBOX.url_for(Service.OAUTH) == "https://apisandbox.dev.clover.com"
    assert SANDBOX.url_for(Service.CHECKOUT) == "https://apisandbox.dev.clover.com"
    assert SANDBOX.url_for(Service.RECURRING) == "https://sandbox.dev.clover.com"


def test_production_regions() -> None:
    assert PRODUCTION_NA.url_for(Service.ECOMMERCE) == "https://scl.clover.com"
    assert PRODUCTION_NA.url_for(Service.TOKENS) == "https://token.clover.com"
    assert PRODUCTION_EU.url_for(Service.REST) == "https://api.eu.clover.com"
    assert PRODUCTION_EU.url_for(Service.OAUTH_AUTHORIZE) == "https://www.eu.clover.com"
    assert PRODUCTION_LATAM.url_for(Service.OAUTH) == "https://api.la.clover.com"


@pytest.mark.parametrize("env", [PRODUCTION_EU, PRODUCTION_LATAM])
@pytest.mark.parametrize(
    "service", [Service.ECOMMERCE, Service.TOKENS, Service.CHECKOUT, Service.RECURRING]
)
def test_north_america_only_services_raise(env: Environment, service: Service) -> None:
    with pytest.raises(ConfigurationError, match=service.value) as info:
        env.url_for(service)
    assert info.value.param == "environment"


def test_custom_base_url_serves_everything() -> None:
    env = Environment.custom("http://127.0.0.1:8080/")
    assert {env.url_for(s) for s in Service} == {"http://127.0.0.1:8080"}
    with pytest.raises(ConfigurationError):
        Environment.custom("127.0.0.1:8080")


def test_resolve() -> None:
    assert resolve_environment() is SANDBOX
    assert resolve_environment("sandbox") is SANDBOX
    assert resolve_environment("production") is PRODUCTION_NA
    assert resolve_environment("production", region="eu") is PRODUCTION_EU
    assert resolve_environment("production", region="latam") is PRODUCTION_LATAM
    assert resolve_environment(base_url="http://h:1").rest == "http://h:1"
    custom = dataclasses.replace(PRODUCTION_NA, recurring="https://www.example")
    assert resolve_environment(custom).recurring == "https://www.example"
    with pytest.raises(ConfigurationError):
        resolve_environment("production", region="mars")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        resolve_environment("sandbox", region="eu")
    with pytest.raises(ConfigurationError):
        resolve_environment("staging")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        resolve_environment("sandbox", base_url="http://h")
