"""The distributed path: the DAG chain under the CeleryExecutor with two workers (scripts/celery_run.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.airflow]


def _redis_up() -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2):
            return True
    except OSError:
        return False


def test_dag_chain_on_celery_with_two_workers(pg_available):
    if not pg_available:
        pytest.skip("needs PostgreSQL")
    if not _redis_up():
        if os.environ.get("STOREFLOW_REQUIRE_PG") == "1":
            pytest.fail("Redis (the Celery broker) is not reachable at 127.0.0.1:6379")
        pytest.skip("needs Redis")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "celery_run.py")], capture_output=True, text=True,
                            timeout=3000, cwd=ROOT)
    print(result.stdout[-6000:])
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "CELERY RUN OK" in result.stdout
