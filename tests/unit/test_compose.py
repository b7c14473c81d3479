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
    expected = {*AIRFLOW, "airflow-init", "postgres", "redis", "minio", "mailpit", "simulators", "endpoints",
                "storeflow-migrate"}
    assert expected <= set(SERVICES)


@pytest.mark.parametrize("name", [*AIRFLOW, "postgres", "redis", "minio", "mailpit", "simulators", "endpoints"])
def test_long_running_services_have_healthchecks(name):
    assert SERVICES[name].get("healthcheck", {}).get("test"), f"{name} has no health check"


@pytest.mark.parametrize("name", AIRFLOW)
def test_airflow_services_mount_code_and_use_celery(name):
    svc = SERVICES[name]
    mounts = {v.split(":")[1] for v in svc["volumes"]}
    assert {"/opt/airflow/dags", "/opt/airflow/plugins", "/opt/storeflow/include"} <= mounts
    env = svc["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CORE__FERNET_KEY"].startswith("${FERNET_KEY:?")
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"].startswith("${JWT_SECRET:?")
    assert any(k.startswith("AIRFLOW_CONN_STOREFLOW_") for k in env)


def test_workers_wait_for_init_and_apiserver():
    deps = SERVICES["airflow-worker"]["depends_on"]
    assert deps["airflow-init"]["condition"] == "service_completed_successfully"
    assert deps["airflow-apiserver"]["condition"] == "service_healthy"


def test_init_creates_pools():
    command = " ".join(SERVICES["airflow-init"]["command"])
    assert "airflow db migrate" in command and "pools set pos_api 1" in command


REQUIRED = ("FERNET_KEY", "JWT_SECRET", "POSTGRES_PASSWORD", "STOREFLOW_UNSUBSCRIBE_SECRET",
            "STOREFLOW_UNSUBSCRIBE_BASE_URL", "STOREFLOW_PSEUDONYM_SECRET")


def test_production_secrets_are_required_not_defaulted():
    """Compose refuses to start with a secret unset (``${VAR:?…}``), never fills it with an empty default."""
    text = (ROOT / "docker-compose.yaml").read_text()
    for var in REQUIRED:
        assert f"${{{var}:?" in text, f"{var} is not required"
        assert f"${{{var}:-}}" not in text, f"{var} has an empty default"
    env = SERVICES["airflow-worker"]["environment"]
    assert env["STOREFLOW_PROFILE"] == "${STOREFLOW_PROFILE:-production}"
    assert SERVICES["simulators"]["profiles"] == ["demo"]


def test_warehouse_is_migrated_once_before_airflow_and_endpoints():
    migrate = SERVICES["storeflow-migrate"]
    assert migrate["command"] == ["python", "-m", "storeflow.warehouse", "migrate"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in [*AIRFLOW, "endpoints"]:
        assert SERVICES[name]["depends_on"]["storeflow-migrate"]["condition"] == "service_completed_successfully"


def test_endpoints_service_serves_the_public_app():
    svc = SERVICES["endpoints"]
    assert svc["command"][:3] == ["python", "-m", "storeflow.endpoints"]
    assert "8727:8727" in svc["ports"]
    assert "/health" in " ".join(svc["healthcheck"]["test"])
    assert svc["environment"]["STOREFLOW_UNSUBSCRIBE_SECRET"].startswith("${STOREFLOW_UNSUBSCRIBE_SECRET:?")


def test_env_example_lists_every_compose_secret():
    example = (ROOT / ".env.example").read_text()
    for var in (*REQUIRED, "MINIO_ROOT_PASSWORD"):
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
