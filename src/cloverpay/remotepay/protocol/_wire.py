"""The base of every payload model, and Clover's ``{"elements": [...]}`` array wrapper.

Payload models are frozen pydantic models (validation and JSON in pydantic-core, which
keeps a TX_START/FINISH_OK round trip within the benchmark goal). Conventions:

- Python names are snake_case; wire names are Clover's camelCase (``alias``).
- Unknown fields are kept aside in ``model_extra`` and written back unchanged.
- Encoding writes exactly the fields that were *set* (given to the constructor or
  present in the parsed frame, explicit ``null`` included): a parsed frame re-encodes
  to an equivalent frame, and a field you did not set is not sent.
- Arrays nested inside objects are Clover "elements wrappers" on the wire; both the
  wrapped and the bare form are accepted (like the JS SDK), the wrapped form is written.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, SerializerFunctionWrapHandler
from pydantic.alias_generators import to_camel
from pydantic.functional_serializers import WrapSerializer

__all__ = ["ElementsList", "WireModel", "unwrap_elements", "wrap_elements"]

T = TypeVar("T")


class WireModel(BaseModel):
    """Frozen, camelCase on the wire, unknown fields kept in ``model_extra``."""

    model_config = ConfigDict(
        frozen=True,
        extra="allow",
        alias_generator=to_camel,
        populate_by_name=True,
        strict=False,
        ser_json_inf_nan="null",
        hide_input_in_errors=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The wire form as a JSON-ready dict (set fields only, wire names)."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


def unwrap_elements(value: Any) -> Any:
    """``{"elements": [...]}`` → ``[...]``; a bare list or anything else unchanged."""
    if isinstance(value, dict) and set(value) <= {"elements"}:
        return value.get("elements", [])
    return value


def wrap_elements(value: Any, handler: SerializerFunctionWrapHandler) -> Any:
    return {"elements": handler(value)}


ElementsList = Annotated[
    list[T],
    BeforeValidator(unwrap_elements),
    WrapSerializer(wrap_elements),
]
"""A nested array: accepts bare or ``{"elements": [...]}``, writes the wrapper."""
