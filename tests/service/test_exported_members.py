"""Each package's ``__all__`` is complete and every name in it exists."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "cloverpay.service.core",
    "cloverpay.service.db",
    "cloverpay.service.domain",
    "cloverpay.service.services",
    "cloverpay.service.services.invoices",
    "cloverpay.service.api",
    "cloverpay.service.webhooks",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_exist(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    for attr in exported:
        assert hasattr(module, attr), f"{name}.{attr} is in __all__ but missing"


@pytest.mark.parametrize("private", ["_create", "_open", "_read", "_status"])
def test_invoices_package_re_exports(private: str) -> None:
    package = importlib.import_module("cloverpay.service.services.invoices")
    module = importlib.import_module(f"cloverpay.service.services.invoices.{private}")
    for name in module.__all__:
        assert name in package.__all__, f"invoices.{private}.{name} is not re-exported"
        assert getattr(package, name) is getattr(module, name)


def test_bare_import_needs_no_extra() -> None:
    module = importlib.import_module("cloverpay.service")
    assert module.__all__ == []
