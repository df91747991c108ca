"""Benchmark: `dondoc status --json` on a ledger of one or two plans, each of N units.

    .venv/bin/python bench/status.py [--plans 1|2] [--sizes 1000 5000 10000 20000] [--before DIR] [--runs 3]

In the same run, for each size: the whole command (a new process: Python start-up, reading
the plans, the ledger, the rules; the plans' cache warmed by a first run), its CPU time and
peak memory, beside the floor it cannot beat, a new process that only reads the same ledger
rows with sqlite3, and (`--before DIR`: another checkout, e.g. `git archive main | tar -x -C DIR`)
the same command of that code on the same ledger. Best of `--runs` (3), by CPU. The machine is shared: wall times
follow its load (printed), CPU times much less. Targets: status --json under 1 s at 10,000 units,
under 2 s for 2 plans × 10,000 units.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from dispatch import plan_yaml  # noqa: E402

FLOOR = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
         "[c.execute(q).fetchall() for q in ('select * from outbound', 'select * from reports')]")


def ledger(work: Path, n: int, plans: int = 2) -> dict:
    """`plans` plans (1 or 2) of n units, every unit asked, a third of them reported; returns the env."""
    from dondoc.ledger import Ledger
    from models.loader import parse_plan
    from models.rules import due_actions
    (work / "plans").mkdir()
    paths = [work / "units.yaml", work / "plans" / "b.yaml"][:plans]
    for path, plan_id in zip(paths, ("kh-test", "kh-b"), strict=False):
        path.write_text(plan_yaml(n).replace("id: kh-test", f"id: {plan_id}"), encoding="utf-8")
    led = Ledger(work / "l.db")
    day = dt.date(2026, 11, 5)
    for path in paths:
        plan = parse_plan(path.read_text(encoding="utf-8"))
        led.record_actions(due_actions(plan, led.state(plan.plan.id), day), day, "x.example")
        for u in plan.units[::3]:
            led.record_report(plan.plan.id, "2026", "bao-cao-nam", u.id, dt.date(2026, 12, 1), source="paper")
    return {**os.environ, "DONDOC_CONFIG": str(work / "units.yaml"), "DONDOC_DB": str(work / "l.db")}


def timed(cmd: list[str], env: dict, cwd: Path = ROOT) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak memory (MB) of the command. The memory
    is GNU time's: a child of this process would count this process's own size (Linux counts the
    memory a process had before its exec)."""
    start = time.perf_counter()
    proc = subprocess.Popen(["/usr/bin/time", "-f", "%M", *cmd], env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{cmd}: {err[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, int(err.split()[-1]) / 1024


def best(cmd: list[str], env: dict, cwd: Path = ROOT, runs: int = 3) -> tuple[float, float, float]:
    timed(cmd, env, cwd)   # warms the plan cache (var/cache under cwd)
    return min((timed(cmd, env, cwd) for _ in range(runs)), key=lambda t: t[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 10000, 20000])
    ap.add_argument("--plans", type=int, choices=(1, 2), default=2, help="plans of N units each (issue #15: one)")
    ap.add_argument("--before", type=Path, help="another checkout to run on the same ledgers")
    ap.add_argument("--runs", type=int, default=3, help="runs of each command; the one of least CPU is shown")
    args = ap.parse_args()
    status = ["-m", "dondoc.cli", "status", "--json", "--today", "2026-12-10"]
    print(f"{args.plans} plan(s) of N units; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'units/plan':>10} {'wall s':>7} {'CPU s':>6} {'peak MB':>8} {'sqlite wall s':>14}"
          + (f" {'before wall s':>14} {'before CPU s':>13} {'before MB':>10}" if args.before else ""))
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="dondoc-bench-") as tmp:
            env = ledger(Path(tmp), n, args.plans)
            wall, cpu, mb = best([sys.executable, *status], env | {"PYTHONPATH": str(ROOT)}, runs=args.runs)
            floor = best([sys.executable, "-c", FLOOR, env["DONDOC_DB"]], env, runs=args.runs)[0]
            line = f"{n:>10} {wall:>7.2f} {cpu:>6.2f} {mb:>8.0f} {floor:>14.2f}"
            if args.before:
                b = best([sys.executable, *status], env | {"PYTHONPATH": str(args.before)}, args.before.resolve(),
                         args.runs)
                line += f" {b[0]:>14.2f} {b[1]:>13.2f} {b[2]:>10.0f}"
            print(line, flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    print("targets: status --json under 1 s at 10,000 units; under 2 s for 2 plans × 10,000 units; "
          "under 300 MB at 20,000 units")


if __name__ == "__main__":
    main()
