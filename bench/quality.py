"""Customer cleaning + GX validation vs reading the same rows from the warehouse, same run.

    .venv/bin/python bench/quality.py [--rows 1000000] [--repeat 2] [--pg-url URL | --no-pg]

Generates ``--rows`` staged customer rows (about 80 % already clean, as the POS/store mostly send them,
and 20 % in the formats the sources really produce: national/spaced phones, upper/lower-case names and
emails, postcodes without a space, country names; ~1 % broken values), stores them in a staging table
of a fresh SQLite file (and of a fresh PostgreSQL schema when reachable), then times

* baseline: ``SELECT`` of those rows into a pandas DataFrame (``pd.read_sql``), and
* measured: :func:`customer_frame.clean_customers_frame` (bench/) + the customers GX suite
  (:func:`storeflow.quality.validate.validate_frame`) on the rows to load.

Caches of the cleaners are cleared before every measured run and the GX context is warmed up once
(process start-up, not per batch). Fastest of ``--repeat`` runs counts. Prints a table and ``BENCH``
lines (format: bench/README.md). Figure: ratio = (clean + validate seconds) / read seconds (goal <= 3).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import unicodedata
import uuid
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from customer_frame import clean_customers_frame  # bench/customer_frame.py, next to this script

from storeflow.quality import countries, emails, names, phones, postcodes
from storeflow.quality.validate import validate_frame

DEFAULT_PG = os.environ.get("STOREFLOW_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
GOAL = 3.0
COLUMNS = ["source_id", "email", "phone", "given_name", "family_name", "address_line1", "city", "postcode",
           "country"]
GIVEN = ["James", "Mary", "Oliver", "Amelia", "Jack", "Isla", "Harry", "Ava", "George", "Emily", "Noah", "Sophie",
         "Léa", "Chloé", "Jürgen", "Zoë", "Siobhán", "Mohammed", "Priya", "Wei", "Łukasz", "Anna", "Lucas", "Mia"]
FAMILY = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson", "Wright",
          "O'Brien", "McDonald", "van der Berg", "Müller", "Dubois", "García", "Rossi", "Nowak", "Khan", "Patel"]
STREETS = ["High Street", "Station Road", "Church Lane", "Mill Road", "Park Avenue", "Queen's Road", "Victoria Street"]
CITIES = ["London", "Leeds", "Manchester", "Bristol", "York", "Bath", "Cardiff", "Glasgow"]
AREAS = ["SW1A", "N1", "E2", "LS1", "M4", "BS8", "YO1", "BA1", "CF10", "G2", "EC1V", "W1D"]
LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.replace("ł", "l").replace("Ł", "L"))
    return "".join(c for c in folded if c.isascii() and (c.isalnum() or c == "."))


def make_rows(n: int, seed: int = 7) -> list[tuple]:
    """``n`` staged customer rows: ~80 % clean, ~19 % format variants, ~1 % broken values."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        g, f = rng.choice(GIVEN), rng.choice(FAMILY)
        local = _ascii(f"{g}.{f}".lower()) + str(i)
        email = f"{local}@example.{rng.choice(['com', 'org', 'net', 'co.uk'])}"
        mobile = f"7{rng.randrange(100000000, 999999999)}"
        phone = f"+44{mobile}"
        pc = f"{rng.choice(AREAS)} {rng.randrange(1, 10)}{rng.choice(LETTERS)}{rng.choice(LETTERS)}"
        country = "GB"
        r = rng.random()
        if r < 0.19:  # format variants the sources really send
            kind = rng.randrange(6)
            if kind == 0:
                phone = f"0{mobile[:4]} {mobile[4:]}"
            elif kind == 1:
                phone = f"+44 {mobile[:4]} {mobile[4:]}"
            elif kind == 2:
                g, f = g.upper(), f.upper()
            elif kind == 3:
                email = f" {email.capitalize().replace('@example', '@Example')} "
            elif kind == 4:
                pc = pc.replace(" ", "").lower()
            else:
                country = rng.choice(["United Kingdom", "uk", "England"])
        elif r < 0.20:  # broken values
            kind = rng.randrange(3)
            if kind == 0:
                email = email.replace("@", "@@")
            elif kind == 1:
                phone = "call after 5pm"
            else:
                country = "Narnia"
        rows.append((f"C{i:08d}", email, phone, g, f, f"{rng.randrange(1, 300)} {rng.choice(STREETS)}",
                     rng.choice(CITIES), pc, country))
    return rows


def staging_table(md: sa.MetaData) -> sa.Table:
    """The staging table the rows are read from (text columns, as staged from the sources)."""
    return sa.Table("bench_staged_customers", md, sa.Column("source_id", sa.String(64), primary_key=True),
                    *[sa.Column(c, sa.Text) for c in COLUMNS[1:]])


