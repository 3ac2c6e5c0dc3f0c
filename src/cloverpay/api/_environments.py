"""Clover environments: which host serves which API (spec §1).

Hosts, all under ``.clover.com`` (``api.eu`` is ``https://api.eu.clover.com``):

===============  =================  =======  =======  ==========
service          sandbox            prod NA  prod EU  prod LATAM
===============  =================  =======  =======  ==========
rest (v3)        apisandbox.dev     api      api.eu   api.la
ecommerce        scl-sandbox.dev    scl      —        —
tokens           token-sandbox.dev  token    —        —
oauth_authorize  sandbox.dev        www      www.eu   www.la
oauth            apisandbox.dev     api      api.eu   api.la
checkout         apisandbox.dev     api      —        —
recurring        sandbox.dev        www [G]  —        —
===============  =================  =======  =======  ==========

The production Recurring host is a guess (Clover documents sandbox examples only), and
Hosted Checkout is served by both ``api.`` and ``www.`` hosts in production; both can be
changed with ``dataclasses.replace(PRODUCTION_NA, recurring="https://...")``.
A service marked — is not offered in that region: using it raises
:class:`~cloverpay.api.ConfigurationError`.

``Environment.custom(base_url)`` points every service at one URL, which is how the
client talks to the offline sandbox (it serves every host's paths on one port).
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from typing import Literal

from cloverpay.api._errors import ConfigurationError

__all__ = [
    "PRODUCTION_EU",
    "PRODUCTION_LATAM",
    "PRODUCTION_NA",
    "SANDBOX",
    "Environment",
    "Region",
    "Service",
    "resolve_environment",
]


class Service(StrEnum):
    """One of Clover's HTTP APIs, each served from its own host."""

    REST = "rest"
    ECOMMERCE = "ecommerce"
    TOKENS = "tokens"
    OAUTH_AUTHORIZE = "oauth_authorize"
    OAUTH = "oauth"
    CHECKOUT = "checkout"
    RECURRING = "recurring"


class Region(StrEnum):
    """Clover's production regions."""

    NORTH_AMERICA = "na"
    EUROPE = "eu"
    LATIN_AMERICA = "latam"


@dataclasses.dataclass(frozen=True, slots=True)
class Environment:
    """Base URLs (scheme + host, no trailing slash) of each Clover API in one environment.

    ``None`` means the service is not available there.
    """

    name: str
    rest: str
    oauth_authorize: str
    oauth: str
    ecommerce: str | None = None
    tokens: str | None = None
    checkout: str | None = None
    recurring: str | None = None

    def url_for(self, service: Service) -> str:
        """Base URL of ``service``; raises ConfigurationError if the region lacks it."""
        url: str | None = getattr(self, service.value)
        if url is None:
            raise ConfigurationError(
                f"the {service.value} API is not available in the {self.name!r} environment "
                "(Clover offers Ecommerce, Tokens, Hosted Checkout and Recurring in North "
                "America only)",
                param="environment",
            )
        return url

    @classmethod
    def custom(cls, base_url: str, *, name: str = "custom") -> Environment:
        """One base URL for every service (e.g. the offline sandbox)."""
        if not base_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"base_url must start with http:// or https://, got {base_url!r}",
                param="base_url",
            )
        url = base_url.rstrip("/")
        return cls(
            name=name,
            rest=url,
            oauth_authorize=url,
            oauth=url,
            ecommerce=url,
            tokens=url,
            checkout=url,
            recurring=url,
        )

    def __repr__(self) -> str:
        return f"Environment({self.name!r}, rest={self.rest!r})"


SANDBOX = Environment(
    name="sandbox",
    rest="https://apisandbox.dev.clover.com",
    oauth_authorize="https://sandbox.dev.clover.com",
    oauth="https://apisandbox.dev.clover.com",
    ecommerce="https://scl-sandbox.dev.clover.com",
    tokens="https://token-sandbox.dev.clover.com",
    checkout="https://apisandbox.dev.clover.com",
    recurring="https://sandbox.dev.clover.com",
)
PRODUCTION_NA = Environment(
    name="production-na",
    rest="https://api.clover.com",
    oauth_authorize="https://www.clover.com",
    oauth="https://api.clover.com",
    ecommerce="https://scl.clover.com",
    tokens="https://token.clover.com",
    checkout="https://api.clover.com",
    recurring="https://www.clover.com",
)
PRODUCTION_EU = Environment(
    name="production-eu",
    rest="https://api.eu.clover.com",
    oauth_authorize="https://www.eu.clover.com",
    oauth="https://api.eu.clover.com",
)
PRODUCTION_LATAM = Environment(
    name="production-latam",
    rest="https://api.la.clover.com",
    oauth_authorize="https://www.la.clover.com",
    oauth="https://api.la.clover.com",
)

_BY_REGION = {
    Region.NORTH_AMERICA: PRODUCTION_NA,
    Region.EUROPE: PRODUCTION_EU,
    Region.LATIN_AMERICA: PRODUCTION_LATAM,
}

EnvironmentName = Literal["sandbox", "production"]


def resolve_environment(
    environment: Environment | EnvironmentName | None = None,
    *,
    region: Region | Literal["na", "eu", "latam"] | None = None,
    base_url: str | None = None,
) -> Environment:
    """Pick the environment from the client's constructor arguments.

    ``base_url`` wins and excludes the others; ``"production"`` needs a region
    (default North America); the sandbox exists in North America only.
    """
    if base_url is not None:
        if environment is not None or region is not None:
            raise ConfigurationError(
                "pass either base_url or environment/region, not both", param="base_url"
            )
        return Environment.custom(base_url)
    if isinstance(environment, Environment):
        if region is not None:
            raise ConfigurationError(
                "region applies only to environment='production'", param="region"
            )
        return environment
    try:
        reg = Region(region) if region is not None else Region.NORTH_AMERICA
    except ValueError:
        raise ConfigurationError(
            f"unknown region {region!r}; expected one of 'na', 'eu', 'latam'", param="region"
        ) from None
    if environment is None or environment == "sandbox":
        if reg is not Region.NORTH_AMERICA:
            raise ConfigurationError(
                "Clover's sandbox exists in North America only", param="region"
            )
        return SANDBOX
    if environment == "production":
        return _BY_REGION[reg]
    raise ConfigurationError(
        f"unknown environment {environment!r}; expected 'sandbox', 'production' or an Environment",
        param="environment",
    )
