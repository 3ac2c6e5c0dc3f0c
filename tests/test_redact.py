from __future__ import annotations

import logging
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloverpay._redact import (
    RedactingFilter,
    install_log_redaction,
    luhn_valid,
    mask_pan,
    mask_secret,
    redact,
    redact_headers,
)


def luhn_complete(body: str) -> str:
    """Append the check digit that makes ``body`` Luhn-valid."""
    for d in "0123456789":
        if luhn_valid(body + d):
            return body + d
    raise AssertionError("unreachable")


pans = st.integers(min_value=13, max_value=19).flatmap(
    lambda n: st.text("0123456789", min_size=n - 1, max_size=n - 1).map(luhn_complete)
)
# Surrounding text that cannot glue extra digits onto the number.
filler = st.text(st.characters(blacklist_categories=("Nd",)), max_size=30)


@given(pans, filler, filler)
def test_any_luhn_valid_pan_is_masked_to_first6_last4(pan: str, before: str, after: str) -> None:
    # (Text such as "Bearer " before the number masks it whole, as a secret: stronger.)
    out = redact(before + pan + after)
    assert pan not in out
    digits_left = re.findall(r"[0-9]", out)
    assert len(digits_left) <= 10 + len(re.findall(r"[0-9]", before + after))


# Punctuation and spaces only: nothing that reads as a secret's name.
plain = st.text(" .,;:()[]-_/", max_size=10)


@given(pans, plain, plain)
def test_a_pan_in_plain_text_keeps_exactly_first6_last4(pan: str, before: str, after: str) -> None:
    assert mask_pan(pan) in redact(before + pan + after)


@given(pans)
def test_grouped_pan_is_masked(pan: str) -> None:
    grouped = " ".join(pan[i : i + 4] for i in range(0, len(pan), 4))
    out = redact(f"card {grouped} declined")
    assert grouped not in out
    assert pan not in out.replace(" ", "")


def test_non_luhn_numbers_are_kept() -> None:
    assert luhn_valid("4242424242424242")
    assert not luhn_valid("4242424242424241")
    assert redact("ref 4242424242424241") == "ref 4242424242424241"
    assert redact("amount 1100") == "amount 1100"


def test_known_pan() -> None:
    assert redact("pan=4242424242424242.") == "pan=424242******4242."
    assert redact("x 4005-5717-0222-2222 y") == "x 400557******2222 y"


def test_bearer_and_keys_are_masked() -> None:
    token = "9b6c0a1e-5d1f-4d5b-9b63-aa00deadbeef"
    out = redact(f"Authorization: Bearer {token}")
    assert token not in out
    assert out.endswith("beef")
    out = redact(f'{{"access_token": "{token}", "apiAccessKey": "af4e0000d145ffff1111"}}')
    assert token not in out
    assert "af4e0000d145ffff1111" not in out
    out = redact(f"GET /x?access_token={token}&limit=1")
    assert token not in out
    assert "limit=1" in out


def test_cvv_and_numbers_in_json_are_removed() -> None:
    out = redact('{"card": {"number": "4111111111111111", "cvv": "123", "exp_month": "12"}}')
    assert "4111111111111111" not in out
    assert '"123"' not in out
    assert '"exp_month": "12"' in out


def test_mask_secret() -> None:
    assert mask_secret(None) == "<none>"
    assert mask_secret("short") == "****"
    assert mask_secret("abcdefghijklmnop") == "****mnop"


def test_redact_headers() -> None:
    out = redact_headers(
        {"Authorization": "Bearer abcdefghijklmnopqrst", "apikey": "k" * 20, "X-Other": "v"}
    )
    assert out == {"Authorization": "Bearer ****qrst", "apikey": "****kkkk", "X-Other": "v"}
    assert redact_headers([("Cookie", "s=1")]) == {"Cookie": "****"}


def test_redacting_filter_cleans_messages_args_and_tracebacks() -> None:
    import io
    import logging

    from cloverpay._redact import RedactingFilter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    log = logging.getLogger("test.redacting")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("card %s token %s", "4242424242424242", "Bearer abcdefghijklmnopqrstuv")
        try:
            raise ValueError("bad pan 4005571702222222")
        except ValueError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    out = stream.getvalue()
    assert "4242424242424242" not in out
    assert "abcdefghijklmnopqrstuv" not in out
    assert "4005571702222222" not in out
    assert "424242******4242" in out
    assert "ValueError" in out


def test_websocket_subprotocol_token_and_query_token_are_masked() -> None:
    token = "49e1859f-9b11-4f0c-9848-292d993955be"
    assert redact(f"> Sec-WebSocket-Protocol: {token}") == "> Sec-WebSocket-Protocol: ****55be"
    line = "GET /support/remote_pay/cs?token=d4bc82a6492bdfabaa0c668640d00a1f&friendlyId=x"
    assert redact(line) == "GET /support/remote_pay/cs?token=****0a1f&friendlyId=x"
    assert redact_headers({"Sec-WebSocket-Protocol": token}) == {
        "Sec-WebSocket-Protocol": "****55be"
    }


def test_a_token_in_json_inside_a_json_string_is_masked() -> None:
    frame = '{"payload":"{\\"authenticationToken\\":\\"225166a7ea5dbfbf34f0ee22efdbc40a\\"}"}'
    assert "225166a7ea5dbfbf34f0ee22efdbc40a" not in redact(frame)
    assert '\\"authenticationToken\\":\\"****c40a\\"' in redact(frame)


def test_install_log_redaction_masks_records_of_library_loggers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_log_redaction(["websockets.client"])
    install_log_redaction(["websockets.client"])  # once only
    logger = logging.getLogger("websockets.client")
    assert sum(isinstance(f, RedactingFilter) for f in logger.filters) == 1
    with caplog.at_level(logging.DEBUG, logger="websockets.client"):
        logger.debug("> %s: %s", "Sec-WebSocket-Protocol", "49e1859f-9b11-4f0c-9848-292d993955be")
    assert caplog.records[-1].getMessage() == "> Sec-WebSocket-Protocol: ****55be"
