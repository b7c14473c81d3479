"""Bulk upsert vs raw COPY on PostgreSQL, same rows, same table definition, same run.

    .venv/bin/python bench/upsert.py [--rows 1000000] [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Creates a fresh schema, loads ``--rows`` order lines (1) with a plain ``COPY`` into an empty copy of
``order_lines`` (the baseline) and (2) with ``storeflow.warehouse.upsert.upsert`` into an empty
``order_lines``, then (3) upserts the same rows again with 1 % of them changed. Prints a table and
``BENCH`` lines (format: bench/README.md). The schema is dropped at the end.
Figure: ratio = raw COPY seconds / upsert seconds (goal >= 0.5).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from storeflow.warehouse.db import make_engine
from storeflow.warehouse.schema import metadata, order_lines
from storeflow.warehouse.upsert import upsert

DEFAULT_PG = os.environ.get("STOREFLOW_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
GOAL = 0.5


def make_rows(n: int, seed_time: datetime) -> list[dict]:
    """``n`` realistic order lines (about 2.5 lines per order, both source systems)."""
    rows = []
    skus = [f"SKU-{i:05d}" for i in range(5000)]
    names = [f"Product {i} – {['toner', 'coffee', 'pet food', 'perfume'][i % 4]}" for i in range(5000)]
    for i in range(n):
        order = i * 2 // 5
        p = (i * 7919) % 5000
        qty = Decimal(1 + i % 3) if i % 10 else Decimal("0.25")
        price = 199 + (p * 37) % 9000
        rows.append(
            {
                "source_system": "pos" if order % 3 == 0 else "store",
                "order_id": f"ORD{order:09d}",
                "line_id": str(i % 5),
                "sku": skus[p],
                "pos_variation_id": f"VAR{p:07d}",
                "name": names[p],
                "quantity": qty,
                "unit_price_minor": price,
                "total_minor": int(price * qty),
                "loaded_at": seed_time + timedelta(seconds=i % 86400),
            }
        )
    return rows


@dataclass
class Timing:
    """Wall seconds and CPU seconds (this process + its PostgreSQL backend, when readable)."""

    wall: float
    cpu: float | None
    changed: int = 0


def _backend_cpu(pid: int) -> float | None:
    """CPU seconds used so far by a local PostgreSQL backend (Linux /proc), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def measured(engine: sa.Engine, work) -> Timing:
    """Run ``work(conn)`` in one transaction; time it including the commit."""
    with engine.connect() as conn:
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        conn.commit()
        cpu0, be0, wall0 = time.process_time(), _backend_cpu(pid), time.perf_counter()
        with conn.begin():
            changed = work(conn)
        wall, cpu1, be1 = time.perf_counter() - wall0, time.process_time(), _backend_cpu(pid)
    cpu = (cpu1 - cpu0) + (be1 - be0) if be0 is not None and be1 is not None else None
    return Timing(wall, cpu, changed or 0)


