"""One end of a Remote Pay connection as the core sees it: its settings, the envelope
versions, the message ids and the session state. :class:`RemotePayProtocol` adds
receiving (:mod:`._inbound`) and sending (:mod:`._outbound`) on top."""

from __future__ import annotations

import enum
from typing import Final

from pydantic_core import to_json

from ._envelope import SNPD_PACKAGE_NAME
from ._fragments import FragmentLimits, Reassembler
from ._methods import Direction
from ._state import Party, SessionState

__all__ = ["DEFAULT_REMOTE_SOURCE_SDK", "Connection", "Role"]

DEFAULT_REMOTE_SOURCE_SDK: Final = "com.clover.cloverconnector.python:0.1.0"


def _json_str(text: str) -> str:
    """A JSON string literal, as ``to_json`` writes it (non-ASCII kept as is)."""
    return to_json(text).decode()


class Role(enum.Enum):
    """Which end of the connection this core plays."""

    POS = "POS"
    DEVICE = "DEVICE"


class Connection:
    """The state both halves of :class:`RemotePayProtocol` share (see there)."""

    def __init__(
        self,
        role: Role,
        *,
        remote_application_id: str | None = None,
        remote_source_sdk: str | None = None,
        package_name: str | None = SNPD_PACKAGE_NAME,
        pairing: bool = True,
        max_version: int = 2,
        max_message_chars: int = 50_000,
        limits: FragmentLimits | None = None,
        message_id_prefix: str | None = None,
        payload_message_id: bool | None = None,
    ) -> None:
        """``remote_application_id`` (the POS's Remote App ID) is required for the POS
        role. ``pairing=False`` is for the cloud connection, which starts paired.
        ``payload_message_id`` repeats the envelope id inside the payload (the JS SDK
        does; default: POS yes, device no)."""
        if role is Role.POS and not remote_application_id:
            raise ValueError("remote_application_id is required for the POS role")
        if max_version not in (1, 2):
            raise ValueError("max_version must be 1 or 2")
        if max_message_chars < 1000:
            raise ValueError("max_message_chars must be at least 1000")
        self._role = role
        self._own: Final = Party.POS if role is Role.POS else Party.DEVICE
        self._peer: Final = Party.DEVICE if role is Role.POS else Party.POS
        self._own_direction = (
            Direction.POS_TO_DEVICE if role is Role.POS else Direction.DEVICE_TO_POS
        )
        self._remote_application_id = remote_application_id
        if remote_source_sdk is None and role is Role.POS:
            remote_source_sdk = DEFAULT_REMOTE_SOURCE_SDK
        self._remote_source_sdk = remote_source_sdk
        self._package_name = package_name
        self._max_version = max_version
        self._max_message_chars = max_message_chars
        self._limits = limits or FragmentLimits()
        self._max_frame_chars = self._limits.max_frame_chars  # frozen: read once
        self._reassembler = Reassembler(self._limits)
        if message_id_prefix is None:
            message_id_prefix = "" if role is Role.POS else "d"
        self._id_prefix = message_id_prefix
        #: ids are written into payloads without escaping (see ``encode_payload``)
        self._plain_ids = message_id_prefix == "" or (
            message_id_prefix.isascii() and message_id_prefix.isalnum()
        )
        self._payload_message_id = (
            role is Role.POS if payload_message_id is None else payload_message_id
        )
        self._next_id = 1
        self._last_sent_id: str | None = None
        self._peer_version = 1
        self._state = SessionState.CONNECTED if pairing else SessionState.PAIRED
        # constant parts of every COMMAND frame, JSON-escaped once (see ``send``)
        self._frame_id = '{"id":' + _json_str(self._id_prefix)[:-1]
        head = '","type":"COMMAND"'
        if package_name is not None:
            head += ',"packageName":' + _json_str(package_name)
        self._frame_head = head + ',"method":"'
        tail = ""
        if remote_source_sdk is not None:
            tail += ',"remoteSourceSDK":' + _json_str(remote_source_sdk)
        if remote_application_id is not None:
            tail += ',"remoteApplicationID":' + _json_str(remote_application_id)
        self._frame_tail = tail + ',"version":'

    # -- inspection ---------------------------------------------------------------
    @property
    def role(self) -> Role:
        return self._role

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def peer_version(self) -> int:
        """Highest envelope version seen on an inbound COMMAND (1 until one is seen)."""
        return self._peer_version

    @property
    def outbound_version(self) -> int:
        """The envelope version stamped on the next frame we send."""
        if self._role is Role.DEVICE:
            return self._max_version
        return min(self._max_version, self._peer_version)

    @property
    def last_sent_id(self) -> str | None:
        """Envelope id of the last message :meth:`send` produced (None for PING/PONG
        from the POS, which carry no id)."""
        return self._last_sent_id

    @property
    def pending_fragments(self) -> int:
        return self._reassembler.pending

    # -- lifecycle ----------------------------------------------------------------
    def connection_closed(self) -> None:
        """The socket is gone: drop partial fragments; every later call is refused."""
        self._state = SessionState.CLOSED
        self._reassembler.clear()
