"""How the terminal runtime looks up a terminal payment (``terminal_runtime``).

A sale whose answer is lost is recovered by the connector (device lookup by
``externalPaymentId``, then REST through the merchant's Clover client); what that
cannot prove becomes ``unknown`` and flagged, for the reconciler and a person. The
reconciler of the same process looks up on the device first when this process owns
the terminal, through REST only otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from cloverpay.remotepay import PaymentResolution
from cloverpay.service.db import Merchant, Terminal
from cloverpay.service.services.terminal_sales import (
    TerminalResolver,
    rest_payments,
    rest_resolver,
)

if TYPE_CHECKING:
    from cloverpay.service.terminal_runtime import TerminalRuntime


def resolver(rt: TerminalRuntime) -> TerminalResolver:
    """Device first (when ``rt`` owns the terminal), then REST; REST only otherwise."""
    rest = rest_resolver(rt.ctx)

    def resolve(terminal: Terminal, external_id: str) -> PaymentResolution:
        conn = rt._conns.get(terminal.id)
        if conn is None:
            return rest(terminal, external_id)
        budget = rt.options.recovery_timeout_s
        resolution: PaymentResolution = rt._call(
            conn.connector.resolve_payment(external_id, timeout=budget), budget + 10
        )
        return resolution

    return resolve


def load_merchant(rt: TerminalRuntime, merchant_id: str) -> Merchant:
    with rt.ctx.sessions() as s:
        return s.get_one(Merchant, merchant_id)


def rest_lookup(rt: TerminalRuntime, merchant: Merchant) -> Callable[[str], Any]:
    """The connector's REST fallback: the merchant's payments by ``externalPaymentId``."""

    async def lookup(external_payment_id: str) -> Sequence[Any]:
        return await asyncio.to_thread(rest_payments, rt.ctx, merchant, external_payment_id)

    return lookup


def rest_fetch(rt: TerminalRuntime, merchant: Merchant) -> Callable[[str], Any]:
    """The connector's REST fallback: one payment by its Clover id (None if absent)."""

    def get(payment_id: str) -> Any:
        from cloverpay.api import NotFoundError

        with rt.ctx.gateway.client(merchant) as clover:
            try:
                return clover.platform.payments.retrieve(payment_id)
            except NotFoundError:
                return None

    async def fetch(payment_id: str) -> Any:
        return await asyncio.to_thread(get, payment_id)

    return fetch
