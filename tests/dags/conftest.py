"""Airflow fixtures: a throw-away AIRFLOW_HOME migrated once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.airflow_env import airflow_env, migrate_airflow_db


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory) -> Path:
    """A migrated Airflow metadata DB (SQLite) in a temporary AIRFLOW_HOME."""
    home = tmp_path_factory.mktemp("airflow_home")
    migrate_airflow_db(airflow_env(home))
    return home
