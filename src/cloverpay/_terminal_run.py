"""Running one ``cloverpay terminal`` command: connect (pairing if need be), make the
request, close; connection errors and lost answers become exit codes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import typer

from ._terminal_options import DEFAULT_TOKEN_FILE, EXIT_ERROR, EXIT_UNKNOWN, _Rest, _Target
from ._terminal_output import _console, _show

if TYPE_CHECKING:  # imported when a command runs: `cloverpay --help` stays quick
    from rich.console import Console

    from cloverpay.remotepay import CloverConnector, DeviceErrorEvent

__all__: list[str] = []  # the terminal commands' own helpers


def _listener(console: Console) -> Any:
    from rich.panel import Panel
    from rich.text import Text

    from cloverpay.remotepay import CloverConnectorListener

    class Listener(CloverConnectorListener):
        def on_pairing_code(self, pairing_code: str) -> None:
            code = Text(" ".join(pairing_code), style="bold white on blue", justify="center")
            console.print(
                Panel(
                    Text.assemble("\n", code, "\n"),
                    title="Pairing code",
                    subtitle="type it on the device",
                    expand=False,
                    padding=(1, 6),
                )
            )

        def on_device_error(self, error: DeviceErrorEvent) -> None:
            if error.code in ("PairingFailed", "CertificatePin", "Recovering"):
                console.print(f"[yellow]{error.code}:[/] {error.message}")

    return Listener()


def _run(
    target: _Target,
    call: Callable[[CloverConnector], Awaitable[Any]],
    rest: _Rest | None = None,
) -> Any:
    import asyncio

    from cloverpay.remotepay import (
        CloverConnector,
        ConnectorConfig,
        KeyedFileTokenStore,
        NotReadyError,
        OutcomeUnknownError,
    )

    err = _console(stderr=True)
    out = _console(stderr=target.as_json)
    try:
        config = ConnectorConfig(
            url=target.url,
            remote_application_id=target.app_id,
            ca_file=str(target.ca_file) if target.ca_file else None,
            pinned_sha256=target.pin,
            allow_plain_ws=target.plain,
            heartbeat_interval=None,
            reconnect_delay=1.0,
            request_timeout=target.timeout,
            connect_timeout=min(target.timeout, 10.0),
            recovery_timeout=min(target.timeout, 30.0),
        )
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(EXIT_ERROR) from None
    path = (target.token_file or DEFAULT_TOKEN_FILE).expanduser()
    store = KeyedFileTokenStore(path, target.url)

    if rest is not None and rest.token and not rest.merchant_id:
        err.print("[red]error:[/] --api-token needs --merchant-id")
        raise typer.Exit(EXIT_ERROR)

    async def go() -> Any:
        from cloverpay.api import AsyncCloverClient
        from cloverpay.remotepay import rest_payment_lookup

        client = None
        if rest is not None and rest.token:
            client = AsyncCloverClient(
                rest.token, merchant_id=rest.merchant_id, base_url=rest.base_url
            )
        lookup = rest_payment_lookup(client) if client is not None else None
        connector = CloverConnector(config, _listener(out), token_store=store, rest_lookup=lookup)
        try:
            await connector.connect(timeout=target.timeout)
            return connector.merchant_info, await call(connector)
        finally:
            await connector.close()
            if client is not None:
                await client.aclose()

    try:
        return asyncio.run(go())
    except (TimeoutError, NotReadyError) as exc:
        err.print(f"[red]error:[/] could not reach and pair with {target.url}: {exc}")
        raise typer.Exit(EXIT_ERROR) from None
    except OutcomeUnknownError as exc:
        reason = exc.resolution.reason if exc.resolution else str(exc)
        _show(
            target,
            out,
            "Outcome UNKNOWN",
            {"result": "UNKNOWN", "external_id": exc.external_id, "reason": reason},
        )
        raise typer.Exit(EXIT_UNKNOWN) from None
    except ValueError as exc:  # e.g. a token file that is not JSON
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(EXIT_ERROR) from None