def raw_copy(engine: sa.Engine, table: str, rows: list[dict], columns: list[str]) -> Timing:
    """Baseline: one COPY of the same Python rows into an empty table (psycopg adapts the values)."""

    def work(conn) -> int:
        cur = conn.connection.driver_connection.cursor()
        quoted = ", ".join(f'"{c}"' for c in columns)
        with cur.copy(f'COPY "{table}" ({quoted}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])
        return len(rows)

    return measured(engine, work)


def timed_upsert(engine: sa.Engine, rows: list[dict]) -> Timing:
    """One ``upsert`` of ``rows`` into ``order_lines`` (``changed`` = its return value)."""
    return measured(engine, lambda conn: upsert(conn, order_lines, rows))


def settle(engine: sa.Engine) -> None:
    """Flush the previous step's dirty pages so a checkpoint does not land inside the next measurement."""
    gc.collect()
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CHECKPOINT"))
    except sa.exc.DBAPIError:  # not a superuser: measure anyway
        pass


def count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar_one()  # noqa: S608


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--changed-share", type=float, default=0.01, help="share of rows changed in pass 2")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each step; the fastest counts")
    ap.add_argument("--pg-url", default=DEFAULT_PG)
    args = ap.parse_args(argv)

    schema = f"bench_upsert_{uuid.uuid4().hex[:10]}"
    admin = make_engine(args.pg_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in args.pg_url else "?"
    engine = make_engine(f"{args.pg_url}{sep}options=-csearch_path%3D{schema}")
    try:
        with engine.begin() as conn:
            metadata.create_all(conn, tables=[order_lines])
            # identical definition (columns, PK, indexes) for the baseline
            conn.execute(sa.text('CREATE TABLE "order_lines_copy" (LIKE "order_lines" INCLUDING ALL)'))
        columns = [c.name for c in order_lines.columns]
        t0 = time.perf_counter()
        rows = make_rows(args.rows, datetime(2026, 1, 1, tzinfo=UTC))
        gen_s = time.perf_counter() - t0
        print(f"generated {len(rows):,} order lines in {gen_s:.1f} s; schema {schema}", flush=True)

        step = max(1, round(1 / args.changed_share)) if args.changed_share > 0 else 0
        second = [dict(r, total_minor=r["total_minor"] + 1) if step and i % step == 0 else r
                  for i, r in enumerate(rows)]
        expected_changed = sum(1 for i in range(len(rows)) if step and i % step == 0)
        copies: list[Timing] = []
        ups: list[Timing] = []
        ups2: list[Timing] = []
        for rep in range(args.repeat):
            with engine.begin() as conn:
                conn.execute(sa.text('TRUNCATE "order_lines", "order_lines_copy"'))
            # alternate the order so that neither side always runs on a warmer (or busier) server
            for step_name in (["copy", "upsert"] if rep % 2 == 0 else ["upsert", "copy"]):
                settle(engine)
                if step_name == "copy":
                    copies.append(raw_copy(engine, "order_lines_copy", rows, columns))
                else:
                    ups.append(timed_upsert(engine, rows))
                    assert ups[-1].changed == len(rows), ups[-1].changed
            assert count(engine, "order_lines_copy") == len(rows) == count(engine, "order_lines")
            settle(engine)
            ups2.append(timed_upsert(engine, second))
            assert ups2[-1].changed == expected_changed, (ups2[-1].changed, expected_changed)
            print(f"  run {rep + 1}/{args.repeat}: copy {copies[-1].wall:.2f} s, upsert {ups[-1].wall:.2f} s, "
                  f"second pass {ups2[-1].wall:.2f} s  (load average {os.getloadavg()[0]:.1f})", flush=True)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    n = len(rows)
    copy_t, up_t, up2_t = (min(ts, key=lambda t: t.wall) for ts in (copies, ups, ups2))
    ratio = copy_t.wall / up_t.wall
    cpu = [min((t.cpu for t in ts), default=None) if all(t.cpu is not None for t in ts) else None
           for ts in (copies, ups, ups2)]
    table = [
        ("raw COPY into empty table (baseline)", copy_t.wall, cpu[0], n),
        ("upsert into empty table", up_t.wall, cpu[1], n),
        (f"upsert again, {args.changed_share:.0%} changed", up2_t.wall, cpu[2], up2_t.changed),
    ]
    print()
    print(f"{'step':<40} {'seconds':>9} {'rows/s':>12} {'CPU s':>8} {'rows written':>13}")
    for name, secs, cpu_s, written in table:
        cpu_txt = f"{cpu_s:.2f}" if cpu_s is not None else "-"
        print(f"{name:<40} {secs:>9.2f} {n / secs:>12,.0f} {cpu_txt:>8} {written:>13,}")
    print(f"(fastest of {args.repeat} runs each; CPU = this process + its PostgreSQL backend)")
    print(f"\nratio raw COPY time / upsert time = {ratio:.2f} (goal >= {GOAL})")
    if cpu[0] and cpu[1]:
        print(f"ratio by CPU seconds                = {cpu[0] / cpu[1]:.2f} (less sensitive to a busy machine)")
    print(f"BENCH upsert ratio={ratio:.3f} baseline=raw_COPY_same_rows goal>={GOAL}")
    if cpu[0] and cpu[1]:
        print(f"BENCH upsert cpu_ratio={cpu[0] / cpu[1]:.3f} baseline=raw_COPY_same_rows_CPU_seconds")
    print(f"BENCH upsert upsert_rows_per_s={n / up_t.wall:.0f} baseline=none")
    print(f"BENCH upsert copy_rows_per_s={n / copy_t.wall:.0f} baseline=none")
    print(f"BENCH upsert second_pass_ratio={copy_t.wall / up2_t.wall:.3f} baseline=raw_COPY_same_rows")
    print(f"BENCH upsert second_pass_s={up2_t.wall:.2f} baseline=none rows_changed={up2_t.changed}")
    print(f"BENCH upsert rows={n} baseline=none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
