"""Redaction of secrets and card data in text meant for people (logs, reprs, errors).

Three kinds of secret are masked:

* card numbers: any run of 13 to 19 digits (optionally grouped by single spaces or
  dashes) that passes the Luhn check keeps at most its first six and last four digits
  (``4242424242424242`` -> ``424242******4242``);
* bearer tokens and api keys: ``Authorization: Bearer <x>``, ``apikey: <x>``, the
  ``Sec-WebSocket-Protocol`` header (Cloud Pay Display sends the OAuth token there) and
  JSON (also JSON inside a JSON string) or query fields named like ``access_token``,
  ``token``, ``authenticationToken``, ``apiAccessKey``, ``client_secret`` keep only
  their last four characters;
* card verification values and raw/encrypted PANs in JSON (``"cvv": "123"``,
  ``"number": "..."``, ``"encrypted_pan": "..."``) are replaced entirely.

Redaction is for display only; it never touches data sent to Clover.
:func:`install_log_redaction` puts :class:`RedactingFilter` on the loggers of the
libraries that log our traffic (websockets, httpx, httpcore) and on ours.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping

__all__ = [
    "LOGGERS",
    "SENSITIVE_HEADERS",
    "RedactingFilter",
    "install_log_redaction",
    "luhn_valid",
    "mask_pan",
    "mask_secret",
    "redact",
    "redact_headers",
]

#: Header names (lower case) whose values are always masked.
SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "apikey",
        "api-key",
        "x-api-key",
        "cookie",
        "set-cookie",
        "proxy-authorization",
        "sec-websocket-protocol",
    }
)

_PAN_RE = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")
_BEARER_RE = re.compile(r"(?i)\b(bearer|basic)\s+([A-Za-z0-9._~+/=\-]+)")
_SECRET_FIELD = (
    r"access_token|refresh_token|accessToken|refreshToken|client_secret|clientSecret|"
    r"api_access_key|apiAccessKey|apikey|api_key|apiKey|private_key|privateKey|"
    r"signing_secret|secret|password|code_verifier|"
    r"authentication_token|authenticationToken|auth_token|authToken|token"
)
# "field": "value"  /  field=value  /  field: value
_SECRET_JSON_RE = re.compile(r'(?i)("(?:' + _SECRET_FIELD + r')"\s*:\s*")([^"\\]*)(")')
# the same inside a JSON string (a Remote Pay payload): \"field\":\"value\"
_SECRET_ESCAPED_JSON_RE = re.compile(
    r'(?i)(\\"(?:' + _SECRET_FIELD + r')\\"\s*:\s*\\")([^"\\]*)(\\")'
)
# a header line as logged by websockets / http clients: "Sec-WebSocket-Protocol: <x>"
_SECRET_HEADER_RE = re.compile(r"(?i)\b(sec-websocket-protocol\s*[:=]\s*)([^\s,;'\"]+)")
_SECRET_KV_RE = re.compile(
    r"(?i)(?<![A-Za-z_])((?:" + _SECRET_FIELD + r")\s*[=:]\s*)([^\s&,;\"']+)"
)
_CARD_FIELD = (
    r"cvv|cvc|cvv2|security_code|securityCode|encrypted_pan|encryptedPan|"
    r"number|card_number|cardNumber"
)
_CARD_JSON_RE = re.compile(r'(?i)("(?:' + _CARD_FIELD + r')"\s*:\s*)("[^"\\]*"|[0-9]+)')


def luhn_valid(digits: str) -> bool:
    """True when ``digits`` (only 0-9) passes the Luhn checksum."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def mask_pan(digits: str) -> str:
    """Mask a card number to its first six and last four digits."""
    n = len(digits)
    return digits[:6] + "*" * (n - 10) + digits[-4:]


def mask_secret(secret: str | None) -> str:
    """Mask a token or key for display: ``****`` plus its last four characters if long."""
    if not secret:
        return "<none>"
    if len(secret) >= 16:
        return "****" + secret[-4:]
    return "****"


def _pan_sub(m: re.Match[str]) -> str:
    raw = m.group(0)
    digits = raw.replace(" ", "").replace("-", "")
    if 13 <= len(digits) <= 19 and luhn_valid(digits):
        return mask_pan(digits)
    return raw


def redact(text: str) -> str:
    """Return ``text`` with card numbers, bearer tokens, api keys and CVVs masked."""
    if not text:
        return text
    if "earer" in text or "asic" in text:
        text = _BEARER_RE.sub(lambda m: f"{m.group(1)} {mask_secret(m.group(2))}", text)
    text = _SECRET_JSON_RE.sub(lambda m: m.group(1) + mask_secret(m.group(2)) + m.group(3), text)
    if "\\" in text:
        text = _SECRET_ESCAPED_JSON_RE.sub(
            lambda m: m.group(1) + mask_secret(m.group(2)) + m.group(3), text
        )
    if "ocket-" in text or "OCKET-" in text:
        text = _SECRET_HEADER_RE.sub(lambda m: m.group(1) + mask_secret(m.group(2)), text)
    text = _SECRET_KV_RE.sub(lambda m: m.group(1) + mask_secret(m.group(2)), text)
    text = _CARD_JSON_RE.sub(lambda m: m.group(1) + '"[redacted]"', text)
    return _PAN_RE.sub(_pan_sub, text)


def redact_headers(
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
) -> dict[str, str]:
    """Copy of ``headers`` with secret values masked and everything else redacted."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for name, value in items:
        if name.lower() in SENSITIVE_HEADERS:
            if value.lower().startswith(("bearer ", "basic ")):
                scheme, _, cred = value.partition(" ")
                out[name] = f"{scheme} {mask_secret(cred)}"
            else:
                out[name] = mask_secret(value)
        else:
            out[name] = redact(value)
    return out


class RedactingFilter(logging.Filter):
    """A logging filter that redacts every record's message (and exception text).

    Attach it to a handler (``handler.addFilter(RedactingFilter())``) so that nothing
    logged through that handler, by any library, carries a token, key or card number.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


#: Loggers that carry our traffic: a filter on a logger does not see the records of its
#: children, so each one is named.
LOGGERS: tuple[str, ...] = (
    "websockets.client",
    "websockets.server",
    "websockets.protocol",
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "cloverpay.api",
    "cloverpay.api.oauth",
    "cloverpay.api.webhooks",
    "cloverpay.remotepay",
    "cloverpay.remotepay.protocol",
    "cloverpay.sandbox.terminal",
)


def install_log_redaction(names: Iterable[str] = LOGGERS) -> None:
    """Put a :class:`RedactingFilter` on each named logger (once), so that tokens, keys
    and card numbers are masked at every level before any handler sees the record:
    websockets logs the handshake headers at DEBUG (the Cloud Pay Display OAuth token
    is the sub-protocol) and httpx the URLs at INFO (the proxy token is a query
    parameter)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
