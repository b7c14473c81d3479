"""Engine construction and migrations for the warehouse.

Migrations run once, explicitly (``storeflow migrate``, the compose init service, the launcher, CI) or
under a lock the first time a process finds the schema behind; tasks only pay a cheap version check.
"""

from __future__ import annotations

import logging
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError

from storeflow.settings import get_settings

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine.interfaces import DBAPIConnection

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# any 64-bit constant shared by every storeflow process: the PostgreSQL advisory lock migrations take
_MIGRATION_LOCK_KEY = 0x5707EF10
_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()
log = logging.getLogger(__name__)


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


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: object) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # WAL + NORMAL: no fsync per commit; a power cut may roll back the last commits but never corrupts
    # (every writer here is idempotent or, like the outbox, recovers unfinished rows without re-sending).
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """Create an engine for the warehouse (SQLite gets WAL, synchronous=NORMAL and a busy timeout)."""
    resolved = warehouse_url(url)
    if resolved.startswith("postgresql://"):
        resolved = "postgresql+psycopg://" + resolved[len("postgresql://") :]
    # hide_parameters: a failed statement's error text never carries row values (emails, phones) into
    # sync_runs.error, logs or alerts
    kwargs.setdefault("hide_parameters", True)
    engine = create_engine(resolved, future=True, pool_pre_ping=True, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def alembic_config(engine: Engine) -> Config:
    """An Alembic config bound to ``engine`` (used by :func:`migrate` and the schema test)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest migration's revision id (read once per process from the migration scripts)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    if head is None:
        raise RuntimeError(f"no Alembic head in {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the warehouse is at, or None for an empty database (one cheap SELECT)."""
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        return None


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the warehouse schema to ``revision`` with Alembic (idempotent, safe to run concurrently).

    On PostgreSQL a session advisory lock serialises concurrent callers (three parallel extract tasks on a
    fresh install used to race to create the same tables); SQLite serialises writers itself.
    """
    from alembic import command

    if engine.dialect.name != "postgresql":
        command.upgrade(alembic_config(engine), revision)
        return
    with engine.connect() as lock_conn:
        lock_conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
        try:
            command.upgrade(alembic_config(engine), revision)
        finally:
            lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK_KEY})
            lock_conn.commit()


def ensure_schema(engine: Engine) -> None:
    """Cheap guard for tasks: migrate only when the warehouse is not at the newest revision."""
    if current_revision(engine) == head_revision():
        return
    log.info("warehouse schema is behind revision %s: migrating", head_revision())
    migrate(engine)


def connect_warehouse(url: str | None = None) -> Engine:
    """The process's engine for the configured warehouse, with the schema at the newest revision.

    One engine per URL per process (its pool is shared by every task in a worker); the schema check is
    one SELECT, and Alembic runs only when that finds the schema behind. ``STOREFLOW_SKIP_MIGRATE=1``
    skips even the check.
    """
    resolved = warehouse_url(url)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(resolved)
        if engine is None:
            engine = _ENGINES[resolved] = make_engine(resolved)
    if os.environ.get("STOREFLOW_SKIP_MIGRATE") != "1":
        ensure_schema(engine)
    return engine


def dispose_engines() -> None:
    """Close every cached engine (tests that drop databases, forked workers)."""
    with _ENGINES_LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()
