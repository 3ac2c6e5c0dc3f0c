"""Each package's ``__all__`` is complete and every name in it exists."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "cloverpay.service.core",
    "cloverpay.service.db",
    "cloverpay.service.domain",
    "cloverpay.service.services",
    "cloverpay.service.api",
    "cloverpay.service.webhooks",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_exist(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    for attr in exported:
        assert hasattr(module, attr), f"{name}.{attr} is in __all__ but missing"


def test_bare_import_needs_no_extra() -> None:
    module = importlib.import_module("cloverpay.service")
    assert module.__all__ == []
