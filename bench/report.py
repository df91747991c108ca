"""Benchmark: the report of a period, from a ledger of N units, as the report flow builds it.

    .venv/bin/python bench/report.py [--sizes 1000 5000 10000 20000] [--pdf] [--before DIR]

For each size a ledger is made (every unit asked, two in three reported, with their own text
for each of the plan's three content items and an indicator; one in five only as a report's
text), then a new process builds the report as `flows/report.py` does, the plan from its cache:
read the plan and the ledger, compile, render and write the .docx (the appendix apart when it
is large). Printed: its wall and CPU time and peak memory; in the same run, the baseline:
docxtpl's own `DocxTemplate.render()` of the same template and context (in that process), and
with `--before DIR` (another checkout, e.g. `git archive main | tar -x -C DIR`) that code's
figures on the same ledger. `--pdf`: LibreOffice's time for the report's PDF (appendix apart)
and for the appendix (printed in parts, joined with pdfunite), beside the floor (LibreOffice printing a
one-paragraph page) and, up to `--whole-up-to` units, the whole appendix printed as one document.
Targets: the report from a 10,000-unit ledger under 2 s, its PDF (appendix apart) under 60 s,
under 300 MB at 20,000 units.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from dispatch import plan_yaml  # noqa: E402

TODAY = dt.date(2026, 12, 25)
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


def make_ledger(work: Path, n: int) -> None:
    """`work/units.yaml` (n units) and `work/l.db`: every unit asked, two in three reported."""
    sys.path.insert(0, str(ROOT))
    from dondoc.ledger import Ledger
    from models.loader import parse_plan
    from models.rules import due_actions
    (work / "units.yaml").write_text(with_items(plan_yaml(n)), encoding="utf-8")
    plan = parse_plan((work / "units.yaml").read_text(encoding="utf-8"))
    led = Ledger(work / "l.db")
    day = dt.date(2026, 11, 5)
    led.record_actions(due_actions(plan, led.state(plan.plan.id), day), day, "x.example")
    for i, u in enumerate(plan.units):
        if i % 3:
            led.record_report(plan.plan.id, "2026", "bao-cao-nam", u.id, dt.date(2026, 12, 1 + i % 9), source="email",
                              files=[f"/data/{u.id}/bao-cao.docx"], indicators={"tin-bai": 7}, form=form_of(i),
                              note="Kính gửi Sở, đơn vị gửi báo cáo.")


def child(work: Path, pdf: bool) -> None:
    """Build the report as the flow does (no mail) and print the figures as JSON: without `pdf`,
    no PDF, its time, CPU and peak memory, then docxtpl's render of the same context (after the
    peak is read); with `pdf`, LibreOffice's time for each document (the appendix in parts, as
    write_report prints it), by name."""
    import io
    sys.path.insert(0, os.getcwd())   # the code under test (run_child's cwd), before the bench's own (dispatch adds it)
    wall, cpu = time.perf_counter(), time.process_time()
    from dondoc import reportdoc
    from dondoc.ledger import Ledger
    from dondoc.plancache import read_plan
    from dondoc.render import Templates
    from models.calendar import BusinessCalendar
    from models.period import parse_label
    from models.report import compile_report
    pdfs: dict[str, str] = {}
    if pdf:
        for name in ("to_pdf", "_parts_to_pdf"):
            if hasattr(reportdoc, name):
                setattr(reportdoc, name, timed(getattr(reportdoc, name), pdfs))
    else:
        reportdoc.to_pdf = lambda *a, **k: None     # timed apart
        reportdoc.soffice = lambda: None
    plan = read_plan(work / "units.yaml")
    led = Ledger(work / "l.db")
    state, reports = led.state(plan.plan.id), getattr(led, "report_rows", led.reports)(plan.plan.id)
    data = compile_report(plan, state, reports, TODAY, parse_label("2026"), BusinessCalendar(plan.calendar))
    files = reportdoc.write_report(plan, data, Templates(), TODAY, work / "out")
    ours, mb = (time.perf_counter() - wall, time.process_time() - cpu), peak_mb()
    if pdf:
        print(json.dumps({"pdfs": pdfs, "notes": files.notes}, ensure_ascii=False))
        return
    from docxtpl import DocxTemplate
    from jinja2 import Environment
    ctx = reportdoc.report_context(plan, data, TODAY)
    start = time.perf_counter()
    tpl = DocxTemplate(str(ROOT / "templates" / "docx" / "report.docx"))
    tpl.render(ctx, Environment(autoescape=True))
    tpl.save(io.BytesIO())
    print(json.dumps({"wall": ours[0], "cpu": ours[1], "docxtpl": time.perf_counter() - start, "mb": mb,
                      "files": [str(f) for f in files], "kb": sum(Path(f).stat().st_size for f in files) // 1024}))


def timed(convert, into: dict):
    """`convert` (to_pdf or _parts_to_pdf), its wall time put in `into` under the document's
    name, or how it failed."""
    def run(docx: Path, *args, **kwargs):
        start = time.perf_counter()
        try:
            out = convert(docx, *args, **kwargs)
        except Exception as e:
            into[docx.name] = f"docx ({e})"
            raise
        into[docx.name] = f"{time.perf_counter() - start:.1f}" + (f", {len(args[2])} parts" if args else "")
        return out
    return run


def peak_mb() -> float:
    """This process's peak memory since its exec (getrusage would count its parent's size at the fork)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


