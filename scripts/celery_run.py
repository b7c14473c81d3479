"""The distributed path, proven on one machine: the storeflow DAG chain under the CeleryExecutor.

Starts, as separate processes, an Airflow api-server, a scheduler, a dag-processor and two Celery
workers, with PostgreSQL (fresh databases for Airflow's metadata and the storeflow warehouse) and
Redis or RabbitMQ as the broker, plus the simulators in this process. Triggers the DAGs in order,
waits for each run, then checks that every task succeeded and that the scoring partitions ran on more
than one worker. Exit code 0 only if all of that holds. Everything it created is removed at the end.

    python scripts/celery_run.py [--broker redis|rabbitmq] [--dags extract_all,score_customers]
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from airflow_env import airflow_env

PG_ADMIN = os.environ.get("STOREFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BROKERS = {"redis": "redis://127.0.0.1:6379/7", "rabbitmq": "amqp://guest:guest@127.0.0.1:5672//"}
DEFAULT_DAGS = ["extract_all", "sync_catalog", "sync_orders", "sync_customers", "score_customers",
                "plan_campaigns", "dispatch_messages"]
MAPPED_CHECK = ("score_customers", "score_partition")


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_url(database: str) -> str:
    """The admin URL with another database name."""
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{database}"


def _each_database(statement: str, names: list[str]) -> None:
    """Run ``statement`` (``{name}`` = a generated database name, never user input) for each name, autocommit."""
    engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for name in names:
            conn.execute(sa.text(statement.format(name=name)))
    engine.dispose()


def create_databases(names: list[str]) -> None:
    """CREATE DATABASE each name."""
    _each_database('CREATE DATABASE "{name}"', names)


def drop_databases(names: list[str]) -> None:
    """DROP DATABASE each name, forcing other sessions off."""
    _each_database('DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', names)


class Stack:
    """The Airflow processes, their environment and logs."""

    def __init__(self, broker: str, meta_db: str, warehouse_db: str, extra_env: dict[str, str], workdir: Path):
        self.workdir = workdir
        self.api_port = free_port()
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.env = airflow_env(workdir / "airflow", {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg_url(meta_db),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": pg_url(meta_db),
            "AIRFLOW__CELERY__BROKER_URL": BROKERS[broker],
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + pg_url(meta_db),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            # one task reserved per slot, so a fast worker cannot take every scoring partition
            "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
            "STOREFLOW_SCORING_PARTITIONS": "8",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "storeflow_airflow.hostname.worker_hostname",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.api_port}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{self.api_port}",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "600",
            "AIRFLOW_CONN_STOREFLOW_WAREHOUSE": pg_url(warehouse_db),
            "STOREFLOW_DATA_DIR": str(workdir / "data"),
            "STOREFLOW_RETRY_DELAY_SECONDS": "2",
            # the simulators' run: demo profile, and a link secret (without one dispatch now fails loudly)
            "STOREFLOW_PROFILE": "demo",
            "STOREFLOW_UNSUBSCRIBE_SECRET": os.environ.get("STOREFLOW_UNSUBSCRIBE_SECRET") or secrets.token_urlsafe(24),
            # the tiny world is below the default data gate: lower it so BG/NBD really runs
            "STOREFLOW_MIN_PURCHASERS": "100",
            "STOREFLOW_MIN_HISTORY_DAYS": "90",
            **extra_env,
        })

    def airflow(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        """Run an airflow CLI command to completion."""
        result = subprocess.run([sys.executable, "-m", "airflow", *args], env=self.env, capture_output=True,
                                text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
        return result

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        """Start a long-running airflow component, logging to workdir/<name>.log."""
        log = (self.workdir / f"{name}.log").open("w")
        proc = subprocess.Popen([sys.executable, "-m", "airflow", *args], env={**self.env, **(env or {})}, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append((name, proc))

    def alive(self) -> list[str]:
        """Names of components that exited unexpectedly."""
        return [name for name, p in self.procs if p.poll() is not None]

    def stop(self) -> None:
        """Terminate every component (SIGTERM, then SIGKILL)."""
        for _, proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.time() + 20
        for _, proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def wait_for(predicate, timeout: float, what: str, stack: Stack) -> None:
    """Poll ``predicate`` until true; fail with the components' log tails otherwise."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        dead = stack.alive()
        if dead:
            raise RuntimeError(f"components exited while waiting for {what}: {dead}")
        time.sleep(2)
    raise TimeoutError(f"timed out waiting for {what}")


