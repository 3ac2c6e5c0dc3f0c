"""Settings and security helpers of the service."""

from cloverpay.service.core.config import Settings, get_settings
from cloverpay.service.core.security import (
    ApiKey,
    TokenCipher,
    generate_api_key,
    hash_api_key,
)

__all__ = ["ApiKey", "Settings", "TokenCipher", "generate_api_key", "get_settings", "hash_api_key"]
