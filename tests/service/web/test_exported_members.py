"""The web side's public surface: every public name of the private modules is
re-exported by the package, and everything in ``__all__`` exists."""

from __future__ import annotations

import importlib
import pkgutil

import pytest


@pytest.mark.parametrize("package", ["cloverpay.service.web", "cloverpay.service.dashboard"])
def test_exported_members(package: str) -> None:
    pkg = importlib.import_module(package)
    exported = set(pkg.__all__)
    for name in exported:
        assert hasattr(pkg, name), f"{package}.{name} is in __all__ but missing"
    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_") or info.name.startswith("_routes"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        for name in getattr(module, "__all__", []):
            if info.name in ("_common", "_templates"):  # internals of the pages
                continue
            assert name in exported, f"{package}.{info.name}.{name} is not re-exported"
