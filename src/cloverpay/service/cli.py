"""``cloverpay db upgrade``, ``cloverpay serve``, ``cloverpay reconcile``,
``cloverpay billing run``, ``cloverpay webhooks code`` / ``list``.

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
        billing: Annotated[
            bool,
            typer.Option(
                "--billing/--no-billing",
                help="Also run the subscriptions' billing run (safe with several processes).",
            ),
        ] = True,
        billing_interval: Annotated[
            float, typer.Option(help="Seconds between billing runs.")
        ] = 60.0,
        webhooks: Annotated[
            bool,
            typer.Option(
                "--webhooks/--no-webhooks",
                help="Also process the webhook inbox from this process (safe with several).",
            ),
        ] = True,
        events: Annotated[
            bool,
            typer.Option(
                "--events/--no-events",
                help="Also deliver signed events to merchants' CRMs (events out).",
            ),
        ] = True,
    ) -> None:
        """Run the payments service API (settings from the environment and .env)."""
        settings = _settings(database_url)
        import signal
        import threading

        import uvicorn

        from cloverpay.service.api import create_app
        from cloverpay.service.core.heap import settle_heap
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
            billing_every_s=billing_interval if billing else None,
            webhooks_every_s=1.0 if webhooks else None,
            events_every_s=1.0 if events else None,
        )
        # uvicorn stops gracefully on SIGTERM, then raises it again once it restored the
        # handler it found: with the default one the process would die before the
        # workers stop (terminal leases unreleased); this one lets the finally run.
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        settle_heap()  # what start-up built stays out of the collector's way
        try:
            uvicorn.run(app, host=host, port=port, log_level="warning")
        finally:
            stop.set()
            for worker in workers:
                worker.join(30)
            ctx.close()

    billing_cli = typer.Typer(help="Subscriptions billing.", no_args_is_help=True)

    @billing_cli.command("run")
    def billing_run(
        database_url: DbUrl = None,
        loop: Annotated[
            bool, typer.Option("--loop/--once", help="Keep running (every --interval s).")
        ] = False,
        interval: Annotated[float, typer.Option(help="Seconds between runs.")] = 60.0,
    ) -> None:
        """Bill the subscriptions that are due: one invoice per period, dunning retries,
        and what Clover's Recurring API charged (safe to run twice, or in two places)."""
        settings = _settings(database_url)
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        from cloverpay.service.services import ServiceContext
        from cloverpay.service.services.subscriptions import BillingRun

        ctx = ServiceContext.build(settings)
        run = BillingRun(ctx)
        try:
            while True:
                with Progress(
                    TextColumn("billing"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("{task.description}"),
                    transient=True,
                ) as bar:
                    task = bar.add_task("", total=None)

                    def step(done: int, total: int, sub_id: str, task: Any = task) -> None:
                        bar.update(task, completed=done, total=total, description=sub_id)

                    report = run.run_once(progress=step)
                typer.echo(report.summary())
                if not loop:
                    if report.errors:
                        raise typer.Exit(1)
                    return
                time.sleep(interval)
        finally:
            ctx.close()

    cli.add_typer(billing_cli, name="billing")

    webhooks_cli = typer.Typer(help="Webhooks received from Clover.", no_args_is_help=True)

    @webhooks_cli.command("code")
    def webhooks_code(database_url: DbUrl = None) -> None:
        """Show the app webhook verification code Clover sent, to paste into Clover."""
        settings = _settings(database_url)
        from cloverpay.service.services import ServiceContext
        from cloverpay.service.webhooks import latest_verification_code

        ctx = ServiceContext.build(settings)
        try:
            code = latest_verification_code(ctx)
        finally:
            ctx.close()
        if code is None:
            typer.echo(
                "No verification code received yet: set the app's webhook URL to "
                "https://<your host>/webhooks/clover/app in Clover and send the code.",
                err=True,
            )
            raise typer.Exit(1)
        typer.echo(code.code)
        typer.echo(f"received {code.received_at:%Y-%m-%d %H:%M:%S} UTC", err=True)

    @webhooks_cli.command("list")
    def webhooks_list(
        database_url: DbUrl = None,
        status: Annotated[
            str | None,
            typer.Option(
                help="Only rows in this status (received, processing, processed, failed)."
            ),
        ] = None,
        limit: Annotated[int, typer.Option(help="How many of the newest rows.")] = 50,
    ) -> None:
        """The webhook inbox, newest first (status, source, verified, attempts, errors)."""
        settings = _settings(database_url)
        from rich.console import Console
        from rich.table import Table

        from cloverpay.service.services import ServiceContext
        from cloverpay.service.webhooks import INBOX_STATUSES, recent_inbox

        if status is not None and status not in INBOX_STATUSES:
            typer.echo(f"--status must be one of {', '.join(INBOX_STATUSES)}", err=True)
            raise typer.Exit(2)
        ctx = ServiceContext.build(settings)
        try:
            rows = recent_inbox(ctx, status=status, limit=limit)
        finally:
            ctx.close()
        table = Table(title=f"Webhook inbox ({len(rows)} newest)")
        for name in (
            "#",
            "received",
            "source",
            "verified",
            "status",
            "tries",
            "last error",
            "processed",
        ):
            table.add_column(name, justify="right" if name in ("#", "tries") else "left")
        for r in rows:
            table.add_row(
                str(r.id),
                f"{r.received_at:%Y-%m-%d %H:%M:%S}",
                r.source,
                "yes" if r.verified else f"no ({r.verification_error or '?'})",
                r.status,
                str(r.attempts),
                r.last_error or "",
                f"{r.processed_at:%Y-%m-%d %H:%M:%S}" if r.processed_at else "",
            )
        Console().print(table)

    cli.add_typer(webhooks_cli, name="webhooks")

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
