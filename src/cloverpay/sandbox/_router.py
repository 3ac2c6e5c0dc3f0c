"""A Starlette router that only tries the routes that can match a path.

Starlette's router tries every route in order (a regex each); with every Clover host's
paths on one app that is ~80 attempts for a late route such as ``POST /v1/tokens``.
:class:`IndexedRouter` buckets routes by the literal first two path segments
(``("v1", "tokens")``); a request tries its bucket plus the routes that cannot be
bucketed (mounts, parameters in the first two segments), in the original order, so
the first full match is the same route Starlette would pick. Anything unmatched (404,
405 from elsewhere, trailing-slash redirects) falls back to Starlette's full scan,
which keeps its exact behaviour. The index rebuilds itself when ``routes`` changes.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Match, Route, Router, WebSocketRoute
from starlette.types import Receive, Scope, Send

__all__ = ["IndexedRouter"]

_Key = tuple[str, ...]


def _key(path: str) -> _Key:
    parts = [p for p in path.split("/") if p]
    return tuple(parts[:2])


def _route_key(route: BaseRoute) -> _Key | None:
    """The bucket of a route, or ``None`` if it must be tried for every path."""
    if not isinstance(route, Route | WebSocketRoute):
        return None  # Mount, Host, custom routes
    key = _key(route.path)
    if any("{" in part for part in key):
        return None
    return key


class IndexedRouter(Router):
    _index_version: tuple[int, int] = (0, -1)
    _buckets: dict[_Key, list[tuple[int, BaseRoute]]]
    _always: list[tuple[int, BaseRoute]]
    _cache: dict[_Key, list[BaseRoute]]

    def _reindex(self) -> None:
        self._buckets, self._always, self._cache = {}, [], {}
        for i, route in enumerate(self.routes):
            key = _route_key(route)
            if key is None:
                self._always.append((i, route))
            else:
                self._buckets.setdefault(key, []).append((i, route))
        self._index_version = (id(self.routes), len(self.routes))

    def candidates(self, path: str) -> list[BaseRoute]:
        if self._index_version != (id(self.routes), len(self.routes)):
            self._reindex()
        key = _key(path)
        found = self._cache.get(key)
        if found is None:
            merged = sorted(self._buckets.get(key, []) + self._always, key=lambda p: p[0])
            found = [route for _, route in merged]
            if len(self._cache) < 4096:
                self._cache[key] = found
        return found

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().app(scope, receive, send)
            return
        if "router" not in scope:
            scope["router"] = self
        partial = None
        partial_scope: Scope = {}
        for route in self.candidates(scope["path"]):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope["route"] = route
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
            if match is Match.PARTIAL and partial is None:
                partial, partial_scope = route, child_scope
        if partial is not None:
            scope["route"] = partial
            scope.update(partial_scope)
            await partial.handle(scope, receive, send)
            return
        await super().app(scope, receive, send)
