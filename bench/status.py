"""Benchmark: `dondoc status --json` on a ledger of two plans, each of N units.

    .venv/bin/python bench/status.py [--sizes 1000 10000]

In the same run, for each size: the whole command (a new process: Python start-up, reading
both plans, the ledger, the rules) beside the floor it cannot beat, a new process that only
reads the same ledger rows with sqlite3. Target: under 2 s for 2 plans × 10,000 units.
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


def ledger(work: Path, n: int) -> dict:
    """Two plans of n units, every unit asked, a third of them reported; returns the env."""
    from dondoc.ledger import Ledger
    from models.loader import parse_plan
    from models.rules import due_actions
    (work / "plans").mkdir()
    (work / "units.yaml").write_text(plan_yaml(n), encoding="utf-8")
    (work / "plans" / "b.yaml").write_text(plan_yaml(n).replace("id: kh-test", "id: kh-b"), encoding="utf-8")
    led = Ledger(work / "l.db")
    day = dt.date(2026, 11, 5)
    for path in (work / "units.yaml", work / "plans" / "b.yaml"):
        plan = parse_plan(path.read_text(encoding="utf-8"))
        led.record_actions(due_actions(plan, led.state(plan.plan.id), day), day, "x.example")
        for u in plan.units[::3]:
            led.record_report(plan.plan.id, "2026", "bao-cao-nam", u.id, dt.date(2026, 12, 1), source="paper")
    return {**os.environ, "DONDOC_CONFIG": str(work / "units.yaml"), "DONDOC_DB": str(work / "l.db")}


def timed(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    args = ap.parse_args()
    print(f"{'units/plan':>10} {'status --json s':>16} {'sqlite read s':>14} {'ratio':>6}")
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="dondoc-bench-") as tmp:
            env = ledger(Path(tmp), n)
            ours = min(timed([sys.executable, "-m", "dondoc.cli", "status", "--json", "--today", "2026-12-10"], env)
                       for _ in range(3))
            floor = min(timed([sys.executable, "-c", FLOOR, env["DONDOC_DB"]], env) for _ in range(3))
            print(f"{n:>10} {ours:>16.2f} {floor:>14.2f} {ours / floor:>6.1f}", flush=True)
    print("target: status --json under 2 s for 2 plans × 10,000 units (best of 3)")


if __name__ == "__main__":
    main()
