"""Run every benchmark in bench/ and print one table of their figures.

    .venv/bin/python bench/run_all.py [--full] [--only NAME ...] [--strict] [--json FILE]

Each ``bench/*.py`` (except this file and files starting with ``_``) runs as its own process with the
arguments from :data:`QUICK_ARGS` (or :data:`FULL_ARGS` with ``--full``); the lines it prints that
start with ``BENCH `` are collected (format: bench/README.md). A benchmark that fails, times out or
prints no ``BENCH`` line shows up as an error row. Exit status: 1 if any benchmark errored (or, with
``--strict``, missed a goal), else 0.
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent

#: Quick-ish arguments per benchmark (file stem); benchmarks not listed run with no arguments.
QUICK_ARGS: dict[str, list[str]] = {
    "upsert": ["--rows", "200000", "--repeat", "3"],
    "quality": ["--rows", "100000"],
    "scoring": ["--customers", "100000"],
    "sync_catalog": ["--skus", "20000"],
    "campaigns": ["--customers", "100000"],
    "soak": ["--cycles", "24", "--quiet"],
}
#: Arguments with ``--full`` (the figures quoted in reports); not listed = the benchmark's own defaults.
FULL_ARGS: dict[str, list[str]] = {
    "upsert": ["--rows", "1000000", "--repeat", "3"],
}

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_TOKEN = re.compile(r"^[A-Za-z0-9_.\-]+$")
_FIGURE = re.compile(rf"^(?P<figure>[A-Za-z0-9_.\-]+)=(?P<value>{_NUMBER})$")
_GOAL = re.compile(rf"^goal(?P<op>>=|<=|>|<)(?P<value>{_NUMBER})$")


@dataclass
class Figure:
    """One ``BENCH`` line, parsed."""

    bench: str
    figure: str
    value: float | None
    baseline: str = "-"
    goal_op: str | None = None
    goal_value: float | None = None
    notes: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    @property
    def goal(self) -> str:
        return f"{self.goal_op}{_fmt(self.goal_value)}" if self.goal_op else "-"

    @property
    def met(self) -> bool | None:
        """True/False against the goal; None when there is no goal or no value."""
        if self.error or self.goal_op is None or self.value is None:
            return None
        return _OPS[self.goal_op](self.value, self.goal_value)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.1f}"


def parse_line(line: str) -> Figure:
    """Parse ``BENCH <name> <figure>=<value> [baseline=<desc>] [goal<op><value>] [key=value ...]``.

    Raises ``ValueError`` on a malformed line.
    """
    tokens = line.strip().split()
    if len(tokens) < 3 or tokens[0] != "BENCH":
        raise ValueError(f"not a BENCH line: {line!r}")
    name = tokens[1]
    if not _TOKEN.match(name):
        raise ValueError(f"bad benchmark name {name!r}")
    fig = _FIGURE.match(tokens[2])
    if not fig:
        raise ValueError(f"expected <figure>=<number>, got {tokens[2]!r}")
    result = Figure(name, fig["figure"], float(fig["value"]))
    for token in tokens[3:]:
        goal = _GOAL.match(token)
        if goal:
            result.goal_op, result.goal_value = goal["op"], float(goal["value"])
        elif token.startswith("baseline="):
            result.baseline = token.removeprefix("baseline=") or "-"
        elif "=" in token and not token.startswith("goal"):
            key, _, value = token.partition("=")
            result.notes[key] = value
        else:
            raise ValueError(f"unrecognised token {token!r} (goal must be goal>=N, goal<=N, goal>N or goal<N)")
    return result


def discover(bench_dir: Path) -> list[Path]:
    """Benchmark scripts in ``bench_dir``, by name."""
    me = Path(__file__).name
    return sorted(p for p in bench_dir.glob("*.py") if p.name != me and not p.name.startswith("_"))


def run_one(path: Path, args: list[str], timeout: float, echo: bool) -> list[Figure]:
    """Run one benchmark script; its figures, or one error row."""
    name = path.stem
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, str(path), *args]
    print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=path.parent.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    figures: list[Figure] = []
    tail: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if echo:
                print(f"   {line}", end="", flush=True)
            tail = (tail + [line.rstrip()])[-5:]
            if line.startswith("BENCH "):
                try:
                    figures.append(parse_line(line))
                except ValueError as exc:
                    figures.append(Figure(name, "?", None, error=f"malformed: {exc}"))
        rc = proc.wait()
    finally:
        timer.cancel()
    elapsed = time.monotonic() - start
    if rc != 0:
        why = f"timed out after {timeout:.0f} s" if elapsed >= timeout else f"exit {rc}"
        last = next((t for t in reversed(tail) if t.strip()), "")
        return figures + [Figure(name, "-", None, error=f"{why}: {last[:120]}")]
    if not figures:
        return [Figure(name, "-", None, error="printed no BENCH line")]
    return figures


def render(figures: list[Figure]) -> str:
    """The summary table."""
    header = ("benchmark", "figure", "value", "baseline", "goal", "met?")
    rows = []
    for f in figures:
        met = "ERROR" if f.error else {True: "yes", False: "NO", None: "-"}[f.met]
        value = f.error if f.error else _fmt(f.value)
        rows.append((f.bench, f.figure, value, f.baseline, f.goal, met))
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [line.format(*header), line.format(*("-" * w for w in widths))]
    out += [line.format(*r) for r in rows]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run every benchmark in bench/ and summarise their figures.")
    ap.add_argument("--full", action="store_true", help="use FULL_ARGS (the reported figures)")
    ap.add_argument("--only", action="append", default=[], metavar="NAME", help="run only these benchmarks")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per benchmark")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    ap.add_argument("--quiet", action="store_true", help="do not echo each benchmark's output")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    ap.add_argument("--bench-dir", type=Path, default=BENCH_DIR, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    table = FULL_ARGS if args.full else QUICK_ARGS
    scripts = [p for p in discover(args.bench_dir) if not args.only or p.stem in args.only]
    if not scripts:
        print("no benchmarks found", file=sys.stderr)
        return 1
    figures: list[Figure] = []
    for path in scripts:
        figures += run_one(path, table.get(path.stem, []), args.timeout, echo=not args.quiet)
    print()
    print(render(figures))
    if args.json:
        args.json.write_text(json.dumps([asdict(f) | {"met": f.met} for f in figures], indent=2))
    errored = any(f.error for f in figures)
    missed = any(f.met is False for f in figures)
    return 1 if errored or (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
