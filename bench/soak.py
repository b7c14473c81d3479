"""Benchmark: the soak - 48 hourly cycles of two shops' life, every invariant checked after every cycle.

A seeded generator (``tests/soak/world_events.py``) drives the POS and store simulators through their
APIs hour by hour (sales and oversells, online orders, cancellations and refunds, price and stock edits,
new, deleted and re-SKUed items, email changes, sign-ups in both systems, opt-outs in the POS, the store,
by SMS STOP and one-click unsubscribe, rows with values no system should hold) under 4 % injected
faults, with every job's extracts in a seeded order. The DAGs' work runs without Airflow
(``tests/e2e/pipeline.py``'s jobs), hourly plus the nightly jobs at their hours; after every cycle the
invariants of ``tests/soak/invariants.py`` are checked against the systems themselves.

Figures: ``drift_found`` (store stock or price differing from the POS; goal 0), ``violations`` (every
invariant; goal 0), ``jobs_failed`` (goal 0), and for reference cycles, events, invariant checks,
faults injected, messages received, seconds. There is no baseline run: the figure is a count of broken
promises, and the reference is zero.

    .venv/bin/python bench/soak.py [--cycles 48] [--seed 11] [--faults 0.04] [--db-url URL]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "include"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print its account and BENCH lines."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=48)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--scale", default="tiny", choices=["tiny", "small", "medium"])
    parser.add_argument("--faults", type=float, default=0.04, help="fault rate of every vendor API")
    parser.add_argument("--start-hour", type=int, default=1, help="UTC hour of cycle 1's jobs")
    parser.add_argument("--db-url", default=None, help="warehouse URL (default: SQLite in a temp dir)")
    parser.add_argument("--quiet", action="store_true", help="no per-cycle lines")
    args = parser.parse_args(argv)

    from tests.soak.run import SoakConfig, run_soak

    report = run_soak(SoakConfig(seed=args.seed, cycles=args.cycles, scale=args.scale, fault_rate=args.faults,
                                 start_hour=args.start_hour, db_url=args.db_url),
                      log=(lambda *_: None) if args.quiet else print)
    print()
    print(report.summary(per_invariant=5))
    if report.refusals:
        print("events the systems refused or the simulators cannot drive:")
        for line in report.refusals[:20]:
            print(f"    {line}")
    faults = sum(v.get("total", 0) for v in report.faults.values())
    failed_jobs = sum(not j.ok for j in report.jobs)
    print(f"BENCH soak drift_found={report.drift_found} baseline=none goal<=0")
    print(f"BENCH soak violations={len(report.violations)} baseline=none goal<=0 "
          f"invariants_failing={','.join(report.failing()) or 'none'}")
    print(f"BENCH soak jobs_failed={failed_jobs} baseline=none goal<=0")
    print(f"BENCH soak cycles={report.cycles_run} baseline=none")
    print(f"BENCH soak events={sum(report.events.values())} baseline=none")
    print(f"BENCH soak invariant_checks={sum(report.checks.values())} baseline=none")
    print(f"BENCH soak faults_injected={faults} baseline=none")
    print(f"BENCH soak messages_received={report.messages_received} baseline=none")
    print(f"BENCH soak seconds={report.seconds:.1f} baseline=none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
