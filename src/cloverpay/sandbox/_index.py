"""Sorted indexes behind every list endpoint: cursor paging without scans.

A :class:`ListIndex` keeps ``(created_ms, seq, id)`` keys in ascending order (new
objects almost always append at the end) plus a dict from id to key. Pages are
newest-first, like Clover's and Stripe's lists; ``starting_after`` / ``ending_before``
and ``created.gt|gte|lt|lte`` become ``bisect`` bounds, so a page costs
O(log n + limit) whatever the number of stored objects.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from ._errors import resource_missing

__all__ = ["ListIndex", "Page", "Store"]

T = TypeVar("T", bound="_Owned")


class _Owned(Protocol):
    @property
    def merchant_id(self) -> str: ...


_seq = itertools.count()


@dataclass(frozen=True, slots=True)
class Page:
    """One page of ids, newest first."""

    ids: list[str]
    has_more: bool


class ListIndex:
    """Ids ordered by creation time; cheap insert at the end, O(log n) cursors."""

    __slots__ = ("_keys", "_pos")

    def __init__(self) -> None:
        self._keys: list[tuple[int, int, str]] = []
        self._pos: dict[str, tuple[int, int, str]] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, object_id: object) -> bool:
        return object_id in self._pos

    def add(self, object_id: str, created_ms: int) -> None:
        if object_id in self._pos:
            return
        key = (created_ms, next(_seq), object_id)
        self._pos[object_id] = key
        if not self._keys or self._keys[-1] < key:
            self._keys.append(key)
        else:
            bisect.insort(self._keys, key)

    def remove(self, object_id: str) -> None:
        key = self._pos.pop(object_id, None)
        if key is not None:
            i = bisect.bisect_left(self._keys, key)
            del self._keys[i]

    def position(self, object_id: str) -> int | None:
        key = self._pos.get(object_id)
        return None if key is None else bisect.bisect_left(self._keys, key)

    def page(
        self,
        limit: int,
        starting_after: int | None = None,
        ending_before: int | None = None,
        created_gt: int | None = None,
        created_gte: int | None = None,
        created_lt: int | None = None,
        created_lte: int | None = None,
    ) -> Page:
        """A newest-first page. ``starting_after``/``ending_before`` are positions from
        :meth:`position` (the caller turns unknown ids into 404s)."""
        keys = self._keys
        lo, hi = 0, len(keys)
        if created_gt is not None:
            lo = max(lo, bisect.bisect_left(keys, (created_gt + 1,)))
        if created_gte is not None:
            lo = max(lo, bisect.bisect_left(keys, (created_gte,)))
        if created_lt is not None:
            hi = min(hi, bisect.bisect_left(keys, (created_lt,)))
        if created_lte is not None:
            hi = min(hi, bisect.bisect_left(keys, (created_lte + 1,)))
        if starting_after is not None:  # older than the cursor
            hi = min(hi, starting_after)
        if ending_before is not None:  # newer than the cursor
            lo = max(lo, ending_before + 1)
            end = min(hi, lo + limit)
            ids = [k[2] for k in reversed(keys[lo:end])] if end > lo else []
            return Page(ids, end < hi)
        start = max(lo, hi - limit)
        ids = [k[2] for k in reversed(keys[start:hi])] if hi > start else []
        return Page(ids, start > lo)


class Store(Generic[T]):
    """Objects of one kind keyed by id, plus named :class:`ListIndex` es.

    Index names are chosen by the domain, e.g. the merchant id for "all of a
    merchant's charges" and ``f"{merchant_id}|customer|{customer_id}"`` for a filter.
    """

    __slots__ = ("indexes", "kind", "objects")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.objects: dict[str, T] = {}
        self.indexes: dict[str, ListIndex] = {}

    def __len__(self) -> int:
        return len(self.objects)

    def __iter__(self) -> Iterator[T]:
        return iter(self.objects.values())

    def index(self, name: str) -> ListIndex:
        idx = self.indexes.get(name)
        if idx is None:
            idx = self.indexes[name] = ListIndex()
        return idx

    def add(self, object_id: str, obj: T, created_ms: int, *index_names: str) -> None:
        self.objects[object_id] = obj
        for name in index_names:
            self.index(name).add(object_id, created_ms)

    def get(self, object_id: str, merchant_id: str) -> T | None:
        obj = self.objects.get(object_id)
        if obj is None or obj.merchant_id != merchant_id:
            return None
        return obj

    def require(self, object_id: str, merchant_id: str, param: str = "id") -> T:
        """The object, or a 404 ``resource_missing`` naming ``param``."""
        obj = self.get(object_id, merchant_id)
        if obj is None:
            raise resource_missing(self.kind, object_id, param)
        return obj

    def remove(self, object_id: str, *index_names: str) -> None:
        self.objects.pop(object_id, None)
        for name in index_names:
            idx = self.indexes.get(name)
            if idx is not None:
                idx.remove(object_id)