def load(engine: sa.Engine, table: sa.Table, rows: list[tuple]) -> None:
    """Bulk-load the rows (COPY on PostgreSQL, executemany on SQLite)."""
    table.metadata.create_all(engine)
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({', '.join(COLUMNS)}) FROM STDIN") as cp:
                for row in rows:
                    cp.write_row(row)
            raw.commit()
        finally:
            raw.close()
        return
    with engine.begin() as conn:
        for start in range(0, len(rows), 50_000):
            conn.execute(table.insert(), [dict(zip(COLUMNS, r, strict=True)) for r in rows[start:start + 50_000]])


def read(engine: sa.Engine, table: sa.Table) -> pd.DataFrame:
    """Baseline: the rows into a DataFrame, as a loader reads a batch."""
    with engine.connect() as conn:
        return pd.read_sql(sa.select(*[table.c[c] for c in COLUMNS]), conn)


def clear_caches() -> None:
    """Cold cleaner caches, so every measured run does the full work."""
    for fn in (emails._slow, phones._parse, names._clean_text, postcodes._clean, countries._lookup):
        fn.cache_clear()


def clean_and_validate(df: pd.DataFrame) -> tuple[float, float, dict]:
    """Seconds for cleaning and for GX validation, plus counts."""
    clear_caches()
    t0 = time.perf_counter()
    res = clean_customers_frame(df, "GB")
    good = res.good()
    t1 = time.perf_counter()
    report = validate_frame("customers", good)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, {
        "rows": len(df), "loaded": len(good), "field_quarantined": len(res.quarantined_index),
        "rows_cleaned": int((res.frame[COLUMNS[1:]].fillna("\0") != df[COLUMNS[1:]].fillna("\0")).any(axis=1).sum()),
        "critical_failed": [o.rule for o in report.failed_critical],
    }


def pg_engine(url: str) -> tuple[sa.Engine, sa.Engine, str] | None:
    """A fresh schema on PostgreSQL, or None when it is not reachable."""
    try:
        admin = sa.create_engine(url)
        schema = f"bench_quality_{uuid.uuid4().hex[:8]}"
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001 -- optional backend
        print(f"PostgreSQL not reachable ({type(exc).__name__}); SQLite only", file=sys.stderr)
        return None
    return admin, sa.create_engine(url, connect_args={"options": f"-csearch_path={schema}"}), schema


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--pg-url", default=DEFAULT_PG)
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args(argv)

    t = time.perf_counter()
    rows = make_rows(args.rows)
    print(f"generated {len(rows)} rows in {time.perf_counter() - t:.1f}s")
    validate_frame("customers", pd.DataFrame([dict(zip(COLUMNS, rows[0], strict=True))]))  # GX import + context

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        backends: list[tuple[str, sa.Engine]] = [("sqlite", sa.create_engine(f"sqlite:///{Path(tmp) / 'wh.db'}"))]
        pg = None if args.no_pg else pg_engine(args.pg_url)
        if pg:
            backends.append(("postgresql", pg[1]))
        try:
            for name, engine in backends:
                table = staging_table(sa.MetaData())
                t = time.perf_counter()
                load(engine, table, rows)
                print(f"{name}: loaded in {time.perf_counter() - t:.1f}s")
                best_read, best_clean, best_val, info = float("inf"), float("inf"), float("inf"), {}
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    df = read(engine, table)
                    best_read = min(best_read, time.perf_counter() - t)
                    c, v, info = clean_and_validate(df)
                    if c + v < best_clean + best_val:
                        best_clean, best_val = c, v
                    del df
                results.append((name, best_read, best_clean, best_val, info))
                engine.dispose()
        finally:
            if pg:
                with pg[0].begin() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA "{pg[2]}" CASCADE'))
                pg[0].dispose()

    print(f"\n{'backend':<11} {'rows':>9} {'read s':>8} {'clean s':>8} {'GX s':>7} {'ratio':>6}  loaded / "
          "field-quarantined / changed")
    for name, rd, cl, va, info in results:
        ratio = (cl + va) / rd
        print(f"{name:<11} {info['rows']:>9} {rd:>8.2f} {cl:>8.2f} {va:>7.2f} {ratio:>6.2f}  {info['loaded']} / "
              f"{info['field_quarantined']} / {info['rows_cleaned']}  critical_failed={info['critical_failed']}")
    for name, rd, cl, va, _info in results:
        print(f"BENCH quality ratio_{name}={(cl + va) / rd:.3f} baseline=read_same_rows_{name} goal<={GOAL:g}")
    for name, rd, cl, va, info in results:
        print(f"BENCH quality read_s_{name}={rd:.3f} baseline=none")
        print(f"BENCH quality clean_s_{name}={cl:.3f} baseline=none")
        print(f"BENCH quality validate_s_{name}={va:.3f} baseline=none")
        print(f"BENCH quality clean_rows_per_s_{name}={info['rows'] / (cl + va):.0f} baseline=none unit=rows/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
