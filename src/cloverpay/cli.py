"""The ``cloverpay`` command line.

``cloverpay sandbox --host 127.0.0.1 --port 8080 [--seed N] [--rate-limits]`` runs the
offline Clover emulator; it prints one JSON line with the credentials, then serves.
``--terminal-port 12345 [--terminal-tls] [--terminal-cert-dir DIR]
[--terminal-pairing confirm]`` also runs the emulated Clover terminal (Remote Pay at
``ws(s)://HOST:PORT/remote_pay``).
``cloverpay terminal pair | sale | refund | void | status | message | lookup --url
ws(s)://DEVICE:12345/remote_pay`` drives a Clover device (see :mod:`cloverpay._terminal_cli`).
``cloverpay demo`` runs the same sandbox and walks through token, charge and refund
against it over a real socket, then keeps serving. ``cloverpay db upgrade``,
``cloverpay serve`` and ``cloverpay reconcile`` run the payments service
(:mod:`cloverpay.service.cli`; they need the ``service`` extra). ``cloverpay up``
runs the service with the built-in sandbox, seeded, on SQLite (:mod:`cloverpay.service.up`).

The CLI needs the ``cli`` extra (``sandbox`` includes it); without typer, :func:`main`
says which extra to install instead of failing with an ImportError.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

__all__ = ["app", "main"]

_MISSING = (
    "The cloverpay command line needs extra packages.\n"
    "Install them with: pip install 'cloverpay[sandbox]'  (or 'cloverpay[cli]')\n"
)

try:
    import typer
except ImportError:  # pragma: no cover - exercised by the bare-install test
    typer = None  # type: ignore[assignment]


def _build_app() -> Any:
    assert typer is not None
    cli = typer.Typer(
        name="cloverpay",
        help="Take payments through Clover; run an offline Clover sandbox.",
        no_args_is_help=True,
        add_completion=False,
    )

    @cli.callback()
    def _root() -> None:
        """cloverpay command line."""

    @cli.command("sandbox")
    def sandbox_command(
        host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port (0 picks a free one).")] = 8080,
        seed: Annotated[
            int | None, typer.Option(help="Seed for deterministic ids and credentials.")
        ] = None,
        rate_limits: Annotated[
            bool, typer.Option("--rate-limits", help="Enforce Clover's per-token limits.")
        ] = False,
        terminal_port: Annotated[
            int | None,
            typer.Option(help="Also run the emulated terminal on this port (0: any free one)."),
        ] = None,
        terminal_tls: Annotated[
            bool, typer.Option("--terminal-tls", help="Serve wss:// with a generated certificate.")
        ] = False,
        terminal_cert_dir: Annotated[
            str | None, typer.Option(help="Write the terminal's CA and certificate PEMs here.")
        ] = None,
        terminal_pairing: Annotated[
            str, typer.Option(help="'auto' pairs at once; 'confirm' waits for the code.")
        ] = "auto",
    ) -> None:
        """Run the offline Clover sandbox (prints one JSON line of credentials)."""
        try:
            from cloverpay.sandbox import serve
        except ImportError:
            sys.stderr.write(_MISSING)
            raise typer.Exit(2) from None
        if terminal_pairing not in ("auto", "confirm"):
            sys.stderr.write("--terminal-pairing must be 'auto' or 'confirm'\n")
            raise typer.Exit(2)
        serve(
            host=host,
            port=port,
            seed=seed,
            rate_limits=rate_limits,
            terminal_port=terminal_port,
            terminal_tls=terminal_tls,
            terminal_cert_dir=terminal_cert_dir,
            terminal_pairing=terminal_pairing,
        )

    @cli.command("demo")
    def demo_command(
        host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port (0 picks a free one).")] = 8080,
        seed: Annotated[
            int | None, typer.Option(help="Seed for deterministic ids and credentials.")
        ] = None,
        serve: Annotated[
            bool, typer.Option("--serve/--no-serve", help="Keep serving after the walkthrough.")
        ] = True,
    ) -> None:
        """Run the sandbox and walk through token, charge and refund against it."""
        try:
            from cloverpay._demo import run_demo
        except ImportError:
            sys.stderr.write(_MISSING)
            raise typer.Exit(2) from None
        run_demo(host=host, port=port, seed=seed, serve=serve)

    @cli.command("up")
    def up_command(
        host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port of the service and dashboard.")] = 8000,
        sandbox_port: Annotated[int, typer.Option(help="Port of the Clover sandbox.")] = 8765,
        data_dir: Annotated[str, typer.Option(help="Where the database lives.")] = ".cloverpay",
        terminal: Annotated[
            bool, typer.Option("--terminal/--no-terminal", help="Run the emulated terminal.")
        ] = True,
    ) -> None:
        """Run the payments service with the built-in sandbox, seeded, on SQLite."""
        try:
            from pathlib import Path

            from cloverpay.service.up import run_up
        except ImportError:
            sys.stderr.write(_MISSING.replace("sandbox]", "all]"))
            raise typer.Exit(2) from None
        run_up(
            host=host,
            port=port,
            sandbox_port=sandbox_port,
            data_dir=Path(data_dir),
            terminal=terminal,
        )

    from cloverpay._terminal_cli import build_terminal_app
    from cloverpay.service.cli import register as register_service

    cli.add_typer(build_terminal_app(), name="terminal")
    register_service(cli)
    return cli


app: Any = _build_app() if typer is not None else None


def main() -> None:
    """Entry point of the ``cloverpay`` script."""
    if app is None:
        sys.stderr.write(_MISSING)
        raise SystemExit(2)
    app()
