"""Session states of one Remote Pay connection, as a literal transition table.

Rules the table encodes (both roles use it; ``Party`` is who *sends* the message):

- A connection starts in CONNECTED (direct connection, pairing required) or PAIRED
  (cloud connection: no pairing). CLOSED is final and allows nothing.
- Before pairing succeeds only pairing traffic is allowed: the POS sends
  PAIRING_REQUEST, the device answers with PAIRING_CODE / PAIRING_RESPONSE and may send
  ACK, UI_STATE and REMOTE_ERROR meanwhile (the SDKs ignore those while pairing).
  A FAILED pairing returns to CONNECTED, where the POS may ask again.
- Once paired the POS sends DISCOVERY_REQUEST; DISCOVERY_RESPONSE with ``ready`` makes
  the session READY (``ready: false`` keeps or puts it back in PAIRED). The device may
  send a new DISCOVERY_RESPONSE at any time after pairing.
- READY accepts every other command from either side. TX_START and REFUND_REQUEST open
  a TRANSACTION: one at a time, so the POS cannot start another until the device ends
  it with FINISH_OK / FINISH_CANCEL, rejects the TX_START (TX_START_RESPONSE other
  than SUCCESS) or answers a reset (RESET_DEVICE_RESPONSE).
- A FINISH_OK / FINISH_CANCEL / TX_START_RESPONSE while READY is accepted and changes
  nothing: a result that moves money is never dropped (e.g. the device re-sending its
  last message after a reconnect).
- Connection control from the cloud proxy (SHUTDOWN, RESET, FORCECONNECT) is valid
  from either side in every open state and does not change it; the connection layer
  acts on it (close, reconnect).
- PING / PONG are valid in every open state and never change it; they are not in
  the table.

Anything not in the table is refused: :class:`LocalProtocolError` when we send it,
:class:`RemoteProtocolError` when the peer does.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final

from ._enums import PairingState, TxStartResponseResult
from ._errors import ProtocolError
from ._message import Message, UntypedMessage
from ._messages_session import DiscoveryResponse, PairingResponse
from ._messages_tx import TxStartResponse
from ._methods import Method

__all__ = [
    "TRANSITIONS",
    "Party",
    "SessionState",
    "Trigger",
    "next_state",
    "static_trigger",
    "trigger_of",
]


class SessionState(enum.Enum):
    __hash__ = object.__hash__  # members are singletons: identity hash, in C (speed)

    CONNECTED = "CONNECTED"
    PAIRING = "PAIRING"
    PAIRED = "PAIRED"
    READY = "READY"
    TRANSACTION = "TRANSACTION"
    CLOSED = "CLOSED"


class Party(enum.Enum):
    """Who sends a message."""

    __hash__ = object.__hash__

    POS = "POS"
    DEVICE = "DEVICE"


class Trigger(enum.Enum):
    """What a message means to the session (derived from method and payload)."""

    __hash__ = object.__hash__

    PAIRING_REQUEST = "PAIRING_REQUEST"
    PAIRING_CODE = "PAIRING_CODE"
    PAIRING_SUCCEEDED = "PAIRING_SUCCEEDED"
    PAIRING_FAILED = "PAIRING_FAILED"
    PAIRING_PENDING = "PAIRING_PENDING"
    DISCOVERY_REQUEST = "DISCOVERY_REQUEST"
    DISCOVERY_READY = "DISCOVERY_READY"
    DISCOVERY_NOT_READY = "DISCOVERY_NOT_READY"
    TX_START = "TX_START"
    REFUND_REQUEST = "REFUND_REQUEST"
    TX_START_ACCEPTED = "TX_START_ACCEPTED"
    TX_START_REJECTED = "TX_START_REJECTED"
    FINISH = "FINISH"
    RESET_DEVICE_RESPONSE = "RESET_DEVICE_RESPONSE"
    ACK = "ACK"
    UI_STATE = "UI_STATE"
    REMOTE_ERROR = "REMOTE_ERROR"
    CONNECTION_CONTROL = "CONNECTION_CONTROL"
    OTHER = "OTHER"


S = SessionState
P = Party.POS
D = Party.DEVICE
T = Trigger

# (state, sender, trigger) -> next state. Literal on purpose: read it, don't derive it.
TRANSITIONS: Final[Mapping[tuple[SessionState, Party, Trigger], SessionState]] = {
    # CONNECTED: socket open, not paired
    (S.CONNECTED, P, T.PAIRING_REQUEST): S.PAIRING,
    (S.CONNECTED, D, T.ACK): S.CONNECTED,
    (S.CONNECTED, D, T.UI_STATE): S.CONNECTED,
    (S.CONNECTED, D, T.REMOTE_ERROR): S.CONNECTED,
    (S.CONNECTED, D, T.CONNECTION_CONTROL): S.CONNECTED,
    (S.CONNECTED, P, T.CONNECTION_CONTROL): S.CONNECTED,
    # PAIRING: PAIRING_REQUEST sent, waiting for the device
    (S.PAIRING, D, T.ACK): S.PAIRING,
    (S.PAIRING, D, T.UI_STATE): S.PAIRING,
    (S.PAIRING, D, T.REMOTE_ERROR): S.PAIRING,
    (S.PAIRING, D, T.CONNECTION_CONTROL): S.PAIRING,
    (S.PAIRING, P, T.CONNECTION_CONTROL): S.PAIRING,
    (S.PAIRING, D, T.PAIRING_CODE): S.PAIRING,
    (S.PAIRING, D, T.PAIRING_PENDING): S.PAIRING,
    (S.PAIRING, D, T.PAIRING_SUCCEEDED): S.PAIRED,
    (S.PAIRING, D, T.PAIRING_FAILED): S.CONNECTED,
    # PAIRED: paired (or cloud), device not ready yet
    (S.PAIRED, P, T.DISCOVERY_REQUEST): S.PAIRED,
    (S.PAIRED, D, T.ACK): S.PAIRED,
    (S.PAIRED, D, T.UI_STATE): S.PAIRED,
    (S.PAIRED, D, T.REMOTE_ERROR): S.PAIRED,
    (S.PAIRED, D, T.CONNECTION_CONTROL): S.PAIRED,
    (S.PAIRED, P, T.CONNECTION_CONTROL): S.PAIRED,
    (S.PAIRED, D, T.DISCOVERY_READY): S.READY,
    (S.PAIRED, D, T.DISCOVERY_NOT_READY): S.PAIRED,
    # READY: anything goes; TX_START / REFUND_REQUEST open a transaction
    (S.READY, P, T.DISCOVERY_REQUEST): S.READY,
    (S.READY, P, T.TX_START): S.TRANSACTION,
    (S.READY, P, T.REFUND_REQUEST): S.TRANSACTION,
    (S.READY, P, T.OTHER): S.READY,
    (S.READY, D, T.ACK): S.READY,
    (S.READY, D, T.UI_STATE): S.READY,
    (S.READY, D, T.REMOTE_ERROR): S.READY,
    (S.READY, D, T.CONNECTION_CONTROL): S.READY,
    (S.READY, P, T.CONNECTION_CONTROL): S.READY,
    (S.READY, D, T.DISCOVERY_READY): S.READY,
    (S.READY, D, T.DISCOVERY_NOT_READY): S.PAIRED,
    (S.READY, D, T.TX_START_ACCEPTED): S.READY,
    (S.READY, D, T.TX_START_REJECTED): S.READY,
    (S.READY, D, T.FINISH): S.READY,
    (S.READY, D, T.RESET_DEVICE_RESPONSE): S.READY,
    (S.READY, D, T.OTHER): S.READY,
    # TRANSACTION: one TX_START / REFUND_REQUEST in flight
    (S.TRANSACTION, P, T.DISCOVERY_REQUEST): S.TRANSACTION,
    (S.TRANSACTION, P, T.OTHER): S.TRANSACTION,
    (S.TRANSACTION, D, T.ACK): S.TRANSACTION,
    (S.TRANSACTION, D, T.UI_STATE): S.TRANSACTION,
    (S.TRANSACTION, D, T.REMOTE_ERROR): S.TRANSACTION,
    (S.TRANSACTION, D, T.CONNECTION_CONTROL): S.TRANSACTION,
    (S.TRANSACTION, P, T.CONNECTION_CONTROL): S.TRANSACTION,
    (S.TRANSACTION, D, T.DISCOVERY_READY): S.READY,
    (S.TRANSACTION, D, T.DISCOVERY_NOT_READY): S.PAIRED,
    (S.TRANSACTION, D, T.TX_START_ACCEPTED): S.TRANSACTION,
    (S.TRANSACTION, D, T.TX_START_REJECTED): S.READY,
    (S.TRANSACTION, D, T.FINISH): S.READY,
    (S.TRANSACTION, D, T.RESET_DEVICE_RESPONSE): S.READY,
    (S.TRANSACTION, D, T.OTHER): S.TRANSACTION,
    # CLOSED: nothing
}

_BY_METHOD: Final[Mapping[Method, Trigger]] = {
    Method.PAIRING_REQUEST: T.PAIRING_REQUEST,
    Method.PAIRING_CODE: T.PAIRING_CODE,
    Method.DISCOVERY_REQUEST: T.DISCOVERY_REQUEST,
    Method.TX_START: T.TX_START,
    Method.REFUND_REQUEST: T.REFUND_REQUEST,
    Method.FINISH_OK: T.FINISH,
    Method.FINISH_CANCEL: T.FINISH,
    Method.RESET_DEVICE_RESPONSE: T.RESET_DEVICE_RESPONSE,
    Method.ACK: T.ACK,
    Method.UI_STATE: T.UI_STATE,
    Method.REMOTE_ERROR: T.REMOTE_ERROR,
    Method.SHUTDOWN: T.CONNECTION_CONTROL,
    Method.RESET: T.CONNECTION_CONTROL,
    Method.FORCECONNECT: T.CONNECTION_CONTROL,
}


_BY_VALUE: Final = frozenset({PairingResponse, DiscoveryResponse, TxStartResponse})


def trigger_of(message: Message | UntypedMessage) -> Trigger:
    """The trigger a message fires (payload values matter for three methods)."""
    kind = type(message)
    if kind not in _BY_VALUE:
        return _BY_METHOD.get(message.method, T.OTHER)
    if isinstance(message, PairingResponse):
        if message.succeeded:
            return T.PAIRING_SUCCEEDED
        if message.pairing_state is PairingState.FAILED:
            return T.PAIRING_FAILED
        return T.PAIRING_PENDING
    if isinstance(message, DiscoveryResponse):
        return T.DISCOVERY_READY if message.ready else T.DISCOVERY_NOT_READY
    if isinstance(message, TxStartResponse):
        if message.result is TxStartResponseResult.SUCCESS:
            return T.TX_START_ACCEPTED
        return T.TX_START_REJECTED
    return _BY_METHOD.get(message.method, T.OTHER)


def static_trigger(cls: type[Message]) -> Trigger | None:
    """The trigger every message of ``cls`` fires, or None when it depends on the
    payload (see :func:`trigger_of`)."""
    if cls in _BY_VALUE:
        return None
    return _BY_METHOD.get(cls.METHOD, T.OTHER)


def next_state(
    state: SessionState,
    sender: Party,
    trigger: Trigger,
    *,
    error: type[ProtocolError],
    message_id: str | None = None,
) -> SessionState:
    """Apply the table; anything not in it raises ``error`` (Local or Remote)."""
    try:
        return TRANSITIONS[(state, sender, trigger)]
    except KeyError:
        raise error(
            f"{sender.value} may not send {trigger.value} in session state {state.value}",
            message_id=message_id,
        ) from None
