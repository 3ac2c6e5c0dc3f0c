"""How the service reaches Clover: one :class:`CloverClient` per merchant and call.

The access token is decrypted only here. One ``httpx.Client`` is shared by all calls
(keep-alive connections; closed with :meth:`CloverGateway.close`), so a call's client
never closes the transport under another thread's request. Tests pass ``transport`` to
reach an in-process sandbox; production uses the settings' environment or the
merchant's base URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from cloverpay.api import CloverClient, RetryPolicy
from cloverpay.service.core.config import Settings
from cloverpay.service.core.security import TokenCipher
from cloverpay.service.db import Merchant
from cloverpay.service.errors import InvalidRequest

__all__ = ["CloverGateway"]


class CloverGateway:
    def __init__(
        self,
        settings: Settings,
        cipher: TokenCipher,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | int | None = None,
        rate_limit: bool = True,
    ) -> None:
        self.settings = settings
        self.cipher = cipher
        self._retry = retry if retry is not None else settings.clover_max_retries
        self._rate_limit = rate_limit
        self._http = httpx.Client(transport=transport, timeout=settings.clover_timeout_s)

    def close(self) -> None:
        self._http.close()

    @contextmanager
    def client(self, merchant: Merchant, *, client_ip: str | None = None) -> Iterator[CloverClient]:
        if not merchant.access_token_enc:
            raise InvalidRequest(
                "the merchant has no Clover access token; connect it first",
                field="merchant",
                code="merchant_not_connected",
            )
        token = self.cipher.decrypt(merchant.access_token_enc)
        base_url = merchant.clover_base_url or self.settings.clover_base_url
        kwargs: dict[str, object] = {}
        if not self._rate_limit:
            kwargs["rate_limit"] = None
        client = CloverClient(
            token,
            merchant_id=merchant.clover_merchant_id,
            api_access_key=merchant.pakms_key,
            environment=None if base_url else self.settings.clover_environment,  # type: ignore[arg-type]
            base_url=base_url,
            client_ip=client_ip or self.settings.default_client_ip,
            http_client=self._http,
            retry=self._retry,
            **kwargs,  # type: ignore[arg-type]
        )
        try:
            yield client
        finally:
            client.close()
