"""Sending half of the core: messages in, text frames out."""

from __future__ import annotations

from pydantic_core import PydanticSerializationError, to_json

from ._connection import Connection, Role, _json_str
from ._enums import MessageType
from ._envelope import Envelope, encode_envelope
from ._errors import LocalProtocolError
from ._events import MessageReceived, Ping, Pong
from ._fragments import split_message
from ._message import Message, UntypedMessage
from ._messages_session import Ack
from ._method_tables import _SENT, _STATIC
from ._methods import DIRECTION
from ._payload import encode_payload
from ._state import TRANSITIONS, SessionState, next_state, trigger_of

__all__ = ["Outbound"]


class Outbound(Connection):
    """:meth:`send` and :meth:`ack` of :class:`RemotePayProtocol`."""

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
