"""Errors of the connector (the protocol core has its own two, re-exported)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._recovery import OperationResolution, PaymentResolution

__all__ = ["CloverConnectorError", "NotReadyError", "OutcomeUnknownError"]


class CloverConnectorError(Exception):
    """Base of the connector's own errors."""


class NotReadyError(CloverConnectorError):
    """The device is not connected and ready; nothing was sent."""


class OutcomeUnknownError(CloverConnectorError):
    """The request left us but no answer came (timeout or connection lost).

    Money may or may not have moved: treat the attempt as UNKNOWN, never as failed,
    and never re-send it blindly. Recover with ``retrieve_payment(external_id)`` (or the
    REST API). ``external_id`` is the request's externalPaymentId, when it had one;
    ``resolution`` the connector's own attempt at finding out (outcome UNKNOWN), when
    it made one (an :class:`OperationResolution` for a refund or void).
    """

    def __init__(
        self,
        msg: str,
        *,
        method: str,
        external_id: str | None = None,
        resolution: PaymentResolution | OperationResolution | None = None,
    ) -> None:
        super().__init__(msg)
        self.method = method
        self.external_id = external_id
        self.resolution = resolution
