"""Which payload class parses which method."""

from __future__ import annotations

from typing import Final

from . import _messages_device, _messages_payments, _messages_session, _messages_tx
from ._message import Message
from ._methods import Method

__all__ = ["MESSAGE_CLASSES"]


def _collect() -> dict[Method, type[Message]]:
    found: dict[Method, type[Message]] = {}
    for module in (_messages_session, _messages_tx, _messages_payments, _messages_device):
        for name in module.__all__:
            cls = getattr(module, name)
            if cls.METHOD in found:  # pragma: no cover - a programming error
                raise RuntimeError(f"two payload classes for {cls.METHOD}")
            found[cls.METHOD] = cls
    return found


MESSAGE_CLASSES: Final[dict[Method, type[Message]]] = _collect()
"""Typed payload class per method; methods not listed parse as ``UntypedMessage``."""
