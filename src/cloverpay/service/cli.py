"""``cloverpay db upgrade``, ``cloverpay serve``, ``cloverpay reconcile``.

Only typer is imported here; the service's own modules (FastAPI, SQLAlchemy, Alembic)
are imported when a command runs, so ``cloverpay --help`` works without the
``service`` extra and a command without it says which extra to install.
"""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer

__all__ = ["register"]

_MISSING = (
    "This command needs the service extra.\nInstall it with: pip install 'cloverpay[service]'\n"
)

DbUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url", help="Overrides DATABASE_URL (default: SQLite in ./.cloverpay)."
    ),
]


def _settings(database_url: str | None) -> Any:
    try:
        from cloverpay.service.core.config import Settings
    except ImportError:
        sys.stderr.write(_MISSING)
        raise typer.Exit(2) from None
    return Settings(database_url=database_url) if database_url else Settings()


def register(cli: typer.Typer) -> None:
    """Add the service's commands to the ``cloverpay`` CLI."""
    db = typer.Typer(help="The service's database.", no_args_is_help=True)

    @db.command("upgrade")
    def db_upgrade(
        database_url: DbUrl = None,
        revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
    ) -> None:
        """Apply the Alembic migrations shipped with cloverpay."""
        settings = _settings(database_url)
        from cloverpay.service.migrate import upgrade

        upgrade(settings.database_url, revision)
        typer.echo(f"database at revision {revision}")

    cli.add_typer(db, name="db")

    @cli.command("serve")
    def serve(
        host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
        database_url: DbUrl = None,
        migrate: Annotated[
            bool, typer.Option("--migrate/--no-migrate", help="Run migrations first.")
        ] = True,
        reconciler: Annotated[
            bool,
            typer.Option(
                "--reconciler/--no-reconciler",
                help="Also run the reconciler in this process (safe with several processes).",
            ),
        ] = True,
        interval: Annotated[float, typer.Option(help="Seconds between reconciler passes.")] = 15.0,
        emails: Annotated[
            bool,
            typer.Option(
                "--emails/--no-emails",
                help="Also deliver the outbox's emails from this process (SMTP settings).",
            ),
        ] = True,
    ) -> None:
        """Run the payments service API (settings from the environment and .env)."""
        settings = _settings(database_url)
        import threading

        import uvicorn

        from cloverpay.service.api import create_app
        from cloverpay.service.migrate import upgrade
        from cloverpay.service.services import ServiceContext
        from cloverpay.service.workers import start_workers

        if migrate:
            upgrade(settings.database_url)
        ctx = ServiceContext.build(settings)
        stop = threading.Event()

        app = create_app(context=ctx)
        workers = start_workers(
            ctx,
            app.state.web,
            stop,
            reconcile_every_s=interval if reconciler else None,
            emails_every_s=1.0 if emails else None,
        )
        try:
            uvicorn.run(app, host=host, port=port, log_level="warning")
        finally:
            stop.set()
            for worker in workers:
                worker.join(30)
            ctx.close()

    @cli.command("reconcile")
    def reconcile(
        database_url: DbUrl = None,
        loop: Annotated[
            bool, typer.Option("--loop/--once", help="Keep running (every --interval s).")
        ] = False,
        interval: Annotated[float, typer.Option(help="Seconds between passes.")] = 15.0,
    ) -> None:
        """Resolve pending and unknown payment attempts that are due (RELIABILITY rule 3)."""
        settings = _settings(database_url)
        from cloverpay.service.services import Reconciler, ServiceContext

        ctx = ServiceContext.build(settings)
        reconciler = Reconciler(ctx)
        try:
            while True:
                report = reconciler.run_once()
                typer.echo(
                    f"checked {len(report.checked)}, resolved {len(report.resolved)}, "
                    f"alerted {len(report.alerted)}"
                )
                if not loop:
                    return
                time.sleep(interval)
        finally:
            ctx.close()
