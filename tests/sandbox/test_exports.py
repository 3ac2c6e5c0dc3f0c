"""The public surface of cloverpay.sandbox is explicit and complete."""

from __future__ import annotations

import importlib
import pkgutil

import cloverpay.sandbox as sandbox_pkg


def test_all_names_exist() -> None:
    for name in sandbox_pkg.__all__:
        assert hasattr(sandbox_pkg, name), name


def test_every_public_name_of_private_modules_is_exported() -> None:
    exported = set(sandbox_pkg.__all__)
    # helpers for route modules (errors helpers, body parsing, auth): not user API
    internal_only = {
        "_asgi",
        "_auth",
        "_errors",
        "_http",
        "_middleware",
        "_order_states",
        "_orders",
        "_payments",
        "_settlement",
        "_records",
        "_router",
        "_validate",
    }
    for info in pkgutil.iter_modules(sandbox_pkg.__path__):
        if not info.name.startswith("_") or info.name in internal_only:
            continue
        module = importlib.import_module(f"cloverpay.sandbox.{info.name}")
        for name in getattr(module, "__all__", []):
            assert name in exported, f"{info.name}.{name} is not re-exported"


def test_user_facing_names() -> None:
    for name in ("Sandbox", "SandboxServer", "SandboxError", "SandboxState", "create_app"):
        assert name in sandbox_pkg.__all__


def test_route_modules_expose_routes() -> None:
    from cloverpay.sandbox._app import route_modules

    mods = route_modules()
    assert mods
    for module in mods:
        assert isinstance(module.routes, list), module.__name__