def run_chain(stack: Stack, meta: sa.Engine, dags: list[str], timeout: float) -> list[str]:
    """Trigger each DAG in turn and wait for it; return problems found."""
    problems: list[str] = []
    for dag_id in dags:
        def parsed(dag_id=dag_id) -> bool:
            with meta.connect() as c:
                return c.execute(sa.text("SELECT count(*) FROM dag WHERE dag_id = :d"), {"d": dag_id}).scalar() > 0
        wait_for(parsed, 180, f"DAG {dag_id} to be parsed", stack)
        stack.airflow("dags", "unpause", dag_id)
        run_id = f"celery_{dag_id}_{uuid.uuid4().hex[:6]}"
        stack.airflow("dags", "trigger", dag_id, "--run-id", run_id)
        started = time.time()

        def finished(dag_id=dag_id, run_id=run_id) -> bool:
            with meta.connect() as c:
                state = c.execute(sa.text("SELECT state FROM dag_run WHERE dag_id=:d AND run_id=:r"),
                                  {"d": dag_id, "r": run_id}).scalar()
            return state in ("success", "failed")
        wait_for(finished, timeout, f"{dag_id} run", stack)
        with meta.connect() as c:
            state = c.execute(sa.text("SELECT state FROM dag_run WHERE dag_id=:d AND run_id=:r"),
                              {"d": dag_id, "r": run_id}).scalar()
            tis = c.execute(sa.text(
                "SELECT task_id, map_index, state, hostname FROM task_instance WHERE dag_id=:d AND run_id=:r"
                " ORDER BY task_id, map_index"), {"d": dag_id, "r": run_id}).all()
        hosts = sorted({t.hostname for t in tis if t.hostname})
        print(f"  {dag_id:<20} {state:<8} {len(tis):>3} tasks in {time.time() - started:5.1f}s on {', '.join(hosts)}",
              flush=True)
        bad = [f"{t.task_id}[{t.map_index}]={t.state}" for t in tis if t.state != "success"]
        if state != "success" or bad:
            problems.append(f"{dag_id}: run {state}; tasks not successful: {bad}")
        if dag_id == MAPPED_CHECK[0]:
            mapped = {t.hostname for t in tis if t.task_id == MAPPED_CHECK[1]}
            if len(mapped) < 2:
                problems.append(f"{MAPPED_CHECK[0]}.{MAPPED_CHECK[1]} ran on {len(mapped)} worker(s): {mapped}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Run the chain; print a verdict."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker", choices=sorted(BROKERS), default="redis")
    parser.add_argument("--dags", default=",".join(DEFAULT_DAGS))
    parser.add_argument("--scale", default="tiny")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per DAG run")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    args = parser.parse_args(argv)

    suffix = uuid.uuid4().hex[:8]
    meta_db, wh_db = f"sf_airflow_{suffix}", f"sf_warehouse_{suffix}"
    workdir = Path(tempfile.mkdtemp(prefix="storeflow-celery-"))
    create_databases([meta_db, wh_db])
    from storeflow_simulators.cluster import SimulatorCluster

    stack = None
    try:
        ports = {"pos": 0, "store": 0, "sms": 0, "smtp": 0, "smtp_api": 0}
        components = tuple(os.environ.get("STOREFLOW_SIM_COMPONENTS", "pos,store,sms,smtp").split(","))
        with SimulatorCluster(seed=11, scale=args.scale, ports=ports, components=components) as sims:
            stack = Stack(args.broker, meta_db, wh_db, sims.env(), workdir)
            print(f"storeflow on Celery ({args.broker}); Airflow metadata {meta_db}, warehouse {wh_db}", flush=True)
            stack.airflow("db", "migrate")
            stack.airflow("pools", "set", "pos_api", "1", "POS catalog writes")
            stack.airflow("pools", "set", "store_api", "4", "store API")
            stack.start("api-server", "api-server")
            stack.start("scheduler", "scheduler")
            stack.start("dag-processor", "dag-processor")
            for n in (1, 2):
                stack.start(f"worker-{n}", "celery", "worker", "--celery-hostname", f"worker-{n}@%h",
                            env={"STOREFLOW_WORKER_NAME": f"worker-{n}"})
            meta = sa.create_engine(pg_url(meta_db))
            problems = run_chain(stack, meta, [d for d in args.dags.split(",") if d], args.timeout)
            meta.dispose()
    except Exception as exc:
        problems = [f"{type(exc).__name__}: {exc}"]
    finally:
        if stack:
            stack.stop()
        drop_databases([meta_db, wh_db])
    if problems:
        for log in sorted(workdir.glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-25:]
            print(f"--- {log.name} (last lines)\n" + "\n".join(tail))
        print("CELERY RUN FAILED:\n  " + "\n  ".join(problems))  # last, so it survives truncation
        return 1
    print("CELERY RUN OK: every task succeeded; scoring partitions ran on more than one worker")
    if not args.keep:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
