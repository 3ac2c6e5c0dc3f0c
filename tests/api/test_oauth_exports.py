"""The public names of the OAuth, webhook and encryption modules are all exported
from cloverpay.api, and nothing private leaks into ``__all__``."""

from __future__ import annotations

import importlib

import pytest

import cloverpay.api

MODULES = [
    "_encryption",
    "_oauth",
    "_oauth_auth",
    "_oauth_client",
    "_oauth_store",
    "_webhook_events",
    "_webhooks",
]


@pytest.mark.parametrize("module_name", MODULES)
def test_module_names_are_exported(module_name: str) -> None:
    module = importlib.import_module(f"cloverpay.api.{module_name}")
    for name in module.__all__:
        assert name in cloverpay.api.__all__, f"{module_name}.{name} missing from __all__"
        assert getattr(cloverpay.api, name) is getattr(module, name)


def test_all_is_public_and_resolvable() -> None:
    for name in cloverpay.api.__all__:
        assert not name.startswith("_")
        assert hasattr(cloverpay.api, name)
    assert len(set(cloverpay.api.__all__)) == len(cloverpay.api.__all__)


def test_errors_join_the_clover_error_tree() -> None:
    api = cloverpay.api
    for cls in (
        api.OAuthError,
        api.MissingTokenError,
        api.WebhookError,
        api.WebhookSignatureError,
        api.WebhookPayloadError,
        api.MissingCryptographyError,
    ):
        assert issubclass(cls, api.CloverError), cls
    assert issubclass(api.WebhookError, ValueError)
    assert issubclass(api.MissingCryptographyError, ImportError)
    for call in (
        lambda: api.OAuthClient(""),
        lambda: api.code_challenge("short"),
        lambda: api.verify_checkout_signature(b"", "t=1,v1=a", ""),
        lambda: api.verify_app_webhook("x", ""),
        lambda: api.encrypt_pan("12", "AAAA"),
        lambda: api.load_ta_keys({}, "staging"),
    ):
        with pytest.raises(api.ConfigurationError) as info:
            call()
        assert info.value.param
