"""The yearly report as files: the .docx the deputy director signs, a PDF beside it when
LibreOffice is installed, and the email that carries them.

Side effects: `write_report` writes under the output folder and runs LibreOffice;
`report_context` and `report_mail` are pure.
"""
from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import tempfile
from pathlib import Path

from dondoc.render import Templates
from models.period import title_for, with_period
from models.plan import Plan
from models.report import ReportData

BLANK = "\u00a0" * 8   # number and day are written in by the văn thư when the report is signed


def report_context(plan: Plan, data: ReportData, compile_on: dt.date) -> dict:
    month = f"{compile_on.month:02d}" if compile_on.month <= 2 else str(compile_on.month)
    missing = data.counts["overdue"] + data.counts["not_due"]
    groups = [g | {"missing": g["overdue"] + g["not_due"], "bar": _bar(g),
                   "pct": f"{100 * g['on_time'] / g['asked']:.0f}%" if g["asked"] else "–"} for g in data.groups]
    signer = plan.signer
    return {
        "plan": plan.plan.model_copy(update={"title": with_period(plan.plan.title, data.period)}), "issuer": plan.issuer, "year": data.year, "number": BLANK,
        "period_text": data.period.text, "title": title_for(plan.plan.title, data.period),
        "date_line": f"ngày {BLANK} tháng {month} năm {compile_on.year}",
        "items": data.items, "totals": data.totals, "groups": groups,
        "asked": data.asked, "units": data.units, "on_time": data.counts["on_time"], "late": data.counts["late"],
        "missing": missing, "exempt": data.counts["exempt"],
        "pct": {"on_time": data.percent("on_time"), "late": data.percent("late"),
                "missing": f"{100 * missing / data.asked:.1f}%".replace(".", ",") if data.asked else "0%"},
        "late_names": data.late, "missing_names": data.missing, "proposals": plan.plan.proposals,
        "rows": [{"unit_name": r.unit_name, "task_title": r.task_title, "word": r.word,
                  "received": f"{r.received_on:%d/%m/%Y}" if r.received_on else "", "indicators": r.indicators,
                  "files": r.files} for r in data.rows],
        "recipients": [f"- {plan.plan.report_to} (b/c);", *[f"- {r};" for r in plan.plan.letter_recipients],
                       f"- Lưu: VT, {plan.issuer.division}."],
        "signature": {"authority": signer.authority or "", "title": signer.title, "name": signer.name},
    }


def _bar(group: dict, width: int = 30) -> str:
    """A bar drawn with block characters (in Times New Roman and Liberation Serif): it prints
    the same in black and white, as signed documents are."""
    on = round(width * group["on_time"] / group["asked"]) if group["asked"] else 0
    late = min(round(width * group["late"] / group["asked"]), width - on) if group["asked"] else 0
    return "█" * on + "▓" * late + "░" * (width - on - late)


def write_report(plan: Plan, data: ReportData, templates: Templates, compile_on: dt.date, out: Path) -> list[Path]:
    """Write `bao-cao-PLAN-PERIOD.docx` (and `.pdf` when LibreOffice is there) under `out`;
    returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    docx = out / f"bao-cao-{plan.plan.id}-{data.period.label}.docx"
    docx.write_bytes(templates.docx("report").render(report_context(plan, data, compile_on)))
    pdf = to_pdf(docx)
    return [docx] + ([pdf] if pdf else [])


def to_pdf(docx: Path) -> Path | None:
    """Convert with LibreOffice (headless) when it is installed; None when it is not."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if not soffice:
        return None
    with tempfile.TemporaryDirectory(prefix="dondoc-lo-") as profile:
        # a private profile: a second LibreOffice (a user's, or a parallel run) cannot block this one
        subprocess.run([soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf",
                        "--outdir", str(docx.parent), str(docx)], check=True, capture_output=True, timeout=180)
    pdf = docx.with_suffix(".pdf")
    return pdf if pdf.exists() else None


def report_mail_body(plan: Plan, data: ReportData) -> dict:
    """Subject and text of the email that carries the report to the signer."""
    missing = data.counts["overdue"] + data.counts["not_due"]
    reported = data.counts["on_time"] + data.counts["late"]
    lines = [f"Kính gửi: Đồng chí {plan.signer.name}, {plan.signer.title.capitalize()}.", "",
             f"Dự thảo báo cáo kết quả thực hiện {plan.plan.type.lower()} {title_for(plan.plan.title, data.period)} "
             "được gửi kèm để Đồng chí xem xét, ký ban hành.", "",
             f"Đã nhận {reported}/{data.asked} báo cáo ({data.counts['on_time']} đúng hạn, "
             f"{data.counts['late']} trễ hạn); {missing} chưa báo cáo."]
    if data.missing:
        lines += ["", "Các đơn vị chưa báo cáo:", *[f"- {n}" for n in data.missing]]
    if data.late:
        lines += ["", "Các đơn vị báo cáo trễ hạn:", *[f"- {n}" for n in data.late]]
    lines += ["", "Trân trọng,", plan.issuer.division_name, plan.issuer.short_name]
    return {"subject": f"[{plan.plan.id}/{data.period.label}] Dự thảo báo cáo kết quả thực hiện "
                       f"{plan.plan.type.lower()} {data.period.text}", "text": "\n".join(lines) + "\n"}
