"""``cloverpay db upgrade`` and ``cloverpay reconcile --once`` through the real CLI app."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect
from typer.testing import CliRunner

from cloverpay.cli import app
from cloverpay.service.db import make_engine


def test_db_upgrade_then_reconcile(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    runner = CliRunner()
    result = runner.invoke(app, ["db", "upgrade", "--database-url", url])
    assert result.exit_code == 0, result.output
    engine = make_engine(url)
    assert {"invoices", "payment_attempts", "alembic_version"} <= set(
        inspect(engine).get_table_names()
    )
    engine.dispose()
    result = runner.invoke(app, ["reconcile", "--once", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "checked 0" in result.output
