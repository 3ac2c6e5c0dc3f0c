"""The base of typed payloads, and the stand-in for methods without a typed payload."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic_core import to_json

from ._methods import Method
from ._wire import WireModel

__all__ = ["Message", "UntypedMessage"]


class Message(WireModel):
    """A typed payload of one :class:`Method`.

    The payload's own ``method``, ``messageId`` and ``version`` keys are envelope
    bookkeeping: the core reads and writes them, the model does not hold them.
    ``VERSION`` is the inner version the official SDKs send for this method.
    """

    METHOD: ClassVar[Method]
    VERSION: ClassVar[int] = 0

    @property
    def method(self) -> Method:
        return self.METHOD

    def to_json(self) -> str:
        """The payload body as compact JSON (set fields only, wire names)."""
        # the serializer directly: model_dump_json() adds a Python layer per call
        raw = self.__pydantic_serializer__.to_json(self, by_alias=True, exclude_unset=True)
        return raw.decode()


@dataclass(frozen=True, slots=True)
class UntypedMessage:
    """A known method that has no typed payload model (yet): fields kept as parsed."""

    method: Method
    fields: Mapping[str, Any] = field(default_factory=dict)
    VERSION: ClassVar[int] = 0

    def __repr__(self) -> str:  # field values may hold anything: show names only
        return f"UntypedMessage(method={self.method.value!r}, fields={sorted(self.fields)!r})"

    def to_wire(self) -> dict[str, Any]:
        return dict(self.fields)

    def to_json(self) -> str:
        return to_json(self.fields).decode()
