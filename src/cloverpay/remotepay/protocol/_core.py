"""The sans-I/O Remote Pay core: text frames in, events out; commands in, frames out."""

from __future__ import annotations

import enum
import logging
from typing import Final

from pydantic_core import PydanticSerializationError, to_json

from ._enums import MessageType
from ._envelope import SNPD_PACKAGE_NAME, Envelope, encode_envelope, parse_envelope
from ._errors import LocalProtocolError, RemoteProtocolError
from ._events import (
    Event,
    FragmentedMessageDropped,
    MessageReceived,
    Ping,
    PingReceived,
    Pong,
    PongReceived,
    UnknownMessageReceived,
)
from ._fragments import FragmentLimits, Reassembler, split_message
from ._message import Message, UntypedMessage
from ._messages_session import Ack
from ._methods import DIRECTION, Direction, Method
from ._payload import decode_payload, encode_payload
from ._state import Party, SessionState, next_state, trigger_of

__all__ = ["DEFAULT_REMOTE_SOURCE_SDK", "RemotePayProtocol", "Role"]

DEFAULT_REMOTE_SOURCE_SDK: Final = "com.clover.cloverconnector.python:0.1.0"
log = logging.getLogger("cloverpay.remotepay.protocol")
_METHODS: Final = {m.value: m for m in Method}


def _json_str(text: str) -> str:
    """A JSON string literal, as ``to_json`` writes it (non-ASCII kept as is)."""
    return to_json(text).decode()


class Role(enum.Enum):
    """Which end of the connection this core plays."""

    POS = "POS"
    DEVICE = "DEVICE"


