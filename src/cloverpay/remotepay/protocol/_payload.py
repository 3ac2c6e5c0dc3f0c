"""The double-encoded payload: a JSON document in the envelope's ``payload`` string.

The payload repeats ``method`` and carries ``version`` (inner version) and, from the JS
SDK, ``messageId``; those three are bookkeeping read and written here. The rest is
the body, parsed into the method's typed model (:data:`MESSAGE_CLASSES`) or kept as
an :class:`UntypedMessage`.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from pydantic_core import from_json

from ._errors import RemoteProtocolError
from ._message import Message, UntypedMessage
from ._methods import Method
from ._registry import MESSAGE_CLASSES

__all__ = ["decode_payload", "encode_payload", "validation_summary"]

AnyMessage = Message | UntypedMessage


def validation_summary(exc: ValidationError) -> tuple[str, str | None]:
    """A short message naming the offending fields (never their values)."""
    parts = []
    first: str | None = None
    for err in exc.errors(include_url=False, include_input=False, include_context=False)[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "<payload>"
        first = first or loc
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - len(parts)
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts), first


def decode_payload(
    method: Method, payload: str | None, *, message_id: str | None = None
) -> tuple[AnyMessage, str | None, int | None]:
    """Parse a payload string: ``(message, inner messageId, inner version)``."""
    if payload is None:
        body: dict[str, Any] = {}
    else:
        try:
            body = from_json(payload)
        except (ValueError, RecursionError) as exc:
            raise RemoteProtocolError(
                f"{method} payload is not valid JSON ({type(exc).__name__})",
                field="payload",
                message_id=message_id,
            ) from None
        if not isinstance(body, dict):
            raise RemoteProtocolError(
                f"{method} payload must be a JSON object", field="payload", message_id=message_id
            )
    inner_method = body.pop("method", None)
    if inner_method is not None and inner_method != method.value:
        raise RemoteProtocolError(
            f"payload method does not match the envelope method {method}",
            field="payload.method",
            message_id=message_id,
        )
    inner_id = body.pop("messageId", None)
    if inner_id is not None and (isinstance(inner_id, bool) or not isinstance(inner_id, str | int)):
        raise RemoteProtocolError(
            "payload field 'messageId' must be a string",
            field="payload.messageId",
            message_id=message_id,
        )
    inner_version = body.pop("version", None)
    if inner_version is not None and (
        isinstance(inner_version, bool) or not isinstance(inner_version, int)
    ):
        raise RemoteProtocolError(
            "payload field 'version' must be an integer",
            field="payload.version",
            message_id=message_id,
        )
    cls = MESSAGE_CLASSES.get(method)
    message: AnyMessage
    if cls is None:
        message = UntypedMessage(method, body)
    else:
        try:
            message = cls.model_validate(body)
        except ValidationError as exc:
            summary, loc = validation_summary(exc)
            raise RemoteProtocolError(
                f"invalid {method} payload: {summary}",
                field=f"payload.{loc}" if loc else "payload",
                message_id=message_id,
            ) from None
        except RecursionError:
            raise RemoteProtocolError(
                f"{method} payload nests too deeply", field="payload", message_id=message_id
            ) from None
    return message, None if inner_id is None else str(inner_id), inner_version


def encode_payload(
    message: AnyMessage, *, message_id: str | None = None, inner_version: int | None = None
) -> str:
    """Write the payload string: ``method``, ``messageId`` (when given) and ``version``
    first, as the JS SDK does, then the body."""
    head = '{"method":"' + message.method.value + '"'
    if message_id is not None:
        head += ',"messageId":' + json.dumps(message_id, ensure_ascii=False)
    if inner_version is not None:
        head += ',"version":' + str(int(inner_version))
    body = message.to_json()
    if body == "{}":
        return head + "}"
    return head + "," + body[1:]
