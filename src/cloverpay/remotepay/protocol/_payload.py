"""The double-encoded payload: a JSON document in the envelope's ``payload`` string.

The payload repeats ``method`` and carries ``version`` (inner version) and, from the JS
SDK, ``messageId``; those three are bookkeeping read and written here. The rest is
the body, parsed into the method's typed model (:data:`MESSAGE_CLASSES`) or kept as
an :class:`UntypedMessage`.
"""

from __future__ import annotations

import json
from typing import Any, Final

from pydantic import ValidationError
from pydantic_core import from_json

from ._errors import RemoteProtocolError
from ._message import Message, UntypedMessage
from ._methods import Method
from ._registry import MESSAGE_CLASSES

__all__ = [
    "decode_payload",
    "encode_payload",
    "invalid_payload",
    "take_bookkeeping",
    "validation_summary",
]

AnyMessage = Message | UntypedMessage
_BOOKKEEPING = ("method", "messageId", "version")
_VALIDATORS: Final = {method: cls.__pydantic_validator__ for method, cls in MESSAGE_CLASSES.items()}


def validation_summary(exc: ValidationError) -> tuple[str, str | None]:
    """A short message naming the offending fields (never their values)."""
    parts = []
    first: str | None = None
    for err in exc.errors(include_url=False, include_input=False, include_context=False)[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        first = first or loc
        loc = loc or "<payload>"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - len(parts)
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts), first


def _bad(method: Method, msg: str, field: str, message_id: str | None) -> RemoteProtocolError:
    return RemoteProtocolError(f"{method} {msg}", field=field, message_id=message_id)


def invalid_payload(
    method: Method, exc: ValidationError, message_id: str | None
) -> RemoteProtocolError:
    """The error for a payload its model refused (fields named, values never shown)."""
    summary, loc = validation_summary(exc)
    return _bad(
        method,
        f"payload is invalid: {summary}",
        f"payload.{loc}" if loc else "payload",
        message_id,
    )


def take_bookkeeping(
    method: Method, extra: dict[str, Any], fields_set: set[str], message_id: str | None
) -> int | None:
    """Take ``method`` / ``messageId`` / ``version`` out of a typed payload's extras
    (and its set fields) and check them as :func:`decode_payload` does; return the
    inner version. Written out key by key: it runs on nearly every received frame."""
    inner_method = inner_id = inner_version = None
    if "method" in extra:
        inner_method = extra.pop("method")
        fields_set.discard("method")
        if inner_method is not None and inner_method != method:  # a StrEnum
            _check_bookkeeping(method, {"method": inner_method}, message_id)
    if "messageId" in extra:
        inner_id = extra.pop("messageId")
        fields_set.discard("messageId")
        if inner_id is not None and (type(inner_id) is not str and type(inner_id) is not int):
            _check_bookkeeping(method, {"messageId": inner_id}, message_id)
    if "version" in extra:
        inner_version = extra.pop("version")
        fields_set.discard("version")
        if inner_version is not None and type(inner_version) is not int:
            _check_bookkeeping(method, {"version": inner_version}, message_id)
    return inner_version


def _check_bookkeeping(
    method: Method, bookkeeping: dict[str, Any], message_id: str | None
) -> tuple[str | None, int | None]:
    inner_method = bookkeeping.get("method")
    if inner_method is not None and inner_method != method:  # a StrEnum
        raise _bad(
            method,
            "payload method does not match the envelope method",
            "payload.method",
            message_id,
        )
    inner_id = bookkeeping.get("messageId")
    if inner_id is not None and (
        isinstance(inner_id, bool) or not isinstance(inner_id, (str, int))
    ):
        raise _bad(
            method, "payload field 'messageId' must be a string", "payload.messageId", message_id
        )
    inner_version = bookkeeping.get("version")
    if inner_version is not None and (
        isinstance(inner_version, bool) or not isinstance(inner_version, int)
    ):
        raise _bad(
            method, "payload field 'version' must be an integer", "payload.version", message_id
        )
    return None if inner_id is None else str(inner_id), inner_version


def decode_payload(
    method: Method, payload: str | None, *, message_id: str | None = None
) -> tuple[AnyMessage, str | None, int | None]:
    """Parse a payload string: ``(message, inner messageId, inner version)``.

    Typed payloads are validated straight from the JSON text (one pass in
    pydantic-core); the bookkeeping keys land in the model's extras and are taken out.
    """
    validator = _VALIDATORS.get(method)
    bookkeeping: dict[str, Any]
    message: AnyMessage
    if validator is not None:
        try:
            # the model's own validator directly: model_validate_json adds a Python layer
            model = validator.validate_json(payload or "{}")
        except ValidationError as exc:
            raise invalid_payload(method, exc, message_id) from None
        extra = model.__pydantic_extra__
        message = model
        if not extra:
            return message, None, None
        bookkeeping = {}
        fields_set = model.__pydantic_fields_set__
        for key in _BOOKKEEPING:
            if key in extra:
                bookkeeping[key] = extra.pop(key)
                fields_set.discard(key)
    else:
        try:
            body = from_json(payload) if payload is not None else {}
        except ValueError as exc:
            raise _bad(
                method, f"payload is not valid JSON ({exc})", "payload", message_id
            ) from None
        if not isinstance(body, dict):
            raise _bad(method, "payload must be a JSON object", "payload", message_id)
        bookkeeping = {key: body.pop(key) for key in _BOOKKEEPING if key in body}
        message = UntypedMessage(method, body)
    inner_id, inner_version = _check_bookkeeping(method, bookkeeping, message_id)
    return message, inner_id, inner_version


def encode_payload(
    message: AnyMessage, *, message_id: str | None = None, inner_version: int | None = None
) -> str:
    """Write the payload string: ``method``, ``messageId`` (when given) and ``version``
    first, as the JS SDK does, then the body."""
    head = '{"method":"' + message.method + '"'
    if message_id is not None:
        if message_id.isascii() and message_id.isalnum():  # the usual "12" / "d7"
            head += ',"messageId":"' + message_id + '"'
        else:
            head += ',"messageId":' + json.dumps(message_id, ensure_ascii=False)
    if inner_version is not None:
        head += ',"version":' + str(int(inner_version))
    body = message.to_json()
    if body == "{}":
        return head + "}"
    return head + "," + body[1:]
