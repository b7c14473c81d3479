"""The soak runner: the DAGs' work without Airflow, hour by hour, with the invariants after every cycle.

    .venv/bin/python -m tests.soak.run --cycles 6 --seed 11

Setup (cycle 0, the go-live night): the simulators (seeded world, injected faults), ``extract_all``,
the first ``sync_orders`` (go-live), ``sync_catalog``, ``sync_customers``, scoring and campaign
planning - then the invariants. Each hourly cycle ``k`` ends at the full hour ``H = start_hour + k - 1``:

1. shop events (:mod:`tests.soak.world_events`), then ``sync_orders`` (the (H-1):15 run);
2. more shop events, then the jobs due at H:00, in a seeded order: ``sync_catalog``
   and the nightly ones at their hours (``sync_customers`` 02:00, ``reconcile_inventory`` 03:00,
   ``score_customers`` 04:30 followed by ``plan_campaigns`` on the new scores, ``measure_campaigns``
   05:00, ``plan_campaigns`` 06:00);
3. ``dispatch_messages`` until H:45 (STOP replies first), then every invariant (:mod:`tests.soak.invariants`).

Email may be sent from 08:00 and SMS from 09:00 local time (quiet hours): a run that must see messages
sent has to reach those hours (the short test starts at 05:00, the bench at 01:00 for 48 cycles).

The jobs are the ones of :class:`tests.e2e.pipeline.Pipeline` (the same library calls the DAG tasks
make); inside every job the extracts run in an order shuffled by the seed, as parallel Airflow tasks
may. A job that raises is recorded (invariant ``no_job_failed``) and the run goes on, as the next
scheduled DAG run would. The simulators keep real time; the campaign jobs get a logical "now" (the
cycle's hour, always later than real time) so that planned messages fall due over the cycles.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `python tests/soak/run.py` and bench/soak.py
    sys.path.insert(0, str(ROOT))

from storeflow import jobs  # noqa: E402
from storeflow_simulators.cluster import EPHEMERAL_PORTS  # noqa: E402
from tests.e2e.pipeline import Pipeline  # noqa: E402
from tests.soak.invariants import (  # noqa: E402
    INVARIANTS,
    SNAPSHOT_STREAMS,
    Progress,
    Violation,
    check_all,
    source_ids,
)
from tests.soak.world_events import ShopWorld, View  # noqa: E402

#: nightly jobs by UTC hour (the DAGs' schedules)
NIGHTLY = {2: ["sync_customers"], 3: ["reconcile_inventory"], 4: ["score_customers"], 5: ["measure_campaigns"],
           6: ["plan_campaigns"]}
#: streams each job extracts in full or from its cursor (their source rows must then be in the warehouse or in
#: quarantine): the job table's extracts that the invariants can snapshot (a look-back re-read proves nothing)
JOB_STREAMS = {job.dag_id: tuple(dict.fromkeys(s.stream for s in job.steps if isinstance(s, jobs.Extract)
                                               and not s.lookback and s.stream in SNAPSHOT_STREAMS))
               for job in jobs.JOBS.values()}


@dataclass
class SoakConfig:
    """One soak run. ``cycles`` hourly cycles after the go-live night; faults on every vendor API call."""

    seed: int = 11
    cycles: int = 6
    scale: str = "tiny"
    fault_rate: float = 0.04
    start_hour: int = 1  # the full hour of cycle 1's jobs
    db_url: str | None = None  # default: SQLite in workdir
    workdir: Path | None = None
    stock_buffer: int = 1
    #: the POS is the system of record: the nightly reconciliation also fixes stock edited in the store
    fix_unexplained: bool = True


@dataclass
class JobRun:
    """One job of one cycle."""

    cycle: int
    job: str
    ok: bool
    seconds: float
    error: str | None = None


@dataclass
class SoakReport:
    """What a soak run did and found."""

    config: SoakConfig
    cycles_run: int = 0
    events: Counter = field(default_factory=Counter)  # applied events by kind
    not_applied: Counter = field(default_factory=Counter)  # "kind:outcome" -> n (refused / unsupported)
    checks: Counter = field(default_factory=Counter)
    excused: Counter = field(default_factory=Counter)
    violations: list[Violation] = field(default_factory=list)
    jobs: list[JobRun] = field(default_factory=list)
    faults: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    messages_received: int = 0
    refusals: list[str] = field(default_factory=list)  # "cycle N kind: why" of events not applied
    ledger: Any = None  # the generator's Ledger (every event with its details)

    @property
    def drift_found(self) -> int:
        """Store stock or price differing from what the POS says (violations of those two invariants)."""
        return sum(v.invariant in ("store_stock", "store_price") for v in self.violations)

    def failing(self) -> dict[str, list[Violation]]:
        """Violations grouped by invariant, in invariant order."""
        out: dict[str, list[Violation]] = {}
        for name in INVARIANTS:
            found = [v for v in self.violations if v.invariant == name]
            if found:
                out[name] = found
        return out

    def summary(self, per_invariant: int = 3) -> str:
        """A readable account: figures, then each failing invariant with its first cycle and messages."""
        injected = sum(v.get("total", 0) for v in self.faults.values())
        requests_ = sum(v.get("requests", 0) for v in self.faults.values())
        events = ", ".join(f"{k}={v}" for k, v in sorted(self.events.items()))
        lines = [
            f"soak seed={self.config.seed} scale={self.config.scale} cycles={self.cycles_run} "
            f"faults={injected}/{requests_} requests ({self.config.fault_rate:.0%}) in {self.seconds:.1f}s",
            f"events applied={sum(self.events.values())} ({events})",
            f"not applied: {dict(sorted(self.not_applied.items())) or 'none'}",
            f"invariant checks={sum(self.checks.values())} ({', '.join(f'{k}={self.checks[k]}' for k in INVARIANTS)})",
            f"excused={dict(self.excused)} messages received={self.messages_received} drift found={self.drift_found}",
            f"jobs: {len(self.jobs)} run, {sum(not j.ok for j in self.jobs)} failed",
        ]
        failing = self.failing()
        if not failing:
            lines.append("all invariants held")
        for name, found in failing.items():
            cycles = sorted({v.cycle for v in found})
            lines.append(f"FAILING {name}: {len(found)} violation(s), first at cycle {cycles[0]}, cycles {cycles}")
            for message, at in _distinct(found)[:per_invariant]:
                lines.append(f"    cycle {_ranges(at)}: {message}")
        return "\n".join(lines)


def _distinct(found: list[Violation]) -> list[tuple[str, list[int]]]:
    """(message, cycles it was seen in), first seen first."""
    seen: dict[str, list[int]] = {}
    for v in found:
        seen.setdefault(v.message, []).append(v.cycle)
    return list(seen.items())


def _ranges(cycles: list[int]) -> str:
    """``[3, 4, 5, 9]`` -> ``"3-5, 9"``."""
    out: list[str] = []
    for c in sorted(set(cycles)):
        if out and "-" not in out[-1].split(", ")[-1] and int(out[-1]) == c - 1:
            out[-1] = f"{out[-1]}-{c}"
        elif out and "-" in out[-1] and int(out[-1].split("-")[1]) == c - 1:
            out[-1] = f"{out[-1].split('-')[0]}-{c}"
        else:
            out.append(str(c))
    return ", ".join(out)


@contextmanager
def _environment(values: dict[str, str]):
    """Set ``values`` in os.environ (and the settings cache) for the run; restore afterwards."""
    from storeflow.settings import get_settings

    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


class Soak:
    """One soak run (use :func:`run_soak`)."""

    def __init__(self, config: SoakConfig, sims: Any, engine: Any, unsubscribe_url: str, log=print) -> None:
        self.config = config
        self.sims = sims
        self.engine = engine
        self.log = log
        self.rng = random.Random(config.seed)
        # parallel steps run in a seeded order; all of them run, the first error is raised
        self.pipe = Pipeline(engine, sims.pos_url, sims.store_url, rng=random.Random(config.seed + 1))
        from storeflow.settings import get_settings

        self.settings = get_settings()
        self.world = ShopWorld(random.Random(config.seed + 2), sims, config.cycles, pos_client=self.pipe.pos,
                               store_client=self.pipe.store, engine=engine,
                               phone_region=self.settings.default_phone_region,
                               unsubscribe_url=unsubscribe_url, currency=self.settings.currency)
        self.progress = Progress()
        self.report = SoakReport(config)
        now = datetime.now(UTC)
        first = now.replace(minute=0, second=0, microsecond=0)
        while first <= now or first.hour != config.start_hour % 24:
            first += timedelta(hours=1)
        self.t1 = first  # logical time of cycle 1 (after real time: every real change is "before" it)

    # --- jobs ---------------------------------------------------------------------------------------------
    def logical(self, cycle: int, minutes: int = 0) -> datetime:
        """Cycle ``k``'s full hour (its :00 jobs) plus ``minutes``."""
        return self.t1 + timedelta(hours=cycle - 1, minutes=minutes)

    def job(self, cycle: int, name: str) -> bool:
        """Run one job; record its outcome (a failure is a violation of ``no_job_failed``)."""
        streams = JOB_STREAMS.get(name, ())
        before = {}
        if streams:
            view = self.world.view()
            before = {s: source_ids(view, s) for s in streams}
        started = time.perf_counter()
        try:
            getattr(self, f"job_{name}")(cycle)
        except Exception as exc:
            error = f"{type(exc).__name__}: {str(exc)[:400]}"
            self.report.jobs.append(JobRun(cycle, name, False, time.perf_counter() - started, error))
            self.progress.failures.append(Violation(cycle, "no_job_failed", f"{name}: {error}"))
            self.log(f"  cycle {cycle}: job {name} FAILED: {error[:200]}")
            return False
        self.report.jobs.append(JobRun(cycle, name, True, time.perf_counter() - started))
        self.progress.ok_runs[name].add(cycle)
        self.progress.snapshots.update(before)
        return True

    def job_extract_all(self, cycle: int) -> None:
        self.pipe.extract_all()

    def job_sync_orders(self, cycle: int) -> None:
        self.pipe.sync_orders()

    def job_sync_catalog(self, cycle: int) -> None:
        result = self.pipe.sync_catalog()
        if result.errors:
            raise RuntimeError(f"{len(result.errors)} store item(s) rejected, e.g. {result.errors[:2]}")

    def job_sync_customers(self, cycle: int) -> None:
        self.pipe.sync_customers()

    def job_reconcile_inventory(self, cycle: int) -> None:
        self.pipe.reconcile()

    def job_score_customers(self, cycle: int) -> None:
        from storeflow.scoring.pipeline import fit_models, publish_scores, score_partition

        as_of = self.logical(cycle, 30)
        run = fit_models(self.engine, as_of)
        n = self.settings.scoring_partitions
        for partition in range(n):
            score_partition(self.engine, run.model_version, as_of, partition, n)
        publish_scores(self.engine, run.model_version, as_of)

    def job_plan_campaigns(self, cycle: int) -> None:
        import storeflow
        from storeflow.campaigns.optouts import fetch_inbound_sms, process_inbound_sms
        from storeflow.campaigns.planner import plan_campaigns

        with self.engine.begin() as conn:
            process_inbound_sms(conn, fetch_inbound_sms(self.sims.sms_url))
        summary = plan_campaigns(self.engine, self.logical(cycle, 35),
                                 Path(storeflow.__file__).resolve().parents[1] / "campaigns")
        if summary.errors:
            raise RuntimeError(f"campaign definition errors: {summary.errors[:2]}")

    def job_measure_campaigns(self, cycle: int) -> None:
        from storeflow.campaigns.measurement import measure_campaigns

        measure_campaigns(self.engine, self.logical(cycle), self.pipe.landing)

    def job_dispatch_messages(self, cycle: int) -> None:
        from storeflow.campaigns.optouts import fetch_inbound_sms, process_inbound_sms
        from storeflow.campaigns.outbox import dispatch_due

        with self.engine.begin() as conn:
            process_inbound_sms(conn, fetch_inbound_sms(self.sims.sms_url))
        summary = dispatch_due(self.engine, self.logical(cycle, 45))
        if summary.failed:
            raise RuntimeError(f"dispatch: {summary.failed} message(s) failed: {summary.as_dict()}")

    # --- cycles -------------------------------------------------------------------------------------------
    def received(self, cycle: int) -> tuple[list[dict], list[dict]]:
        """What the gateways hold now; new messages are stamped with ``cycle``."""
        http = self.world.http
        mails = http.json("GET", f"{self.sims.smtp_api_url}/api/messages")
        texts = http.json("GET", f"{self.sims.sms_url}/_sim/messages")
        for mail in mails:
            self.progress.received.setdefault(f"email:{(mail.get('headers') or {}).get('Message-ID')}", cycle)
        for text in texts:
            if str(text.get("direction", "outbound")).startswith("outbound"):
                self.progress.received.setdefault(f"sms:{text.get('sid')}", cycle)
        self.report.messages_received = len(self.progress.received)
        return mails, texts

    def check(self, cycle: int) -> None:
        mails, texts = self.received(cycle)
        view: View = self.world.view()
        result = check_all(cycle, self.engine, view, self.world.ledger, self.progress,
                           buffer=self.config.stock_buffer, online_locations=self.settings.online_locations or None,
                           mails=mails, texts=texts)
        self.report.checks.update(result.checks)
        self.report.excused.update(result.excused)
        self.report.violations.extend(result.violations)
        self.report.cycles_run = cycle
        broken = Counter(v.invariant for v in result.violations)
        self.log(f"  cycle {cycle}: {sum(result.checks.values())} checks, "
                 f"{len(result.violations)} violation(s) {dict(broken) if broken else ''}")

    def setup(self) -> None:
        """The go-live night (cycle 0): first load and the first run of every job."""
        for name in ("extract_all", "sync_orders", "sync_catalog", "sync_customers", "score_customers",
                     "plan_campaigns"):
            self.job(0, name)
        self.check(0)

    def cycle(self, cycle: int) -> None:
        """The hour before ``H`` = start_hour + cycle - 1: sync_orders at (H-1):15, the jobs of H:00,
        dispatch until H:45; shop events before and after sync_orders."""
        hour = (self.config.start_hour + cycle - 1) % 24
        self.world.run_phase(cycle, (hour - 1) % 24, 1)
        self.job(cycle, "sync_orders")
        self.world.run_phase(cycle, (hour - 1) % 24, 2)
        at_hour = ["sync_catalog", *NIGHTLY.get(hour, [])]
        self.rng.shuffle(at_hour)  # DAGs due at the same minute run in any order
        for name in at_hour:
            if name == "score_customers":
                continue
            self.job(cycle, name)
        if "score_customers" in at_hour and self.job(cycle, "score_customers"):
            self.job(cycle, "plan_campaigns")  # plan_campaigns runs on the new scores Asset
        self.job(cycle, "dispatch_messages")
        self.check(cycle)

    def finish(self) -> SoakReport:
        ledger = self.world.ledger
        self.report.events = ledger.counts()
        self.report.not_applied = Counter(f"{e.kind}:{e.outcome}" for e in ledger.events if e.outcome != "applied")
        self.report.ledger = ledger
        self.report.refusals = [f"cycle {e.cycle} {e.kind}: {e.detail.get('why')}" for e in ledger.events
                                if e.outcome != "applied"]
        self.report.faults = self.sims.fault_stats()
        return self.report


