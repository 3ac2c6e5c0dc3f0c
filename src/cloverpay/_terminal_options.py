"""The options every ``cloverpay terminal`` command takes, and what they resolve to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

__all__ = [
    "APP_ID",
    "DEFAULT_TOKEN_FILE",
    "EXIT_DECLINED",
    "EXIT_ERROR",
    "EXIT_UNKNOWN",
    "ApiBaseUrl",
    "ApiToken",
    "AppId",
    "AsJson",
    "CaFile",
    "MerchantId",
    "Pin",
    "Plain",
    "Timeout",
    "TokenFile",
    "Url",
]

DEFAULT_TOKEN_FILE = Path("~/.config/cloverpay/terminals.json")
APP_ID = "com.cloverpay.cli:1.0"
EXIT_DECLINED, EXIT_ERROR, EXIT_UNKNOWN = 1, 2, 3

Url = Annotated[
    str,
    typer.Option(
        "--url",
        envvar="CLOVERPAY_TERMINAL_URL",
        help="Device URL: wss://IP:12345/remote_pay (ws:// needs --insecure-plain-ws).",
    ),
]
CaFile = Annotated[
    Path | None, typer.Option("--ca-file", help="PEM bundle that signs the device certificate.")
]
Pin = Annotated[
    str | None, typer.Option("--pin", help="SHA-256 (hex) of the device's DER certificate.")
]
Plain = Annotated[bool, typer.Option("--insecure-plain-ws", help="Allow an unencrypted ws:// URL.")]
TokenFile = Annotated[
    Path | None,
    typer.Option(
        "--token-file",
        envvar="CLOVERPAY_TERMINAL_TOKENS",
        help=f"Where pairing tokens are kept (default {DEFAULT_TOKEN_FILE}).",
    ),
]
AppId = Annotated[str, typer.Option("--app-id", help="The POS's Remote App ID.")]
Timeout = Annotated[
    float, typer.Option("--timeout", help="Seconds to wait for pairing and for each answer.")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object instead.")]
ApiToken = Annotated[
    str | None,
    typer.Option(
        "--api-token",
        envvar="CLOVERPAY_API_TOKEN",
        help="Merchant API token: a lost sale answer is then also looked up over REST "
        "(prefer the environment variable: arguments are visible to other users).",
        show_default=False,
    ),
]
MerchantId = Annotated[
    str | None,
    typer.Option("--merchant-id", envvar="CLOVERPAY_MERCHANT_ID", help="For --api-token."),
]
ApiBaseUrl = Annotated[
    str | None,
    typer.Option(
        "--api-base-url",
        envvar="CLOVERPAY_API_BASE_URL",
        help="Clover REST base URL for --api-token (default: Clover's production server).",
    ),
]


@dataclass(frozen=True, slots=True)
class _Target:
    url: str
    ca_file: Path | None
    pin: str | None
    plain: bool
    token_file: Path | None
    app_id: str
    timeout: float
    as_json: bool


@dataclass(frozen=True, slots=True)
class _Rest:
    token: str | None
    merchant_id: str | None
    base_url: str | None

    def __repr__(self) -> str:  # the token stays out of reprs and tracebacks
        return f"_Rest(merchant_id={self.merchant_id!r}, base_url={self.base_url!r})"
