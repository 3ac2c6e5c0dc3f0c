"""Receiving half of the core: text frames in, typed events out."""

from __future__ import annotations

import logging
from typing import Any

from pydantic_core import ValidationError

from ._connection import Connection
from ._enums import MessageType
from ._envelope import _COMMON, Envelope, envelope_of, parse_envelope
from ._errors import LocalProtocolError, RemoteProtocolError
from ._events import (
    Event,
    FragmentedMessageDropped,
    MessageReceived,
    PingReceived,
    PongReceived,
    UnknownMessageReceived,
    message_received,
)
from ._message import Message, UntypedMessage
from ._method_tables import _COMMAND, _METHODS, _RECEIVED, _STATIC
from ._methods import DIRECTION
from ._payload import decode_payload, invalid_payload, take_bookkeeping
from ._state import TRANSITIONS, SessionState, next_state, trigger_of

__all__ = ["Inbound"]

log = logging.getLogger("cloverpay.remotepay.protocol")


class Inbound(Connection):
    """:meth:`receive_data` and :meth:`expire_fragments` of :class:`RemotePayProtocol`."""

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
