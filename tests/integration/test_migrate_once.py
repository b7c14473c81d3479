"""Migrations run once: concurrent first tasks do not race, and later tasks pay one SELECT."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor

import sqlalchemy as sa
from sqlalchemy import event


def _connect_and_count_tables(url: str) -> int:
    from storeflow.warehouse.db import connect_warehouse

    engine = connect_warehouse(url)
    try:
        return len(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_three_fresh_tasks_do_not_race_to_create_the_schema(pg_schema_url):
    """Three processes meeting an empty PostgreSQL warehouse at once all come up with the full schema."""
    with ProcessPoolExecutor(3) as pool:
        counts = list(pool.map(_connect_and_count_tables, [pg_schema_url] * 3))
    from storeflow.warehouse.db import current_revision, head_revision, make_engine

    engine = make_engine(pg_schema_url)
    try:
        assert current_revision(engine) == head_revision()
        assert "alert_incidents" in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
    assert len(set(counts)) == 1 and counts[0] > 10, counts


def test_guard_on_a_current_schema_is_one_select(warehouse):
    """A task that finds the schema at the newest revision issues one statement and runs no Alembic."""
    from storeflow.warehouse.db import ensure_schema

    statements: list[str] = []

    def _record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(warehouse, "before_cursor_execute", _record)
    try:
        ensure_schema(warehouse)
    finally:
        event.remove(warehouse, "before_cursor_execute", _record)
    assert len(statements) == 1 and "alembic_version" in statements[0], statements


def test_one_engine_per_process(tmp_path):
    from storeflow.warehouse.db import connect_warehouse

    url = f"sqlite:///{tmp_path / 'w.db'}"
    assert connect_warehouse(url) is connect_warehouse(url)


def test_migrate_command_brings_an_empty_warehouse_to_head(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    first = subprocess.run([sys.executable, "-m", "storeflow.warehouse", "migrate", "--url", url],
                           capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr[-2000:]
    check = subprocess.run([sys.executable, "-m", "storeflow.warehouse", "revision", "--url", url],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0 and "revision" in check.stdout
    empty = subprocess.run([sys.executable, "-m", "storeflow.warehouse", "revision", "--url",
                            f"sqlite:///{tmp_path / 'empty.db'}"], capture_output=True, text=True, timeout=120)
    assert empty.returncode == 1 and "revision None" in empty.stdout


def test_storeflow_cli_runs_migrate(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli2.db'}"
    done = subprocess.run([sys.executable, "-m", "storeflow.cli", "migrate", "--url", url],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "newest" in done.stdout, done.stderr[-2000:]
