"""IndexedRouter picks exactly the route Starlette's full scan would pick."""

from __future__ import annotations

import re

import httpx
from starlette.routing import Match, Route

from cloverpay.sandbox import Sandbox
from cloverpay.sandbox._router import IndexedRouter


def _example_path(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "X1", path)


def _first_full_match(routes: list, scope: dict) -> object | None:
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
    return None


def test_same_choice_as_full_scan(sandbox: Sandbox) -> None:
    router = sandbox.app.router
    assert isinstance(router, IndexedRouter)
    checked = 0
    for route in router.routes:
        if not isinstance(route, Route):
            continue
        path = _example_path(route.path)
        for method in sorted(route.methods or {"GET"}):
            scope = {"type": "http", "path": path, "method": method, "root_path": ""}
            expected = _first_full_match(router.routes, scope)
            got = _first_full_match(router.candidates(path), scope)
            assert got is expected, (method, path)
            checked += 1
    assert checked > 40


def test_fallbacks_keep_starlette_behaviour(http: httpx.Client) -> None:
    assert http.get("/nowhere/at/all").status_code == 404
    assert http.put("/v1/charges").status_code == 405
    r = http.get("/v1/charges/", follow_redirects=False)
    assert r.status_code in (307, 404)


def test_index_follows_route_changes(sandbox: Sandbox, http: httpx.Client) -> None:
    from starlette.responses import PlainTextResponse

    async def hello(request: object) -> PlainTextResponse:
        return PlainTextResponse("hi")

    assert http.get("/zz/added").status_code == 404
    sandbox.app.router.routes.append(Route("/zz/added", hello))
    assert http.get("/zz/added").text == "hi"
