"""cloverpay.remotepay: a Python CloverConnector for Clover terminals (Remote Pay).

Direct LAN connection to Secure Network Pay Display (``wss://<device>:12345/remote_pay``)::

    config = ConnectorConfig(
        url=direct_url("192.168.1.20"),
        remote_application_id="com.example.pos:1.0",
        ca_file="clover-device-roots.pem",
    )
    async with CloverConnector(config, MyListener(), token_store=FileTokenStore(path)) as c:
        response = await c.sale(SaleRequest(amount=1000, external_id="invoice-42-try-1"))

Through Clover's cloud (Cloud Pay Display): ``ConnectorConfig(url="https://www.clover.com/",
cloud=CloudSettings(merchant_id=..., device_id=..., access_token=...), ...)``.

Listener style instead of awaiting: ``connector.submit(connector.sale(request))``; the
response arrives in ``listener.on_response`` (every response does, awaited or not).

The wire protocol lives, without any I/O, in :mod:`cloverpay.remotepay.protocol`;
this package is the asyncio shell around it (websocket, heartbeat, reconnection).

Exceptions::

    CloverConnectorError
    ├── NotReadyError          no connection to the device; nothing was sent
    └── OutcomeUnknownError    sent, but no answer (timeout / connection lost) and
                               the lookup could not prove an outcome: the payment may
                               exist; never re-sent automatically

After a lost answer a sale / auth / pre-auth is recovered, never re-sent: the connector
reconnects, asks the device (RETRIEVE_PAYMENT by externalPaymentId), then Clover's REST
API when given ``rest_lookup=rest_payment_lookup(AsyncCloverClient(...))``; the response
then carries ``recovery`` (a PaymentResolution). ``await connector.resolve_payment(id)``
does the same lookup on demand (PAID / NOT_PAID / UNKNOWN). Refunds and voids are
looked up likewise (device by the payment's externalPaymentId, REST with
``rest_payment=rest_payment_fetch(client)``; an OperationResolution).
    ProtocolError              (from .protocol) Local- / RemoteProtocolError

Request validation and device answers come back as response objects with Clover's
result codes (SUCCESS, FAIL, UNSUPPORTED, CANCEL, ERROR), not as exceptions.
"""

from ._cloud import CloudError, CloudSettings
from ._config import ConnectorConfig, direct_url
from ._connector import CloverConnector
from ._errors import CloverConnectorError, NotReadyError, OutcomeUnknownError
from ._listener import CloverConnectorListener, DeviceErrorEvent
from ._recovery import (
    OperationOutcome,
    OperationResolution,
    PaymentOutcome,
    PaymentResolution,
    RestPaymentFetch,
    RestPaymentLookup,
    rest_payment_fetch,
    rest_payment_lookup,
)
from ._requests import (
    AuthRequest,
    CapturePreAuthRequest,
    IncrementPreAuthRequest,
    ManualRefundRequest,
    PreAuthRequest,
    RefundPaymentRequest,
    SaleRequest,
    TipAdjustAuthRequest,
    TransactionRequest,
    VoidPaymentRequest,
)
from ._responses import (
    AuthResponse,
    CapturePreAuthResponse,
    CloseoutResponse,
    CustomActivityResponse,
    IncrementPreAuthResponse,
    ManualRefundResponse,
    PreAuthResponse,
    PrintJobStatusResponse,
    ReadCardDataResponse,
    RefundPaymentResponse,
    ResetDeviceResponse,
    Response,
    ResponseCode,
    RetrieveDeviceStatusResponse,
    RetrievePaymentResponse,
    RetrievePendingPaymentsResponse,
    RetrievePrintersResponse,
    SaleResponse,
    TipAdjustAuthResponse,
    TransactionResponse,
    VaultCardResponse,
    VoidPaymentResponse,
)
from ._tokens import FileTokenStore, KeyedFileTokenStore, MemoryTokenStore, TokenStore

__all__ = [
    "AuthRequest",
    "AuthResponse",
    "CapturePreAuthRequest",
    "CapturePreAuthResponse",
    "CloseoutResponse",
    "CloudError",
    "CloudSettings",
    "CloverConnector",
    "CloverConnectorError",
    "CloverConnectorListener",
    "ConnectorConfig",
    "CustomActivityResponse",
    "DeviceErrorEvent",
    "FileTokenStore",
    "IncrementPreAuthRequest",
    "IncrementPreAuthResponse",
    "KeyedFileTokenStore",
    "ManualRefundRequest",
    "ManualRefundResponse",
    "MemoryTokenStore",
    "NotReadyError",
    "OperationOutcome",
    "OperationResolution",
    "OutcomeUnknownError",
    "PaymentOutcome",
    "PaymentResolution",
    "PreAuthRequest",
    "PreAuthResponse",
    "PrintJobStatusResponse",
    "ReadCardDataResponse",
    "RefundPaymentRequest",
    "RefundPaymentResponse",
    "ResetDeviceResponse",
    "Response",
    "ResponseCode",
    "RestPaymentFetch",
    "RestPaymentLookup",
    "RetrieveDeviceStatusResponse",
    "RetrievePaymentResponse",
    "RetrievePendingPaymentsResponse",
    "RetrievePrintersResponse",
    "SaleRequest",
    "SaleResponse",
    "TipAdjustAuthRequest",
    "TipAdjustAuthResponse",
    "TokenStore",
    "TransactionRequest",
    "TransactionResponse",
    "VaultCardResponse",
    "VoidPaymentRequest",
    "VoidPaymentResponse",
    "direct_url",
    "rest_payment_fetch",
    "rest_payment_lookup",
]
