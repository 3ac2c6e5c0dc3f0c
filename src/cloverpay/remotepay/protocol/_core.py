"""The sans-I/O Remote Pay core: text frames in, events out; commands in, frames out."""

from __future__ import annotations

import enum
import logging
from typing import Any, Final

from pydantic_core import PydanticSerializationError, ValidationError, to_json

from ._enums import MessageType
from ._envelope import (
    _COMMON,
    SNPD_PACKAGE_NAME,
    Envelope,
    encode_envelope,
    envelope_of,
    parse_envelope,
)
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
    message_received,
)
from ._fragments import FragmentLimits, Reassembler, split_message
from ._message import Message, UntypedMessage
from ._messages_session import Ack
from ._methods import DIRECTION, Direction, Method
from ._payload import decode_payload, encode_payload, invalid_payload, take_bookkeeping
from ._registry import MESSAGE_CLASSES
from ._state import (
    TRANSITIONS,
    Party,
    SessionState,
    Trigger,
    next_state,
    static_trigger,
    trigger_of,
)

__all__ = ["DEFAULT_REMOTE_SOURCE_SDK", "RemotePayProtocol", "Role"]

DEFAULT_REMOTE_SOURCE_SDK: Final = "com.clover.cloverconnector.python:0.1.0"
log = logging.getLogger("cloverpay.remotepay.protocol")
_METHODS: Final = {m.value: m for m in Method}
#: per typed payload class: (method, who may send it, the trigger when it is fixed)
_STATIC: Final[dict[type, tuple[Method, Direction | None, Trigger | None]]] = {
    cls: (method, DIRECTION.get(method), static_trigger(cls))
    for method, cls in MESSAGE_CLASSES.items()
}
#: per method, for received COMMANDs: (who may send it, the typed payload's validator,
#: the trigger when it is fixed); methods without a typed payload have no validator
_RECEIVED: Final[dict[Method, tuple[Direction | None, Any, Trigger | None]]] = {
    method: (
        DIRECTION.get(method),
        cls.__pydantic_validator__ if cls is not None else None,
        static_trigger(cls) if cls is not None else None,
    )
    for method in Method
    for cls in (MESSAGE_CLASSES.get(method),)
}
_COMMAND: Final = MessageType.COMMAND
#: per typed payload class, for :meth:`RemotePayProtocol.send`'s usual case: method,
#: who may send it, fixed trigger, the method as plain text, inner version (POS, device)
_SENT: Final[dict[type, tuple[Method, Direction | None, Trigger | None, str, int, int]]] = {
    cls: (
        method,
        DIRECTION.get(method),
        static_trigger(cls),
        method.value,
        cls.VERSION,
        max(1, cls.VERSION),
    )
    for method, cls in MESSAGE_CLASSES.items()
}


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

    # -- inbound ------------------------------------------------------------------
    def receive_data(self, text: str, *, now: float | None = None) -> list[Event]:
        """Take one text frame; return the events it completes (none for a fragment
        that is not the last one). Raises :class:`RemoteProtocolError` for anything
        malformed or out of place: the frame is dropped, the state is unchanged."""
        state = self._state
        if state is SessionState.CLOSED:
            raise LocalProtocolError("receive_data() after connection_closed()")
        max_chars = self._max_frame_chars
        if type(text) is str and len(text) <= max_chars:  # as parse_common, inlined
            try:
                raw: dict[str, Any] = _COMMON.validate_json(text)
            except ValidationError:
                pass
            else:
                # the usual frame: a COMMAND of a known method is processed here, with
                # no Envelope object on the way (anything else goes through _process);
                # typed payloads are decoded as decode_payload does (same checks,
                # same errors), inlined
                get = raw.get
                method = _METHODS.get(get("method"))  # type: ignore[arg-type]
                mtype = get("type")
                if method is None or (mtype is not None and mtype is not _COMMAND):
                    return [self._process(envelope_of(raw))]
                mid = get("id")
                direction, validator, trigger = _RECEIVED[method]
                if direction is self._own_direction:
                    raise RemoteProtocolError(
                        f"{method} is never sent by the {self._peer.value}",
                        field="method",
                        message_id=mid,
                    )
                message: Message | UntypedMessage
                inner_version: int | None = None
                if validator is not None:
                    try:
                        model: Message = validator.validate_json(get("payload") or "{}")
                    except ValidationError as exc:
                        raise invalid_payload(method, exc, mid) from None
                    message = model
                    extra = model.__pydantic_extra__
                    if extra:
                        inner_version = take_bookkeeping(
                            method, extra, model.__pydantic_fields_set__, mid
                        )
                        if extra and log.isEnabledFor(logging.DEBUG):  # names only: may be secrets
                            log.debug(
                                "%s %s carries unknown fields %s (kept)", method, mid, sorted(extra)
                            )
                else:
                    message, _inner_id, inner_version = decode_payload(
                        method, get("payload"), message_id=mid
                    )
                if trigger is None:
                    trigger = trigger_of(message)
                new_state = TRANSITIONS.get((state, self._peer, trigger))
                if new_state is None:  # not in the table: raises, naming the transition
                    new_state = next_state(
                        state, self._peer, trigger, error=RemoteProtocolError, message_id=mid
                    )
                self._state = new_state
                version = get("version")
                if version is not None and version > self._peer_version:
                    self._peer_version = version
                return [message_received(message, mid, version, inner_version, None)]
        env = parse_envelope(text, max_chars=max_chars)
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
        static = _STATIC.get(type(message))
        trigger = static[2] if static is not None else None
        if trigger is None:
            trigger = trigger_of(message)
        extra = message.model_extra if isinstance(message, Message) else None
        if extra and log.isEnabledFor(logging.DEBUG):  # names only: values may be secrets
            log.debug("%s %s carries unknown fields %s (kept)", method, env.id, sorted(extra))
        new_state = TRANSITIONS.get((self._state, self._peer, trigger))
        if new_state is None:  # not in the table: raises, naming the transition
            new_state = next_state(
                self._state, self._peer, trigger, error=RemoteProtocolError, message_id=env.id
            )
        self._state = new_state
        version = env.version
        if (
            version is not None
            and version > self._peer_version
            and (mtype is None or mtype is MessageType.COMMAND)
        ):
            self._peer_version = version
        return MessageReceived(message, env.id, version, inner_version, env.attachment)

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
        state = self._state
        if state is SessionState.CLOSED:
            raise LocalProtocolError("send() after connection_closed()")
        sent = _SENT.get(type(command))
        if sent is not None and attachment is None and self._plain_ids:
            # the usual case, a typed payload: the same checks and the same text as
            # the general path below, with what the class fixes looked up once
            method, expected, trigger, name, pos_inner, device_inner = sent
            typed: Message = command  # type: ignore[assignment]  # its class is in _SENT
            if trigger is None:
                trigger = trigger_of(typed)
            if expected is not None and expected is not self._own_direction:
                raise LocalProtocolError(f"{method} is never sent by the {self._own.value}")
            new_state = TRANSITIONS.get((state, self._own, trigger))
            if new_state is None:  # not in the table: raises, naming the transition
                new_state = next_state(state, self._own, trigger, error=LocalProtocolError)
            pos = self._role is Role.POS
            if pos:
                version = self._max_version
                if self._peer_version < version:
                    version = self._peer_version
                inner = pos_inner if inner_version is None else int(inner_version)
            else:
                version = self._max_version
                inner = device_inner if inner_version is None else int(inner_version)
            number = self._next_id
            mid = f"{self._id_prefix}{number}"
            try:
                body = typed.__pydantic_serializer__.to_json(
                    typed, by_alias=True, exclude_unset=True
                ).decode()
            except PydanticSerializationError as exc:
                raise LocalProtocolError(f"{method} cannot be encoded: {exc}") from None
            if self._payload_message_id:  # as encode_payload, inlined
                head = f'{{"method":"{name}","messageId":"{mid}","version":{inner}'
            else:
                head = f'{{"method":"{name}","version":{inner}'
            payload = head + "}" if body == "{}" else head + "," + body[1:]
            if not pos or version < 2 or len(payload) <= self._max_message_chars:
                self._next_id = number + 1
                self._last_sent_id = mid
                self._state = new_state
                return [
                    f'{self._frame_id}{number}{self._frame_head}{name}","payload":'
                    f"{to_json(payload).decode()}{self._frame_tail}{version}}}"
                ]
            # too long for one frame: the general path below fragments it
        if isinstance(command, (Ping, Pong)):
            return [self._heartbeat(command)]
        static = _STATIC.get(type(command))
        if static is not None:  # a typed payload: what the class fixes is looked up once
            method, expected, trigger = static
            if trigger is None:
                trigger = trigger_of(command)
        else:
            if not isinstance(command, (Message, UntypedMessage)):
                raise LocalProtocolError(f"cannot send a {type(command).__name__}")
            method = command.method
            expected = DIRECTION.get(method)
            trigger = trigger_of(command)
        if expected is not None and expected is not self._own_direction:
            raise LocalProtocolError(f"{method} is never sent by the {self._own.value}")
        new_state = TRANSITIONS.get((state, self._own, trigger))
        if new_state is None:  # not in the table: raises, naming the transition
            new_state = next_state(state, self._own, trigger, error=LocalProtocolError)
        if self._role is Role.DEVICE:
            version = self._max_version
        else:
            version = min(self._max_version, self._peer_version)
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
            if static is not None and self._plain_ids:  # as encode_payload, inlined
                body = command.__pydantic_serializer__.to_json(  # type: ignore[union-attr]
                    command, by_alias=True, exclude_unset=True
                ).decode()
                head = (
                    f'{{"method":"{method}","messageId":"{mid}","version":{int(inner_version)}'
                    if self._payload_message_id
                    else f'{{"method":"{method}","version":{int(inner_version)}'
                )
                payload = head + "}" if body == "{}" else head + "," + body[1:]
            else:
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
