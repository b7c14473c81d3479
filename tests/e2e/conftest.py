"""One real Airflow UI per test session (api-server + dag-processor on a fresh SQLite AIRFLOW_HOME) and the
headless-Chromium helpers the UI tests share (``test_airflow_ui.py``, ``test_storeflow_pages.py``).

The server is started by ``airflow_ui_started`` (returns at once, so a test can seed storeflow data while
Airflow boots) and is ready once ``airflow_ui`` returns (the REST API lists every DAG of ``dags/*.py``).
Its ``STOREFLOW_DATA_DIR`` is ``AirflowUI.data_dir``: the storeflow pages read that warehouse and landing
zone. Needs ``/usr/bin/chromium`` (``scripts/install_chromium.sh``); ``STOREFLOW_SKIP_UI_TEST=1`` skips
the UI tests where no browser can be installed.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from scripts.airflow_env import ROOT, airflow_env, migrate_airflow_db
from tests.dags.conftest import (
    airflow_home as airflow_home,  # the session's migrated AIRFLOW_HOME, shared here
)

CHROMIUM = Path("/usr/bin/chromium")
DAG_ID = re.compile(r"""\bdag_id\s*=\s*["']([A-Za-z0-9_.\-]+)["']""")
STARTUP_TIMEOUT = 75.0  # api-server up and every DAG parsed
CHROMIUM_TIMEOUT = 120.0


def expected_dag_ids(dags_dir: Path = ROOT / "dags") -> set[str]:
    """Every ``dag_id="..."`` in the DAG files (read from the files, so new DAGs are checked too)."""
    ids: set[str] = set()
    for path in sorted(dags_dir.glob("*.py")):
        ids.update(DAG_ID.findall(path.read_text(encoding="utf-8")))
    return ids


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_chromium() -> None:
    """Fail (or skip with ``STOREFLOW_SKIP_UI_TEST=1``) when Debian's chromium is not installed."""
    if CHROMIUM.exists():
        return
    if os.environ.get("STOREFLOW_SKIP_UI_TEST") == "1":
        pytest.skip(f"{CHROMIUM} missing and STOREFLOW_SKIP_UI_TEST=1")
    pytest.fail(f"{CHROMIUM} is missing: run `scripts/install_chromium.sh` (as root), "
                "or set STOREFLOW_SKIP_UI_TEST=1 to skip this test")


def png_stats(path: Path) -> tuple[int, int, int]:
    """(width, height, distinct pixel rows) of an 8-bit RGB/RGBA PNG, decoded with the standard library."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    pos, idat, width = 8, b"", 0
    height = bit_depth = color_type = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, bit_depth, color_type = struct.unpack(">IIBB", chunk[:10])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    assert bit_depth == 8 and color_type in (2, 6), f"unexpected PNG format {bit_depth=} {color_type=}"
    raw = zlib.decompress(idat)
    stride = width * (3 if color_type == 2 else 4) + 1
    # Distinct (filtered) scanlines: a blank page has a handful, a rendered list hundreds.
    rows = {raw[i * stride:(i + 1) * stride] for i in range(height)}
    return width, height, len(rows)


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A process in its own group, output to ``log``."""
    with log.open("wb") as fh:
        return subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def stop_all(procs: list[subprocess.Popen]) -> None:
    """SIGTERM every process group, then SIGKILL whatever is left after a few seconds."""
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # also reaps workers the leader left behind
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


def tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def wait_for_dags(base: str, expected: set[str], procs: dict[str, subprocess.Popen], logs: dict[str, Path],
                  deadline: float) -> set[str]:
    """Poll ``GET /api/v2/dags`` until it lists every expected DAG; the listed ids."""
    session = requests.Session()
    listed: set[str] = set()
    last_error = ""
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                pytest.fail(f"airflow {name} exited with code {proc.returncode}:\n{tail(logs[name])}")
        try:
            if "Authorization" not in session.headers:
                token = session.get(f"{base}/auth/token", timeout=5)
                token.raise_for_status()
                session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
            resp = session.get(f"{base}/api/v2/dags", params={"limit": 1000}, timeout=10)
            resp.raise_for_status()
            listed = {d["dag_id"] for d in resp.json()["dags"]}
            if expected <= listed:
                return listed
        except (requests.RequestException, KeyError, ValueError) as exc:
            last_error = repr(exc)
        time.sleep(1)
    errors = ""
    try:
        errors = session.get(f"{base}/api/v2/importErrors", timeout=5).text[:3000]
    except requests.RequestException:
        pass
    pytest.fail(f"the API did not list {sorted(expected - listed)} within {STARTUP_TIMEOUT:.0f} s "
                f"(last error: {last_error}); import errors: {errors}\n"
                f"dag-processor log:\n{tail(logs['dag-processor'])}\napi-server log:\n{tail(logs['api-server'])}")


def chromium(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    """One headless Chromium run (own process group, killed on timeout)."""
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1600,2400",
           "--virtual-time-budget=20000", *extra, url]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=CHROMIUM_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"chromium did not finish within {CHROMIUM_TIMEOUT:.0f} s: {err.decode()[-2000:]}")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # renderer/zygote helpers share the group
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@dataclass
class AirflowUI:
    """A running Airflow api-server (+ dag-processor) and where its logs and storeflow data live."""

    base: str
    home: Path
    data_dir: Path
    procs: dict[str, subprocess.Popen]
    logs: dict[str, Path]
    listed: set[str] = field(default_factory=set)

    def log_tail(self, name: str = "api-server", lines: int = 40) -> str:
        return tail(self.logs[name], lines)


@pytest.fixture(scope="session")
def airflow_ui_started(tmp_path_factory) -> Iterator[AirflowUI]:
    """Airflow's api-server and dag-processor, started (not yet necessarily ready) for the whole session."""
    require_chromium()
    root = tmp_path_factory.mktemp("airflow_ui")
    home, data_dir = root / "airflow_home", root / "storeflow_data"
    data_dir.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = airflow_env(home, {
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
        "STOREFLOW_DATA_DIR": str(data_dir),
    })
    for var in ("STOREFLOW_WAREHOUSE_URL", "STOREFLOW_LANDING_URL", "STOREFLOW_S3_ENDPOINT_URL"):
        env.pop(var, None)
    airflow = [sys.executable, "-m", "airflow"]
    migrate_airflow_db(env, timeout=120)
    logs = {name: root / f"{name}.log" for name in ("api-server", "dag-processor")}
    procs: dict[str, subprocess.Popen] = {}
    try:
        procs["dag-processor"] = start([*airflow, "dag-processor"], env, logs["dag-processor"])
        procs["api-server"] = start([*airflow, "api-server", "--apps", "core", "--host", "127.0.0.1",
                                     "--port", str(port), "--workers", "1"], env, logs["api-server"])
        yield AirflowUI(base, home, data_dir, procs, logs)
    finally:
        stop_all(list(procs.values()))


@pytest.fixture(scope="session")
def airflow_ui(airflow_ui_started: AirflowUI) -> AirflowUI:
    """The session's Airflow UI once its REST API lists every DAG defined in ``dags/*.py``."""
    ui = airflow_ui_started
    if not ui.listed:
        expected = expected_dag_ids()
        assert expected, "no dag_id found in dags/*.py"
        ui.listed = wait_for_dags(ui.base, expected, ui.procs, ui.logs, time.monotonic() + STARTUP_TIMEOUT)
    return ui
