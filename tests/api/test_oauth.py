"""OAuth v2 wire format: authorize URL, PKCE, token model, code exchange, refresh."""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from cloverpay.api import (
    PKCE,
    AsyncOAuthClient,
    OAuthClient,
    OAuthError,
    OAuthToken,
    authorize_url,
    code_challenge,
    parse_authorize_callback,
    parse_token_response,
)

ACCESS = "acc-4f1d0c2e9b7a"
REFRESH = "ref-8e2b6a1c3d5f"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def token_body(access: str = ACCESS, refresh: str = REFRESH, **extra: object) -> dict[str, object]:
    return {
        "access_token": access,
        "access_token_expiration": 1_700_000_000,
        "refresh_token": refresh,
        "refresh_token_expiration": 1_730_000_000,
        **extra,
    }


# --- authorize URL and PKCE --------------------------------------------------------------


def test_authorize_url_high_trust() -> None:
    url = authorize_url(
        "APPID123", "https://app.example/cb", state="xyz", merchant_id="MID0000000001"
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "sandbox.dev.clover.com",
        "/oauth/v2/authorize",
    )
    assert parse_qs(parts.query) == {
        "client_id": ["APPID123"],
        "redirect_uri": ["https://app.example/cb"],
        "response_type": ["code"],
        "state": ["xyz"],
        "merchant_id": ["MID0000000001"],
    }


def test_authorize_url_pkce_and_switches() -> None:
    pkce = PKCE.generate()
    url = authorize_url("APP", pkce=pkce, response_type=None, base_url="http://127.0.0.1:9/")
    assert url.startswith("http://127.0.0.1:9/oauth/v2/authorize?")
    query = parse_qs(urlsplit(url).query)
    assert query == {
        "client_id": ["APP"],
        "code_challenge": [pkce.code_challenge],
        "code_challenge_method": ["S256"],
    }
    assert pkce.code_verifier not in url
    bare = authorize_url("APP", code_challenge=pkce.code_challenge, code_challenge_method=None)
    assert "code_challenge_method" not in parse_qs(urlsplit(bare).query)
    with pytest.raises(ValueError, match="not both"):
        authorize_url("APP", pkce=pkce, code_challenge="x")
    with pytest.raises(ValueError, match="client_id"):
        authorize_url("")


