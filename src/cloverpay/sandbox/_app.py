"""The ASGI application: every Clover host's paths on one port.

Route modules live in :mod:`cloverpay.sandbox.routes`; each exposes
``routes: list[BaseRoute]`` and is picked up automatically (sorted by module name),
so a new domain adds a file and touches nothing else. A module may also define
``setup(state)``, called once per app (e.g. to subscribe to clock advances).

Middleware, outermost first (all pure ASGI):

1. :class:`~._middleware.EventsMiddleware`: logs every request, redacted;
2. :class:`~._middleware.CorsMiddleware`: browser-facing paths;
3. :class:`~._ratelimit.RateLimitMiddleware`: Clover's per-token limits, off by default;
4. :class:`~._faults.FaultMiddleware`: injected faults;
5. :class:`~._middleware.BodyMiddleware`: 1 MiB limit, JSON parsing;
6. :class:`~._idempotency.IdempotencyMiddleware`: ``idempotency-key`` replay/conflict.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from ._asgi import top_level_message
from ._errors import SandboxError, error_family
from ._faults import FaultMiddleware
from ._idempotency import IdempotencyMiddleware
from ._middleware import BodyMiddleware, CorsMiddleware, EventsMiddleware
from ._ratelimit import RateLimitMiddleware
from ._router import IndexedRouter
from ._state import SandboxState

__all__ = ["create_app", "route_modules"]


def route_modules() -> list[ModuleType]:
    """Every module of :mod:`cloverpay.sandbox.routes`, sorted by name."""
    from . import routes as pkg

    names = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))
    return [importlib.import_module(f"{pkg.__name__}.{name}") for name in names]


async def _sandbox_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SandboxError)
    status, headers, body = exc.render(
        error_family(request.scope["path"]), top_level_message(request.scope)
    )
    return Response(
        body,
        status_code=status,
        headers={k.decode(): v.decode() for k, v in headers if k != b"content-length"},
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    where = f"{request.method}: {request.url.path}"
    if exc.status_code == 404:
        err = SandboxError(
            404, "invalid_request_error", "resource_missing", f"Unrecognized request URL ({where})"
        )
    elif exc.status_code == 405:
        err = SandboxError(
            405, "invalid_request_error", "method_not_allowed", f"Method not allowed ({where})"
        )
    else:
        err = SandboxError(exc.status_code, "invalid_request_error", "invalid_request", exc.detail)
    return await _sandbox_error(request, err)


def create_app(state: SandboxState) -> Starlette:
    """A Starlette app serving ``state``."""
    routes: list[BaseRoute] = []
    setups = []
    for module in route_modules():
        routes.extend(module.routes)
        setup = getattr(module, "setup", None)
        if setup is not None:  # optional per-module hook: setup(state)
            setups.append(setup)
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(EventsMiddleware, state=state),
            Middleware(CorsMiddleware),
            Middleware(RateLimitMiddleware, limiter=state.ratelimiter),
            Middleware(FaultMiddleware, faults=state.faults),
            Middleware(BodyMiddleware, state=state),
            Middleware(IdempotencyMiddleware, state=state),
        ],
        exception_handlers={SandboxError: _sandbox_error, HTTPException: _http_error},
    )
    # same routes, tried by path prefix instead of one by one (see ._router)
    app.router = IndexedRouter(routes=routes)
    app.state.sandbox = state
    for setup in setups:
        setup(state)
    return app