def run_child(work: Path, code: Path, pdf: bool = False) -> dict:
    """The report built by the code at `code` (its plan cache warmed first)."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    plan = str(work / "units.yaml")
    warm = f"from pathlib import Path; from dondoc.plancache import read_plan; read_plan(Path({plan!r}))"
    subprocess.run([sys.executable, "-c", warm], env=env, cwd=code, check=True)
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", str(work)] + ["--pdf"] * pdf,
                         env=env, cwd=code, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.splitlines()[-1])


def whole_pdf(docx: Path, limit: float) -> str:
    """LibreOffice's time for the whole appendix in one document (as before the parts), or why not."""
    from dondoc.reportdoc import PdfFailed, to_pdf
    start = time.perf_counter()
    try:
        to_pdf(docx, limit)
    except PdfFailed as e:
        return f"docx ({e})"
    return f"{time.perf_counter() - start:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 10000, 20000])
    ap.add_argument("--pdf", action="store_true", help="also time LibreOffice's conversions")
    ap.add_argument("--whole-up-to", type=int, default=1000,
                    help="with --pdf: time the whole appendix in one document up to this many units")
    ap.add_argument("--before", type=Path, help="another checkout to run on the same ledgers")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.pdf)
    sys.path.insert(0, str(ROOT))
    print(f"{'units':>6} {'wall s':>7} {'CPU s':>6} {'peak MB':>8} {'docx KB':>8} {'docxtpl s':>10} {'load':>5}"
          + (f" {'before wall s':>14} {'before CPU s':>13} {'before MB':>10}" if args.before else ""))
    pdfs = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="dondoc-bench-") as tmp:
            make_ledger(Path(tmp), n)
            load = os.getloadavg()[0]
            r = run_child(Path(tmp), ROOT)
            line = (f"{n:>6} {r['wall']:>7.2f} {r['cpu']:>6.2f} {r['mb']:>8.0f} {r['kb']:>8} {r['docxtpl']:>10.2f}"
                    f" {load:>5.1f}")
            if args.before:
                b = run_child(Path(tmp), args.before.resolve())
                line += f" {b['wall']:>14.2f} {b['cpu']:>13.2f} {b['mb']:>10.0f}"
            print(line, flush=True)
            if args.pdf:
                load = os.getloadavg()[0]
                got = run_child(Path(tmp), ROOT, pdf=True)["pdfs"]
                report, appendix = sorted(got, key=len)[0], sorted(got, key=len)[-1]
                whole = "not timed"
                if n <= args.whole_up_to and appendix != report:
                    from dondoc.reportdoc import pdf_timeout
                    docx = Path(tmp) / "out" / appendix
                    whole = whole_pdf(docx, pdf_timeout(docx))
                pdfs.append((n, got[report], got[appendix] if appendix != report else "-", whole, load))
    print("targets: the report from a 10,000-unit ledger under 2 s; under 300 MB at 20,000 units")
    if args.pdf:
        from docx import Document

        from dondoc.reportdoc import to_pdf
        with tempfile.TemporaryDirectory() as tmp:
            letter = Path(tmp) / "letter.docx"
            page = Document()
            page.add_paragraph("Kính gửi: các đơn vị.")
            page.save(str(letter))
            start = time.perf_counter()
            to_pdf(letter)
            floor = time.perf_counter() - start
        print(f"{'units':>6} {'report PDF s':>13} {'appendix PDF (in parts) s':>26} {'whole appendix s':>17}"
              f" {'floor s':>8} {'load':>5}")
        for n, report, appendix, whole, load in pdfs:
            print(f"{n:>6} {report:>13} {appendix:>26} {whole:>17} {floor:>8.1f} {load:>5.1f}")
        print("target: the report's PDF (appendix apart) under 60 s at 10,000 units; the appendix a PDF at any size")


if __name__ == "__main__":
    main()
