"""Shared fixtures: isolated data dirs, SQLite and PostgreSQL warehouses (one schema per test run)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

PG_URL = os.environ.get("STOREFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("STOREFLOW_REQUIRE_PG") == "1"


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_URL.replace("postgresql+psycopg", "postgresql"), connect_timeout=3):
            return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_available() -> bool:
    ok = _pg_available()
    if not ok and REQUIRE_PG:
        pytest.fail(f"PostgreSQL required (STOREFLOW_REQUIRE_PG=1) but not reachable at {PG_URL}")
    return ok


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch) -> None:
    """Every test gets its own data dir and no ambient warehouse/landing configuration."""
    monkeypatch.setenv("STOREFLOW_DATA_DIR", str(tmp_path / "data"))
    # tests run against the simulators, i.e. the demo profile; production-profile tests set it themselves
    monkeypatch.setenv("STOREFLOW_PROFILE", "demo")
    for var in ("STOREFLOW_WAREHOUSE_URL", "STOREFLOW_LANDING_URL", "STOREFLOW_S3_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    from storeflow.settings import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def pg_schema_url(pg_available) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    if not pg_available:
        pytest.skip("PostgreSQL not reachable")
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse(request, tmp_path):
    """A migrated warehouse engine, once on SQLite and once on PostgreSQL."""
    from storeflow.warehouse.db import connect_warehouse

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    else:
        url = request.getfixturevalue("pg_schema_url")
    engine = connect_warehouse(url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_warehouse(tmp_path):
    """A migrated SQLite warehouse engine."""
    from storeflow.warehouse.db import connect_warehouse

    engine = connect_warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def pg_warehouse(pg_schema_url):
    """A migrated PostgreSQL warehouse engine in its own schema."""
    from storeflow.warehouse.db import connect_warehouse

    engine = connect_warehouse(pg_schema_url)
    yield engine
    engine.dispose()
