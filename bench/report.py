"""Benchmark: time to build the yearly report for 100, 1,000 and 10,000 units.

    .venv/bin/python bench/report.py [--sizes 100 1000 10000]

In the same run, for each size: dondoc (compile the figures and render the compiled
template) beside docxtpl's own DocxTemplate.render() of the same template and context.
Two in three units have reported, with numbers and their own text for each of the plan's three
content items (one in five only as a report's text, trimmed). Target: the .docx under 5 s at
10,000 units (PDF conversion is timed apart: `--pdf`).
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
    ap.add_argument("--pdf", action="store_true", help="also time LibreOffice's conversion of the largest")
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
    print(f"{'units':>6} {'dondoc s':>9} {'docxtpl s':>10} {'docx KB':>9}")
    for n in args.sizes:
        plan = parse_plan(with_items(plan_yaml(n)), "bench.yaml")
        cal = BusinessCalendar(plan.calendar)
        year, today = 2026, dt.date(2026, 12, 25)
        decided = {f"kh-test/{year}/bao-cao-nam/{u.id}/request": dt.date(2026, 11, 5) for u in plan.units}
        reported = {("bao-cao-nam", u.id, str(year)): dt.date(2026, 12, 1 + i % 9)
                    for i, u in enumerate(plan.units) if i % 3}
        reports = [{"period": str(year), "task_id": t, "unit_id": u, "indicators": json.dumps({"tin-bai": 7}),
                    "files": json.dumps([f"/data/{u}/bao-cao.docx"]), "note": "Kính gửi Sở, đơn vị gửi báo cáo.",
                    "source": "email", "form": json.dumps(form_of(i))}
                   for i, (t, u, _) in enumerate(reported)]
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
    print("target: the .docx under 5 s at 10,000 units")
    if args.pdf:
        import tempfile

        from dondoc.reportdoc import to_pdf
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bao-cao.docx"
            path.write_bytes(out)
            start = time.perf_counter()
            to_pdf(path)
            print(f"PDF of the {args.sizes[-1]}-unit report (LibreOffice): {time.perf_counter() - start:.1f} s")


ITEMS = {"a": "Tuyên truyền các hoạt động giáo dục, học tập trong thư viện, bảo tàng.",
         "b": "Quảng bá các loại hình di sản văn hóa trên các phương tiện thông tin đại chúng.",
         "c": "Biểu dương, khen thưởng các tập thể, cá nhân điển hình."}


def with_items(text: str) -> str:
    """The bench plan with three content items, all in its task."""
    items = "".join(f'  - {{id: "{k}", text: "{v}"}}\n' for k, v in ITEMS.items())
    text = text.replace("indicators:\n", "content_items:\n" + items + "indicators:\n", 1)
    return text.replace("        indicators: [tin-bai]",
                        "        content_items: [a, b, c]\n        indicators: [tin-bai]")


def form_of(i: int) -> dict:
    """What unit i wrote: the form's three cells, or (one in five) only its report's text."""
    did = {k: f"Đã đăng {7 + i % 40} tin, bài và tổ chức {1 + i % 9} buổi về nội dung {k}; thu hút {30 * (i % 17)} "
              "lượt người tham gia." for k in ITEMS}
    if i % 5 == 0:
        return {"text": "\n".join(f"{n}. {ITEMS[k]}\n{t}" for n, (k, t) in enumerate(did.items(), 1))}
    return {"items": did, "difficulties": "Kinh phí còn hạn chế." if i % 4 == 0 else "",
            "proposals": "Đề nghị tập huấn." if i % 6 == 0 else ""}


if __name__ == "__main__":
    main()
