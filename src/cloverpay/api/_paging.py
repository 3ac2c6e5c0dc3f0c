"""Auto-paging lists: ``for charge in client.charges.list()`` / ``async for ...``.

Nothing is fetched until iteration starts; each page is fetched when the previous
one is used up. Pages follow ``starting_after`` cursors (Ecommerce) or ``offset``
(Platform v3); see :class:`~cloverpay.api._operation.ListSpec`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Generic, TypeVar

from cloverpay.api._models_base import ListObject
from cloverpay.api._operation import ListSpec, Operation

__all__ = ["AsyncPager", "SyncPager"]

T = TypeVar("T")


class SyncPager(Generic[T]):
    """Iterate every item of a list, fetching pages as needed."""

    __slots__ = ("_request", "_spec")

    def __init__(self, request: Callable[[Operation[Any]], Any], spec: ListSpec[T]) -> None:
        self._request = request
        self._spec = spec

    def pages(self) -> Iterator[ListObject[T]]:
        """Iterate the raw pages (envelopes), each fetched lazily."""
        params: dict[str, str] | None = self._spec.params
        while params is not None:
            page: ListObject[T] = self._request(self._spec.make(params))
            yield page
            params = self._spec.next_params(params, page)

    def first_page(self) -> ListObject[T]:
        """Fetch only the first page."""
        return next(self.pages())

    def __iter__(self) -> Iterator[T]:
        for page in self.pages():
            yield from page.data

    def to_list(self) -> list[T]:
        """Fetch every page and return all items."""
        return list(self)


class AsyncPager(Generic[T]):
    """``async for`` over every item of a list, fetching pages as needed."""

    __slots__ = ("_request", "_spec")

    def __init__(
        self, request: Callable[[Operation[Any]], Awaitable[Any]], spec: ListSpec[T]
    ) -> None:
        self._request = request
        self._spec = spec

    async def pages(self) -> AsyncIterator[ListObject[T]]:
        """Iterate the raw pages (envelopes), each fetched lazily."""
        params: dict[str, str] | None = self._spec.params
        while params is not None:
            page: ListObject[T] = await self._request(self._spec.make(params))
            yield page
            params = self._spec.next_params(params, page)

    async def first_page(self) -> ListObject[T]:
        """Fetch only the first page."""
        return await self._request(self._spec.make(self._spec.params))  # type: ignore[no-any-return]

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page.data:
                yield item

    async def to_list(self) -> list[T]:
        """Fetch every page and return all items."""
        return [item async for item in self]
