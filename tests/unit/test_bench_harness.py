"""bench/run_all.py: BENCH line parsing and the summary over real benchmark processes."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN_ALL = ROOT / "bench" / "run_all.py"


@pytest.fixture(scope="module")
def run_all():
    spec = importlib.util.spec_from_file_location("bench_run_all", RUN_ALL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up while the class is created
    spec.loader.exec_module(module)
    return module


def test_parse_full_line(run_all):
    f = run_all.parse_line("BENCH upsert ratio=0.583 baseline=raw_COPY_same_rows goal>=0.5 unit=x\n")
    assert (f.bench, f.figure, f.value, f.baseline, f.goal_op, f.goal_value) == (
        "upsert", "ratio", 0.583, "raw_COPY_same_rows", ">=", 0.5
    )
    assert f.notes == {"unit": "x"} and f.met is True and f.goal == ">=0.5"


@pytest.mark.parametrize(
    ("line", "met"),
    [
        ("BENCH b x=0.49 goal>=0.5", False),
        ("BENCH b x=0.5 goal>=0.5", True),
        ("BENCH b x=0.5 goal>0.5", False),
        ("BENCH b x=2e3 goal<=2000", True),
        ("BENCH b x=-1 goal<0", True),
        ("BENCH b x=12", None),
    ],
)
def test_goal_evaluation(run_all, line, met):
    assert run_all.parse_line(line).met is met


@pytest.mark.parametrize(
    "line",
    ["BENCH upsert", "BENCH upsert ratio=fast", "BENCH upsert ratio=1 goal=0.5", "BENCH a b=1 stray",
     "BENCH a b=1,000", "bench a b=1"],
)
def test_malformed_lines_refused(run_all, line):
    with pytest.raises(ValueError):
        run_all.parse_line(line)


def test_quick_args_name_existing_benchmarks(run_all):
    stems = {p.stem for p in run_all.discover(ROOT / "bench")}
    assert "upsert" in stems and "run_all" not in stems
    assert set(run_all.QUICK_ARGS) <= stems and set(run_all.FULL_ARGS) <= stems


def _bench(folder: Path, name: str, body: str) -> None:
    (folder / f"{name}.py").write_text(body)


def test_run_all_summarises_real_processes(tmp_path):
    bench = tmp_path / "bench"
    bench.mkdir()
    _bench(bench, "good", "print('table...')\nprint('BENCH good ratio=0.75 baseline=raw goal>=0.5')\n"
                          "print('BENCH good rows_per_s=12345 baseline=none')\n")
    _bench(bench, "slow", "print('BENCH slow ratio=0.2 baseline=raw goal>=0.5')\n")
    _bench(bench, "crash", "print('starting')\nraise SystemExit('boom: no database')\n")
    _bench(bench, "silent", "print('forgot the BENCH line')\n")
    _bench(bench, "_helper", "raise SystemExit(9)\n")  # not a benchmark
    out_json = tmp_path / "figures.json"
    proc = subprocess.run(
        [sys.executable, str(RUN_ALL), "--bench-dir", str(bench), "--quiet", "--json", str(out_json)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr  # crash + silent are errors
    table = proc.stdout[proc.stdout.index("benchmark"):].splitlines()
    rows = {tuple(line.split()[:2]): line for line in table[2:]}
    assert rows[("good", "ratio")].split()[-1] == "yes"
    assert rows[("good", "rows_per_s")].split()[-1] == "-"
    assert rows[("slow", "ratio")].split()[-1] == "NO"
    assert "boom: no database" in rows[("crash", "-")] and rows[("crash", "-")].split()[-1] == "ERROR"
    assert "no BENCH line" in rows[("silent", "-")]
    assert not any(r[0] == "_helper" for r in rows)
    figures = json.loads(out_json.read_text())
    assert {(f["bench"], f["figure"], f["met"]) for f in figures} >= {("good", "ratio", True), ("slow", "ratio", False)}


def test_strict_fails_on_missed_goal_only(tmp_path):
    bench = tmp_path / "bench"
    bench.mkdir()
    _bench(bench, "slow", "print('BENCH slow ratio=0.2 baseline=raw goal>=0.5')\n")
    cmd = [sys.executable, str(RUN_ALL), "--bench-dir", str(bench), "--quiet"]
    assert subprocess.run(cmd, capture_output=True, timeout=60).returncode == 0
    assert subprocess.run([*cmd, "--strict"], capture_output=True, timeout=60).returncode == 1


def test_timeout_is_an_error(tmp_path):
    bench = tmp_path / "bench"
    bench.mkdir()
    _bench(bench, "hang", "import time\nprint('BENCH hang x=1', flush=True)\ntime.sleep(60)\n")
    proc = subprocess.run([sys.executable, str(RUN_ALL), "--bench-dir", str(bench), "--quiet", "--timeout", "1"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "timed out" in proc.stdout