class RemotePayProtocol:
    """One Remote Pay connection, either end, without any I/O.

    Feed every inbound text frame to :meth:`receive_data` and act on the events it
    returns; turn each message you want to send into frames with :meth:`send` and
    write them to the socket in order. Create a new instance per connection.

    Envelope versions: the POS starts at 1 and stamps ``min(max_version, highest
    version seen on an inbound COMMAND)`` (as the SDKs do), fragmenting only once the
    device has shown version 2; the device stamps ``max_version`` (2: it reassembles)
    and never fragments, because the SDKs cannot reassemble.
    """

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
        self._reassembler = Reassembler(self._limits)
        if message_id_prefix is None:
            message_id_prefix = "" if role is Role.POS else "d"
        self._id_prefix = message_id_prefix
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

    # -- inbound ------------------------------------------------------------------
    def receive_data(self, text: str, *, now: float | None = None) -> list[Event]:
        """Take one text frame; return the events it completes (none for a fragment
        that is not the last one). Raises :class:`RemoteProtocolError` for anything
        malformed or out of place: the frame is dropped, the state is unchanged."""
        if self._state is SessionState.CLOSED:
            raise LocalProtocolError("receive_data() after connection_closed()")
        env = parse_envelope(text, max_chars=self._limits.max_frame_chars)
        if env.fragment_index is not None:
            whole = self._reassembler.add(env, now)
            if whole is None:
                return []
            env = whole
        return [self._process(env)]

    def expire_fragments(self, now: float, idle: float = 2.0) -> list[Event]:
        """Finish or drop fragmented messages idle for ``idle`` seconds (clock of the
        ``now`` given to :meth:`receive_data`), for peers that never set
        ``lastFragment`` (spec §3.1)."""
        finished, dropped = self._reassembler.expire(now, idle)
        events: list[Event] = [FragmentedMessageDropped(mid, n) for mid, n in dropped]
        for env, count in finished:
            try:
                events.append(self._process(env))
            except RemoteProtocolError as exc:
                events.append(FragmentedMessageDropped(env.id or "", count, exc.msg))
        return events

    def _process(self, env: Envelope) -> Event:
        mtype = env.type
        if mtype is MessageType.PING:
            return PingReceived(env.id)
        if mtype is MessageType.PONG:
            return PongReceived(env.id)
        method = _METHODS.get(env.method) if env.method is not None else None
        if method is None:
            return UnknownMessageReceived(
                env.method,
                None if mtype is None else mtype.value,
                env.id,
                fields={"payload": env.payload, **env.extra},
            )
        if DIRECTION.get(method) is self._own_direction:
            raise RemoteProtocolError(
                f"{method} is never sent by the {self._peer.value}",
                field="method",
                message_id=env.id,
            )
        message, _inner_id, inner_version = decode_payload(method, env.payload, message_id=env.id)
        extra = message.model_extra if isinstance(message, Message) else None
        if extra and log.isEnabledFor(logging.DEBUG):  # names only: values may be secrets
            log.debug("%s %s carries unknown fields %s (kept)", method, env.id, sorted(extra))
        self._state = next_state(
            self._state,
            self._peer,
            trigger_of(message),
            error=RemoteProtocolError,
            message_id=env.id,
        )
        if (
            env.version is not None
            and env.version > self._peer_version
            and (mtype is None or mtype is MessageType.COMMAND)
        ):
            self._peer_version = env.version
        return MessageReceived(message, env.id, env.version, inner_version, env.attachment)

    # -- outbound -----------------------------------------------------------------
    def send(
        self,
        command: Message | UntypedMessage | Ping | Pong,
        *,
        attachment: str | None = None,
        inner_version: int | None = None,
    ) -> list[str]:
        """Turn a message (or :class:`Ping` / :class:`Pong`) into text frames to write
        in order. ``attachment`` is base64 text (image printing; POS role, envelope
        version 2). Raises :class:`LocalProtocolError` if the message is not allowed
        now; then nothing is produced and the state is unchanged."""
        if self._state is SessionState.CLOSED:
            raise LocalProtocolError("send() after connection_closed()")
        if isinstance(command, Ping | Pong):
            return [self._heartbeat(command)]
        if not isinstance(command, Message | UntypedMessage):
            raise LocalProtocolError(f"cannot send a {type(command).__name__}")
        method = command.method
        expected = DIRECTION.get(method)
        if expected is not None and expected is not self._own_direction:
            raise LocalProtocolError(f"{method} is never sent by the {self._own.value}")
        new_state = next_state(
            self._state, self._own, trigger_of(command), error=LocalProtocolError
        )
        version = self.outbound_version
        if attachment is not None:
            if self._role is Role.DEVICE:
                raise LocalProtocolError("the SDKs cannot reassemble: a device sends no attachment")
            if version < 2:
                raise LocalProtocolError(
                    "the device has not shown envelope version 2: send the image inline"
                )
        mid = f"{self._id_prefix}{self._next_id}"
        if inner_version is None:
            inner_version = command.VERSION if self._role is Role.POS else max(1, command.VERSION)
        try:
            payload = encode_payload(
                command,
                message_id=mid if self._payload_message_id else None,
                inner_version=inner_version,
            )
        except PydanticSerializationError as exc:
            raise LocalProtocolError(f"{method} cannot be encoded: {exc}") from None
        if attachment is not None or (
            self._role is Role.POS and version >= 2 and len(payload) > self._max_message_chars
        ):
            base = Envelope(
                type=MessageType.COMMAND,
                id=mid,
                method=method,
                payload=payload,
                version=version,
                package_name=self._package_name,
                remote_source_sdk=self._remote_source_sdk,
                remote_application_id=self._remote_application_id,
            )
            split = split_message(base, payload, attachment, self._max_message_chars)
            frames = [encode_envelope(f) for f in split]
        else:  # the common case, written directly (same text as encode_envelope)
            frames = [
                f'{self._frame_id}{self._next_id}{self._frame_head}{method}","payload":'
                f"{_json_str(payload)}{self._frame_tail}{version}}}"
            ]
        self._next_id += 1
        self._last_sent_id = mid
        self._state = new_state
        return frames

    def ack(self, event: MessageReceived) -> list[str]:
        """Device role: the ACK frame for a received message (none if it had no id)."""
        if event.message_id is None:
            return []
        return self.send(Ack(source_message_id=event.message_id))

    def _heartbeat(self, command: Ping | Pong) -> str:
        mid = None
        if self._role is Role.DEVICE:
            mid = f"{self._id_prefix}{self._next_id}"
            self._next_id += 1
        self._last_sent_id = mid
        return encode_envelope(
            Envelope(
                type=MessageType.PING if isinstance(command, Ping) else MessageType.PONG,
                id=mid,
                package_name=self._package_name,
                remote_source_sdk=self._remote_source_sdk,
                remote_application_id=self._remote_application_id,
            )
        )

    # -- lifecycle ----------------------------------------------------------------
    def connection_closed(self) -> None:
        """The socket is gone: drop partial fragments; every later call is refused."""
        self._state = SessionState.CLOSED
        self._reassembler.clear()