def test_code_challenge_rfc7636_vector() -> None:
    # RFC 7636 appendix B.
    rfc_verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert code_challenge(rfc_verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert code_challenge(rfc_verifier, "plain") == rfc_verifier
    with pytest.raises(ValueError, match="code_verifier"):
        code_challenge("short")
    with pytest.raises(ValueError, match="code_challenge_method"):
        code_challenge(rfc_verifier, "S512")  # type: ignore[arg-type]


@given(st.integers(min_value=32, max_value=96))
def test_pkce_generate_is_valid_s256(nbytes: int) -> None:
    pkce = PKCE.generate(nbytes=nbytes)
    digest = hashlib.sha256(pkce.code_verifier.encode()).digest()
    assert pkce.code_challenge == base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert "=" not in pkce.code_challenge
    assert pkce.code_verifier not in repr(pkce)


# --- the token model ---------------------------------------------------------------------


def test_token_keeps_extra_fields_and_masks_secrets() -> None:
    token = OAuthToken.model_validate(token_body(merchant_id="MID1", id_token="idt-secret-value"))
    assert token.access_token.get_secret_value() == ACCESS
    assert token.model_extra == {"merchant_id": "MID1", "id_token": "idt-secret-value"}
    from rich.pretty import pretty_repr

    for text in (repr(token), str(token), f"{token}", repr([token]), pretty_repr(token)):
        assert ACCESS not in text
        assert REFRESH not in text
        assert "idt-secret-value" not in text
        assert "MID1" in text
    stored = token.to_storage_dict()
    assert stored["access_token"] == ACCESS
    assert stored["merchant_id"] == "MID1"
    assert OAuthToken.from_storage_dict(stored) == token


def test_token_expiry_window() -> None:
    token = OAuthToken.model_validate(token_body())
    assert not token.access_expires_within(60, now=1_700_000_000 - 61)
    assert token.access_expires_within(60, now=1_700_000_000 - 60)
    no_expiry = OAuthToken(access_token=SecretStr("a"))
    assert not no_expiry.access_expires_within(10_000, now=1e12)


def test_invalid_storage_dict_names_field_not_value() -> None:
    with pytest.raises(OAuthError) as info:
        OAuthToken.from_storage_dict({"access_token": ["secret-in-a-list"]})
    assert "access_token" in str(info.value)
    assert "secret-in-a-list" not in str(info.value)


# --- exchange and refresh (sync and async) ------------------------------------------------


class Recorder:
    def __init__(self, status: int = 200, body: object = None) -> None:
        self.status = status
        self.body = token_body() if body is None else body
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if isinstance(self.body, bytes):
            return httpx.Response(self.status, content=self.body)
        return httpx.Response(self.status, json=self.body)


def test_exchange_code_high_trust() -> None:
    rec = Recorder()
    with OAuthClient("APP", "app-secret", transport=httpx.MockTransport(rec)) as oauth:
        token = oauth.exchange_code("auth-code-1")
    (req,) = rec.requests
    assert str(req.url) == "https://apisandbox.dev.clover.com/oauth/v2/token"
    assert req.method == "POST"
    assert req.headers["content-type"] == "application/json"
    assert json.loads(req.content) == {
        "client_id": "APP",
        "client_secret": "app-secret",
        "code": "auth-code-1",
    }
    assert token.refresh_token is not None
    assert token.refresh_token.get_secret_value() == REFRESH
    assert "app-secret" not in repr(oauth)


def test_exchange_code_pkce_no_refresh_token_and_single_base_url() -> None:
    rec = Recorder(body={"access_token": ACCESS, "access_token_expiration": 1})
    oauth = OAuthClient("APP", base_url="http://127.0.0.1:8123", transport=httpx.MockTransport(rec))
    token = oauth.exchange_code("code", code_verifier="v" * 43, no_refresh_token=True)
    (req,) = rec.requests
    assert req.url.path == "/oauth/v2/token"
    assert req.url.host == "127.0.0.1"
    assert req.url.params["no_refresh_token"] == "true"
    expected = {"client_id": "APP", "code": "code", "code_verifier": "v" * 43}
    assert json.loads(req.content) == expected
    assert token.refresh_token is None
    assert oauth.authorize_url("https://cb").startswith("http://127.0.0.1:8123/oauth/v2/authorize")
    oauth.close()


def test_exchange_code_needs_secret_or_verifier() -> None:
    oauth = OAuthClient("APP", transport=httpx.MockTransport(Recorder()))
    with pytest.raises(ValueError, match=r"client_secret.*code_verifier"):
        oauth.exchange_code("code")


def test_hosts_are_separate_by_default_and_configurable() -> None:
    oauth = OAuthClient(
        "APP",
        "s",
        api_base_url="https://api.clover.com",
        authorize_base_url="https://www.clover.com",
    )
    assert oauth.authorize_url("https://cb").startswith("https://www.clover.com/oauth/v2/")
    assert oauth.api_base_url == "https://api.clover.com"
    with pytest.raises(ValueError, match="not both"):
        OAuthClient("APP", base_url="http://x", api_base_url="http://y")
    oauth.close()


def test_refresh_request_shape() -> None:
    rec = Recorder()
    oauth = OAuthClient("APP", transport=httpx.MockTransport(rec))
    oauth.refresh(SecretStr(REFRESH))
    (req,) = rec.requests
    assert str(req.url) == "https://apisandbox.dev.clover.com/oauth/v2/refresh"
    assert json.loads(req.content) == {"client_id": "APP", "refresh_token": REFRESH}


@pytest.mark.parametrize(
    ("status", "body", "match"),
    [
        (
            401,
            {"message": f"refresh token {REFRESH} is not valid"},
            r"failed: refresh token \*+ is not valid \(http_status=401\)$",
        ),
        (
            400,
            {"error_description": "bad", "error": "invalid_grant"},
            r"failed: bad \(http_status=400\)$",
        ),
        (500, b"<html>oops</html>", r"refresh failed \(http_status=500\)$"),
        (200, b"not json", "not JSON"),
        (200, [1, 2], "not a JSON object"),
        (200, {"access_token": 42, "refresh_token": REFRESH}, r"access_token \(string_type\)"),
    ],
)
def test_refresh_errors_are_clear_and_never_echo_secrets(
    status: int, body: object, match: str
) -> None:
    oauth = OAuthClient("APP", "app-secret", transport=httpx.MockTransport(Recorder(status, body)))
    with pytest.raises(OAuthError, match=match) as info:
        oauth.refresh(REFRESH)
    assert REFRESH not in str(info.value)
    assert REFRESH not in repr(info.value)
    assert info.value.status_code == status
    assert "/oauth/v2/refresh" in str(info.value)


@pytest.mark.anyio
async def test_async_client_exchange_and_refresh() -> None:
    rec = Recorder()
    async with AsyncOAuthClient("APP", "sec", transport=httpx.MockTransport(rec)) as oauth:
        first = await oauth.exchange_code("c")
        assert first.refresh_token is not None
        second = await oauth.refresh(first.refresh_token)
    assert [r.url.path for r in rec.requests] == ["/oauth/v2/token", "/oauth/v2/refresh"]
    assert second.access_token.get_secret_value() == ACCESS


@pytest.mark.anyio
async def test_async_client_uses_injected_client_without_closing_it() -> None:
    rec = Recorder(status=403, body={"message": "nope"})
    async with httpx.AsyncClient(transport=httpx.MockTransport(rec)) as http:
        oauth = AsyncOAuthClient("APP", "sec", http_client=http)
        with pytest.raises(OAuthError, match=r"failed: nope \(http_status=403\)"):
            await oauth.exchange_code("c")
        await oauth.aclose()
        assert not http.is_closed


def test_long_server_message_is_redacted_before_it_is_cut() -> None:
    body = {"message": "x" * 190 + REFRESH + "y" * 50}
    oauth = OAuthClient("APP", transport=httpx.MockTransport(Recorder(400, body)))
    with pytest.raises(OAuthError) as info:
        oauth.refresh(REFRESH)
    assert REFRESH[:6] not in str(info.value)
    assert info.value.server_message is not None
    assert len(info.value.server_message) == 200


def test_usage_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match="client_id"):
        OAuthClient("")
    with pytest.raises(ValueError, match="not both"):
        OAuthClient("APP", http_client=httpx.Client(), transport=httpx.MockTransport(Recorder()))
    with pytest.raises(ValueError, match="not both"):
        AsyncOAuthClient(
            "APP", http_client=httpx.AsyncClient(), transport=httpx.MockTransport(Recorder())
        )
    oauth = OAuthClient("APP", "s", transport=httpx.MockTransport(Recorder()))
    with pytest.raises(ValueError, match="code"):
        oauth.exchange_code("")
    with pytest.raises(ValueError, match="refresh_token"):
        oauth.refresh("")


