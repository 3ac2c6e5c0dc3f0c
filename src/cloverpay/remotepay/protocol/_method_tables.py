"""What each Remote Pay method and typed payload class fixes (who may send it, the
session trigger when it is fixed, the payload version), computed once at import so
the core looks each up once per frame."""

from __future__ import annotations

from typing import Any, Final

from ._enums import MessageType
from ._methods import DIRECTION, Direction, Method
from ._registry import MESSAGE_CLASSES
from ._state import Trigger, static_trigger

__all__: list[str] = []  # the core's own tables (imported by name)

_METHODS: Final = {m.value: m for m in Method}
#: per typed payload class: (method, who may send it, the trigger when it is fixed)
_STATIC: Final[dict[type, tuple[Method, Direction | None, Trigger | None]]] = {
    cls: (method, DIRECTION.get(method), static_trigger(cls))
    for method, cls in MESSAGE_CLASSES.items()
}
#: per method, for received COMMANDs: (who may send it, the typed payload's validator,
#: the trigger when it is fixed); methods without a typed payload have no validator
_RECEIVED: Final[dict[Method, tuple[Direction | None, Any, Trigger | None]]] = {
    method: (
        DIRECTION.get(method),
        cls.__pydantic_validator__ if cls is not None else None,
        static_trigger(cls) if cls is not None else None,
    )
    for method in Method
    for cls in (MESSAGE_CLASSES.get(method),)
}
_COMMAND: Final = MessageType.COMMAND
#: per typed payload class, for :meth:`RemotePayProtocol.send`'s usual case: method,
#: who may send it, fixed trigger, the method as plain text, inner version (POS, device)
_SENT: Final[dict[type, tuple[Method, Direction | None, Trigger | None, str, int, int]]] = {
    cls: (
        method,
        DIRECTION.get(method),
        static_trigger(cls),
        method.value,
        cls.VERSION,
        max(1, cls.VERSION),
    )
    for method, cls in MESSAGE_CLASSES.items()
}
