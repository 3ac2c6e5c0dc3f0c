"""The two protocol errors (see the package docstring for the tree)."""

from __future__ import annotations

__all__ = ["LocalProtocolError", "ProtocolError", "RemoteProtocolError"]


class ProtocolError(Exception):
    """Base of every Remote Pay protocol error.

    ``field`` names the offending envelope or payload field when there is one;
    ``message_id`` is the envelope ``id`` of the frame concerned, when known.
    Messages never contain payload values (they could hold card data or tokens),
    only field names, methods, states and sizes.
    """

    def __init__(
        self,
        msg: str,
        *,
        field: str | None = None,
        message_id: str | None = None,
    ) -> None:
        super().__init__(msg)
        self.msg = msg
        self.field = field
        self.message_id = message_id


class LocalProtocolError(ProtocolError):
    """We (the caller of this core) tried to break the protocol.

    Raised by :meth:`~cloverpay.remotepay.protocol.RemotePayProtocol.send` and friends;
    nothing was produced and the session state is unchanged.
    """


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol: malformed frame, bad payload, or a message the
    session state does not allow.

    Raised by :meth:`~cloverpay.remotepay.protocol.RemotePayProtocol.receive_data`;
    the offending frame is dropped and the session state is unchanged, so the caller
    may log it and carry on, or close the connection.
    """
