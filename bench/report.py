"""Benchmark: time to build the yearly report for 100, 1,000 and 10,000 units.

    .venv/bin/python bench/report.py [--sizes 100 1000 10000]

In the same run, for each size: dondoc (compile the figures and render the compiled
template) beside docxtpl's own DocxTemplate.render() of the same template and context.
Two in three units have reported, with numbers and a summary. Target: under 20 s at 10,000.
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from dispatch import plan_yaml  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    args = ap.parse_args()
    from docxtpl import DocxTemplate
    from jinja2 import Environment

    from dondoc.render import Templates
    from dondoc.reportdoc import report_context
    from models.calendar import BusinessCalendar
    from models.loader import parse_plan
    from models.period import parse_label
    from models.report import compile_report
    from models.rules import LedgerState
    print(f"{'units':>6} {'dondoc s':>9} {'docxtpl s':>10} {'pages KB':>9}")
    for n in args.sizes:
        plan = parse_plan(plan_yaml(n), "bench.yaml")
        cal = BusinessCalendar(plan.calendar)
        year, today = 2026, dt.date(2026, 12, 25)
        decided = {f"kh-test/{year}/bao-cao-nam/{u.id}/request": dt.date(2026, 11, 5) for u in plan.units}
        reported = {("bao-cao-nam", u.id, str(year)): dt.date(2026, 12, 1 + i % 9)
                    for i, u in enumerate(plan.units) if i % 3}
        reports = [{"period": str(year), "task_id": t, "unit_id": u, "indicators": json.dumps({"tin-bai": 7}),
                    "files": json.dumps([f"/data/{u}/bao-cao.docx"]), "note": "Đơn vị đã đăng 7 tin, bài."}
                   for t, u, _ in reported]
        templates = Templates()
        templates.docx("report")   # compiled once, as in a run
        start = time.perf_counter()
        data = compile_report(plan, LedgerState(decided, reported), reports, today, parse_label(str(year)), cal)
        ctx = report_context(plan, data, today)
        out = templates.docx("report").render(ctx)
        ours = time.perf_counter() - start
        start = time.perf_counter()
        tpl = DocxTemplate(str(ROOT / "templates" / "docx" / "report.docx"))
        tpl.render(ctx, Environment(autoescape=True))
        tpl.save(io.BytesIO())
        naive = time.perf_counter() - start
        print(f"{n:>6} {ours:>9.2f} {naive:>10.2f} {len(out) // 1024:>9}", flush=True)
    print("target: under 20 s at 10,000 units")


if __name__ == "__main__":
    main()
