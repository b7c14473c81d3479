"""docker-compose.yaml: the services, health checks, mounts and secrets handling storeflow relies on."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
SERVICES = COMPOSE["services"]
AIRFLOW = ["airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
           "airflow-worker"]


def test_services_present():
    expected = {*AIRFLOW, "airflow-init", "postgres", "redis", "minio", "mailpit", "simulators"}
    assert expected <= set(SERVICES)


@pytest.mark.parametrize("name", [*AIRFLOW, "postgres", "redis", "minio", "mailpit", "simulators"])
def test_long_running_services_have_healthchecks(name):
    assert SERVICES[name].get("healthcheck", {}).get("test"), f"{name} has no health check"


@pytest.mark.parametrize("name", AIRFLOW)
def test_airflow_services_mount_code_and_use_celery(name):
    svc = SERVICES[name]
    mounts = {v.split(":")[1] for v in svc["volumes"]}
    assert {"/opt/airflow/dags", "/opt/airflow/plugins", "/opt/storeflow/include"} <= mounts
    env = svc["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CORE__FERNET_KEY"].startswith("${FERNET_KEY")
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"].startswith("${JWT_SECRET")
    assert any(k.startswith("AIRFLOW_CONN_STOREFLOW_") for k in env)


def test_workers_wait_for_init_and_apiserver():
    deps = SERVICES["airflow-worker"]["depends_on"]
    assert deps["airflow-init"]["condition"] == "service_completed_successfully"
    assert deps["airflow-apiserver"]["condition"] == "service_healthy"


def test_init_creates_pools():
    command = " ".join(SERVICES["airflow-init"]["command"])
    assert "airflow db migrate" in command and "pools set pos_api 1" in command


def test_env_example_lists_every_compose_secret():
    example = (ROOT / ".env.example").read_text()
    for var in ("FERNET_KEY", "JWT_SECRET", "POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD", "STOREFLOW_UNSUBSCRIBE_SECRET"):
        assert f"{var}=" in example
    assert ".env" in (ROOT / ".gitignore").read_text().split()


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI")
def test_docker_compose_config_validates():
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("docker CLI has no compose plugin")
    result = subprocess.run(["docker", "compose", "-f", str(ROOT / "docker-compose.yaml"), "config", "-q"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
