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
