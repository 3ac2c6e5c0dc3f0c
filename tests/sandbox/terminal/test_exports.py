"""The public surface of cloverpay.sandbox.terminal is explicit and complete."""

from __future__ import annotations

import importlib
import pkgutil

import cloverpay.sandbox as sandbox_pkg
import cloverpay.sandbox.terminal as terminal_pkg


def test_every_public_name_of_private_modules_is_exported() -> None:
    exported = set(terminal_pkg.__all__)
    for info in pkgutil.iter_modules(terminal_pkg.__path__):
        module = importlib.import_module(f"{terminal_pkg.__name__}.{info.name}")
        for name in getattr(module, "__all__", []):
            assert name in exported, f"{info.name}.{name} is not re-exported"
    for name in terminal_pkg.__all__:
        assert hasattr(terminal_pkg, name), name


def test_user_facing_names_are_on_the_sandbox_package() -> None:
    for name in ("TerminalServer", "CustomerScript", "terminal_for", "TerminalSettings"):
        assert getattr(sandbox_pkg, name) is getattr(terminal_pkg, name)