@contextmanager
def soak_session(config: SoakConfig, log=print):
    """Simulators, warehouse, unsubscribe endpoint and environment of one run; yields the :class:`Soak`
    (before its setup). Everything is torn down and the environment restored on exit."""
    try:
        from storeflow.endpoints import create_unsubscribe_app
    except ImportError:  # before the public endpoints moved out of campaigns.optouts
        from storeflow.campaigns.optouts import create_unsubscribe_app
    from storeflow.warehouse.db import connect_warehouse
    from storeflow_simulators.cluster import SimulatorCluster
    from storeflow_simulators.serve import serve_in_thread

    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        workdir = Path(config.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        env = {
            "STOREFLOW_DATA_DIR": str(workdir / "data"),
            "STOREFLOW_PROFILE": "demo",  # senders may talk to the simulators on loopback addresses
            "STOREFLOW_STOCK_BUFFER": str(config.stock_buffer),
            "STOREFLOW_RECONCILE_FIX_UNEXPLAINED": "true" if config.fix_unexplained else "false",
            "STOREFLOW_UNSUBSCRIBE_SECRET": os.environ.get("STOREFLOW_UNSUBSCRIBE_SECRET") or secrets.token_urlsafe(24),
        }
        with _environment(env), SimulatorCluster(seed=config.seed, scale=config.scale, faults=config.fault_rate,
                                                 ports=EPHEMERAL_PORTS) as sims:
            engine = connect_warehouse(config.db_url or f"sqlite:///{workdir / 'warehouse.db'}")
            handle = serve_in_thread(create_unsubscribe_app(engine), "127.0.0.1", 0)
            try:
                with _environment({**sims.env(), "STOREFLOW_UNSUBSCRIBE_BASE_URL": f"{handle.url}/u"}):
                    yield Soak(config, sims, engine, f"{handle.url}/u", log=log)
            finally:
                handle.stop()
                engine.dispose()


def run_soak(config: SoakConfig, log=print) -> SoakReport:
    """Run the whole soak: simulators, go-live night, ``config.cycles`` hourly cycles; return the report."""
    started = time.perf_counter()
    with soak_session(config, log) as soak:
        log(f"soak: seed {config.seed}, {config.cycles} cycles from {soak.t1:%Y-%m-%d %H:%M} (logical), "
            f"fault rate {config.fault_rate}")
        soak.setup()
        for cycle in range(1, config.cycles + 1):
            soak.cycle(cycle)
        report = soak.finish()
    report.seconds = time.perf_counter() - started
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=6)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--scale", default="tiny", choices=["tiny", "small", "medium"])
    parser.add_argument("--faults", type=float, default=0.04)
    parser.add_argument("--start-hour", type=int, default=1)
    parser.add_argument("--db-url", default=None)
    args = parser.parse_args(argv)
    report = run_soak(SoakConfig(seed=args.seed, cycles=args.cycles, scale=args.scale, fault_rate=args.faults,
                                 start_hour=args.start_hour, db_url=args.db_url))
    print(report.summary(per_invariant=5))
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
