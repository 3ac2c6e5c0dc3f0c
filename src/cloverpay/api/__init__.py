"""cloverpay.api: typed clients for Clover's HTTP APIs.

This module re-exports the public names of the private modules; see each module's
docstring for its exception tree.
"""

from ._oauth import (
    PKCE,
    SANDBOX_API_BASE_URL,
    SANDBOX_AUTHORIZE_BASE_URL,
    MissingTokenError,
    OAuthError,
    OAuthToken,
    authorize_url,
    build_refresh_request,
    build_token_request,
    code_challenge,
    parse_token_response,
)
from ._oauth_auth import CloverOAuth
from ._oauth_client import AsyncOAuthClient, OAuthClient
from ._oauth_store import (
    AsyncTokenStore,
    FileTokenStore,
    InMemoryTokenStore,
    TokenCodec,
    TokenStore,
)

__all__ = [
    "PKCE",
    "SANDBOX_API_BASE_URL",
    "SANDBOX_AUTHORIZE_BASE_URL",
    "AsyncOAuthClient",
    "AsyncTokenStore",
    "CloverOAuth",
    "FileTokenStore",
    "InMemoryTokenStore",
    "MissingTokenError",
    "OAuthClient",
    "OAuthError",
    "OAuthToken",
    "TokenCodec",
    "TokenStore",
    "authorize_url",
    "build_refresh_request",
    "build_token_request",
    "code_challenge",
    "parse_token_response",
]
