"""Credentials on incoming requests.

* ``Authorization: Bearer <token>`` on Ecommerce (``/v1/charges``...), PAKMS and
  Platform routes: the token must be a merchant's access token (its Ecommerce private
  key) or one issued by the sandbox's OAuth.
* ``apikey: <PAKMS key>`` on the tokenizer (``/v1/tokens``); header names are
  case-insensitive, so ``apiKey`` and ``APIKEY`` work too.

Missing or wrong credentials give 401. Body: flat ``{"message": "401 Unauthorized"}``
(Platform always; Ecommerce by default, switchable to the nested
``authentication_error`` shape, see :mod:`._errors`). Credentials never appear in
error messages or logs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request

from ._errors import SandboxError, error_family, unauthorized

if TYPE_CHECKING:
    from ._state import Merchant, SandboxState

__all__ = ["require_api_key", "require_bearer", "state_of"]


def state_of(request: Request) -> SandboxState:
    """The :class:`SandboxState` behind the app serving ``request``."""
    state: SandboxState = request.app.state.sandbox
    return state


def _unauthorized(state: SandboxState, request: Request) -> SandboxError:
    nested = (
        error_family(request.scope["path"]) == "ecommerce"
        and state.config.ecommerce_auth_error_shape == "nested"
    )
    return unauthorized(nested=nested)


def require_bearer(request: Request) -> Merchant:
    """The merchant owning the bearer token, or raise 401."""
    state = state_of(request)
    auth = request.headers.get("authorization")
    if auth and auth[:7].lower() == "bearer ":
        merchant = state.merchant_for_token(auth[7:].strip())
        if merchant is not None:
            return merchant
    raise _unauthorized(state, request)


def require_api_key(request: Request) -> Merchant:
    """The merchant owning the ``apikey`` header (PAKMS key), or raise 401."""
    state = state_of(request)
    key = request.headers.get("apikey")
    if key:
        merchant = state.merchant_for_api_key(key.strip())
        if merchant is not None:
            return merchant
    raise _unauthorized(state, request)
