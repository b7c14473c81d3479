"""Engine construction and migrations for the warehouse."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event

from storeflow.settings import get_settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def warehouse_url(url: str | None = None) -> str:
    """Resolve the warehouse URL: explicit argument, ``STOREFLOW_WAREHOUSE_URL``, else the SQLite default."""
    if url:
        return url
    settings = get_settings()
    if settings.warehouse_url:
        return settings.warehouse_url
    path = settings.warehouse_path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # WAL + NORMAL: no fsync per commit; a power cut may roll back the last commits but never corrupts
    # (every writer here is idempotent or, like the outbox, recovers unfinished rows without re-sending).
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str | None = None, **kwargs) -> Engine:
    """Create an engine for the warehouse (SQLite gets WAL, synchronous=NORMAL and a busy timeout)."""
    resolved = warehouse_url(url)
    if resolved.startswith("postgresql://"):
        resolved = "postgresql+psycopg://" + resolved[len("postgresql://") :]
    engine = create_engine(resolved, future=True, pool_pre_ping=True, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def alembic_config(engine: Engine):
    """An Alembic config bound to ``engine`` (used by :func:`migrate` and the schema test)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the warehouse schema to ``revision`` with Alembic (idempotent)."""
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def connect_warehouse(url: str | None = None) -> Engine:
    """Engine for the configured warehouse, migrated to the latest schema."""
    engine = make_engine(url)
    if os.environ.get("STOREFLOW_SKIP_MIGRATE") != "1":
        migrate(engine)
    return engine
