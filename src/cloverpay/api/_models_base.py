"""Shared model bases and list envelopes.

Every model keeps unknown fields (``extra="allow"``): Clover adds fields without
notice, and a payments system must not drop what it was told. Fields whose values
Clover documents are typed ``Literal[...] | str`` so new values from the server still
parse.

Validators are built on first use (``defer_build=True``), not at import: a program
pays only for the models it reads, and ``import cloverpay.api`` stays cheaper
(bench/import_time.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator
from pydantic.alias_generators import to_camel

__all__ = [
    "CamelModel",
    "CloverModel",
    "DeletedObject",
    "ElementsList",
    "ListObject",
    "NumStr",
]

T = TypeVar("T")


def _unwrap_elements(value: Any) -> Any:
    """Accept both ``[...]`` and ``{"elements": [...]}`` (spec §6.4 [!])."""
    if isinstance(value, dict) and "elements" in value:
        return value["elements"]
    return value


def _num_to_str(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


#: A list that may arrive wrapped as ``{"elements": [...]}``.
ElementsList = Annotated[list[T], BeforeValidator(_unwrap_elements)]
#: A string that older Clover responses sometimes send as a number (ref_num, auth_code).
NumStr = Annotated[str, BeforeValidator(_num_to_str)]


class CloverModel(BaseModel):
    """Base of Ecommerce models (Clover's snake_case field names)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)


class CamelModel(BaseModel):
    """Base of models whose wire names are camelCase (Platform v3, Recurring, Checkout).

    Python attribute names are snake_case (``interval_count``); the wire name
    (``intervalCount``) is the alias, used by ``model_dump(by_alias=True)``.
    """

    model_config = ConfigDict(
        extra="allow", populate_by_name=True, alias_generator=to_camel, defer_build=True
    )


class ListObject(CloverModel, Generic[T]):
    """A page of a list, whatever envelope Clover used.

    Accepted shapes: Ecommerce ``{"object": "list", "data": [...], "has_more": ...}``,
    its older form ``{"data": {"elements": [...]}}`` (spec §6.4 [!]), Platform v3
    ``{"elements": [...], "href": ...}`` and a bare JSON array (Recurring).
    """

    object: str | None = "list"
    url: str | None = None
    has_more: bool | None = None
    data: list[T] = []

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {"data": value}
        if isinstance(value, dict):
            data = value.get("data")
            if isinstance(data, dict) and "elements" in data:
                return {**value, "data": data["elements"]}
            if data is None and "elements" in value:
                rest = {k: v for k, v in value.items() if k != "elements"}
                rest["data"] = value["elements"]
                if "href" in rest and "url" not in rest:
                    rest["url"] = rest.pop("href")
                return rest
        return value


class DeletedObject(CloverModel):
    """Answer to a delete: ``{"id": ..., "object": "deletedcard", "deleted": true}``."""

    id: str | None = None
    object: str | None = None
    deleted: bool | None = None
