"""Shared fixtures: isolated data dirs, SQLite and PostgreSQL warehouses (one schema per test run), and the
store and POS simulators."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

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


# --- simulators -----------------------------------------------------------------------------------
STORE_T0 = datetime(2024, 7, 1, 12, 0, 0, tzinfo=UTC)  # British Summer Time: London = UTC+1


@pytest.fixture
def store_t0() -> datetime:
    """Where the store simulator's clock stands (frozen); a test module overrides this fixture to move it."""
    return STORE_T0


@pytest.fixture
def state(store_t0: datetime) -> Any:
    """The store simulator's state: ``small_world(store_t0)`` with its clock frozen at ``store_t0``."""
    from storeflow_simulators.store import StoreState
    from storeflow_simulators.store_testing import small_world

    st = StoreState.from_world(small_world(store_t0))
    st.clock.freeze(store_t0)
    return st


@pytest.fixture
def store(state: Any) -> Iterator[Any]:
    """The store simulator serving ``state`` over HTTP (``.url``)."""
    from storeflow_simulators.store_testing import running_store

    with running_store(state) as handle:
        yield handle


@pytest.fixture
def http() -> Any:
    """A ``requests`` session signing with the official ``woocommerce`` SDK (:class:`tests.woo_signing.SdkOAuth`)."""
    import requests

    from tests.woo_signing import SdkOAuth

    session = requests.Session()
    session.auth = SdkOAuth()
    return session


@pytest.fixture
def pos_t0() -> datetime:
    """The POS sample world's "now"; a test module overrides this fixture with its own clock."""
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def pos_state(pos_t0: datetime) -> Any:
    """The POS simulator's state: ``sample_world(pos_t0)``."""
    from storeflow_simulators.pos import PosState
    from storeflow_simulators.pos_sample import sample_world

    return PosState.from_world(sample_world(pos_t0))


@pytest.fixture
def pos_server(pos_state: Any) -> Iterator[Any]:
    """The POS simulator serving ``pos_state`` over HTTP (``.url``; ``.state`` is ``pos_state``)."""
    from storeflow_simulators.pos import create_pos_app
    from storeflow_simulators.serve import serve_in_thread

    with serve_in_thread(create_pos_app(pos_state)) as handle:
        handle.state = pos_state
        yield handle


@pytest.fixture
def sim_seed() -> int:
    """The seed of the :func:`sims` world (a test module overrides this fixture for another world)."""
    return 5


@pytest.fixture
def sims(sim_seed: int) -> Iterator[Any]:
    """A tiny simulator cluster (POS, store, SMS gateway, SMTP sink) on free ports."""
    from storeflow_simulators.cluster import EPHEMERAL_PORTS, SimulatorCluster

    with SimulatorCluster(seed=sim_seed, scale="tiny", ports=EPHEMERAL_PORTS) as cluster:
        yield cluster
