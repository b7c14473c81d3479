"""The environment of the Airflow processes this repository starts: the scripts and the tests share it.

Scripts run as ``python scripts/<name>.py`` import it as ``airflow_env``; tests (run from the repository
root) as ``scripts.airflow_env``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def airflow_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """``os.environ`` for an Airflow process on ``home``: this repository's ``dags/`` and ``plugins/``
    (plugins also on ``PYTHONPATH``), no example DAGs, this interpreter's ``bin/`` first on ``PATH``; then
    ``extra`` on top."""
    env = dict(os.environ)
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    })
    env.update(extra or {})
    return env


def migrate_airflow_db(env: Mapping[str, str], timeout: float = 600) -> None:
    """``airflow db migrate`` (create or upgrade the metadata DB of ``env``'s AIRFLOW_HOME); its output is
    kept for the :class:`subprocess.CalledProcessError` when it fails."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=dict(env), check=True,
                   capture_output=True, timeout=timeout)
