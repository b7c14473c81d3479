"""`make demo`: the whole storeflow pipeline on one machine, with the embedded defaults.

Starts the simulators (POS, store, SMTP sink, SMS gateway) in this process, prepares a local Airflow
home, runs the DAGs with ``airflow dags test`` (their logs go to ``data/demo-logs/``), and prints what
happened at each step from the warehouse.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
AIRFLOW_HOME = ROOT / ".airflow"
LOGS = DATA / "demo-logs"


def say(title: str) -> None:
    """Print a step heading."""
    print(f"\n=== {title} " + "=" * max(3, 76 - len(title)), flush=True)


def airflow_env(extra: dict[str, str]) -> dict[str, str]:
    """Environment for the Airflow subprocesses."""
    env = dict(os.environ)
    env.update({
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "STOREFLOW_DATA_DIR": str(DATA),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    })
    env.update(extra)
    return env


def run_dag(dag_id: str, env: dict[str, str], conf: str | None = None) -> float:
    """Run one DAG with ``airflow dags test``; fail loudly with the log's tail if it fails."""
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f"{dag_id}.log"
    cmd = [sys.executable, "-m", "airflow", "dags", "test", dag_id]
    if conf:
        cmd += ["--conf", conf]
    started = time.perf_counter()
    with log_path.open("w") as log:
        result = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=3600)
    took = time.perf_counter() - started
    if result.returncode != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-40:]
        print("\n".join(tail))
        raise SystemExit(f"DAG {dag_id} failed (full log: {log_path})")
    print(f"  ran DAG {dag_id} in {took:.1f}s  (log: {log_path.relative_to(ROOT)})")
    return took


def show_extract(engine) -> None:
    """What extract_all loaded, per stream and per table."""
    from sqlalchemy import func, select

    from storeflow.warehouse import schema as s

    with engine.connect() as conn:
        runs = conn.execute(
            select(s.sync_runs.c.stream, s.sync_runs.c.status, s.sync_runs.c.rows_read, s.sync_runs.c.rows_changed,
                   s.sync_runs.c.quarantined, s.sync_runs.c.requests, s.sync_runs.c.retries)
            .order_by(s.sync_runs.c.id)
        ).all()
        print(f"  {'stream':<18}{'status':<9}{'read':>8}{'loaded':>8}{'quarant.':>9}{'requests':>9}{'retries':>8}")
        for r in runs:
            print(f"  {r.stream:<18}{r.status:<9}{r.rows_read:>8}{r.rows_changed:>8}{r.quarantined:>9}"
                  f"{r.requests:>9}{r.retries:>8}")
        print("\n  warehouse now holds:")
        for table in (s.locations, s.products, s.stock_levels, s.customer_identities, s.orders, s.order_lines,
                      s.invoices, s.quarantine):
            n = conn.execute(select(func.count()).select_from(table)).scalar_one()
            print(f"    {table.name:<22}{n:>8}")
        q = conn.execute(
            select(s.quarantine.c.rule, func.count()).group_by(s.quarantine.c.rule).order_by(func.count().desc())
        ).all()
        if q:
            print("  quarantined by rule: " + ", ".join(f"{rule}={n}" for rule, n in q))


def main(argv: list[str] | None = None) -> int:
    """Run the demo."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="small", choices=["tiny", "small", "medium"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--faults", type=float, default=0.02, help="fault rate injected by the simulators")
    args = parser.parse_args(argv)

    for sub in ("warehouse.db", "warehouse.db-wal", "warehouse.db-shm", "landing", "demo-logs", "simulators"):
        target = DATA / sub
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    DATA.mkdir(parents=True, exist_ok=True)
    os.environ["STOREFLOW_DATA_DIR"] = str(DATA)

    from storeflow.simulators.cluster import SimulatorCluster
    from storeflow.warehouse.db import connect_warehouse

    say(f"1. Simulators (seed {args.seed}, scale {args.scale}, fault rate {args.faults})")
    ports = {"pos": 0, "store": 0, "sms": 0, "smtp": 0, "smtp_api": 0}
    with SimulatorCluster(seed=args.seed, scale=args.scale, faults=args.faults, ports=ports) as sims:
        world = sims.world
        print(f"  POS (Square contract)      {sims.pos_url}")
        print(f"  store (WooCommerce)        {sims.store_url}")
        print(f"  SMS gateway (Twilio)       {sims.sms_url}")
        print(f"  SMTP sink                  {sims.smtp_host}:{sims.smtp_port}  (API {sims.smtp_api_url})")
        print(f"  seeded: {len(world.products)} products, {len(world.pos_customers)} POS customers, "
              f"{len(world.store_customers)} store customers, {len(world.orders)} orders over two years")
        env = airflow_env(sims.env())

        say("2. Airflow metadata database")
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"  AIRFLOW_HOME={AIRFLOW_HOME.relative_to(ROOT)} migrated")

        say("3. extract_all: land raw pages, load the warehouse")
        run_dag("extract_all", env)
        engine = connect_warehouse()
        show_extract(engine)
        pages = sorted((DATA / "landing").rglob("page-*.jsonl.gz"))
        print(f"  landing zone: {len(pages)} raw pages under {(DATA / 'landing').relative_to(ROOT)}/")
    print("\nDemo finished.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