def test_nested_error_message_and_a_response_without_request() -> None:
    rec = Recorder(401, {"error": {"message": "token revoked", "code": "x"}})
    oauth = OAuthClient("APP", transport=httpx.MockTransport(rec))
    with pytest.raises(OAuthError, match=r"failed: token revoked \(http_status=401\)"):
        oauth.refresh(REFRESH)
    bare = httpx.Response(500, json={"message": "boom"})
    with pytest.raises(OAuthError, match=r"^OAuth failed: boom \(http_status=500\)$"):
        parse_token_response(bare)


def test_same_grant() -> None:
    token = OAuthToken.model_validate(token_body())
    assert token.same_grant(OAuthToken.model_validate(token_body()))
    assert not token.same_grant(None)
    assert not token.same_grant(OAuthToken.model_validate(token_body(refresh="other")))


def test_parse_authorize_callback_forms() -> None:
    url = "https://app.example/cb?merchant_id=MID1&client_id=APP&code=c0de-1&state=s1"
    for given_value in (url, url.split("?", 1)[1], "?" + url.split("?", 1)[1]):
        cb = parse_authorize_callback(given_value, expected_state="s1")
        assert (cb.code, cb.merchant_id, cb.client_id, cb.state) == ("c0de-1", "MID1", "APP", "s1")
        assert "c0de-1" not in repr(cb)
    mapping = {"code": "x", "merchant_id": "M", "employee_id": "E"}
    assert parse_authorize_callback(mapping).employee_id == "E"


@pytest.mark.parametrize(
    ("callback", "expected_state", "match"),
    [
        ("https://a/cb?error=access_denied&state=s", "s", "not granted: access_denied"),
        ("https://a/cb?code=c&state=other", "s1", "state does not match"),
        ("https://a/cb?code=c", "s1", "state does not match"),
        ("https://a/cb?merchant_id=M&state=s1", "s1", "no code"),
        ("https://a/cb?code=&state=s1", None, "no code"),
    ],
)
def test_parse_authorize_callback_refusals(
    callback: str, expected_state: str | None, match: str
) -> None:
    with pytest.raises(OAuthError, match=match):
        parse_authorize_callback(callback, expected_state=expected_state)
