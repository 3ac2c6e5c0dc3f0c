"""The sans-I/O Remote Pay core: text frames in, events out; commands in, frames out."""

from __future__ import annotations

from ._connection import DEFAULT_REMOTE_SOURCE_SDK, Role
from ._inbound import Inbound
from ._outbound import Outbound

__all__ = ["DEFAULT_REMOTE_SOURCE_SDK", "RemotePayProtocol", "Role"]


class RemotePayProtocol(Inbound, Outbound):
    """One Remote Pay connection, either end, without any I/O.

    Feed every inbound text frame to :meth:`receive_data` and act on the events it
    returns; turn each message you want to send into frames with :meth:`send` and
    write them to the socket in order. Create a new instance per connection.

    Envelope versions: the POS starts at 1 and stamps ``min(max_version, highest
    version seen on an inbound COMMAND)`` (as the SDKs do), fragmenting only once the
    device has shown version 2; the device stamps ``max_version`` (2: it reassembles)
    and never fragments, because the SDKs cannot reassemble.
    """
