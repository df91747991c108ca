"""The yearly report as files: the .docx the deputy director signs, a PDF beside it when
LibreOffice is installed, and the email that carries them.

Side effects: `write_report` writes under the output folder and runs LibreOffice;
`report_context` and `report_mail` are pure.
"""
from __future__ import annotations

import datetime as dt
import io
import re
import struct
import textwrap
import zipfile
from collections.abc import Sequence
from pathlib import Path

from docx.shared import Emu, Mm
from markupsafe import Markup

from dondoc.office import OfficeTimeout, convert, soffice
from dondoc.render import Templates
from models.period import title_for, with_period
from models.plan import Plan
from models.report import ReportData

BLANK = "\u00a0" * 8   # number and day are written in by the văn thư when the report is signed


def report_context(plan: Plan, data: ReportData, compile_on: dt.date) -> dict:
    month = f"{compile_on.month:02d}" if compile_on.month <= 2 else str(compile_on.month)
    missing = data.counts["overdue"] + data.counts["not_due"]
    groups = [g | {"missing": g["overdue"] + g["not_due"],
                   "pct": f"{100 * g['on_time'] / g['asked']:.0f}%" if g["asked"] else "–"} for g in data.groups]
    signer = plan.signer
    return {
        "plan": plan.plan.model_copy(update={"title": with_period(plan.plan.title, data.period)}),
        "issuer": plan.issuer, "year": data.year, "number": BLANK,
        "period_text": data.period.text, "title": title_for(plan.plan.title, data.period),
        "date_line": f"ngày {BLANK} tháng {month} năm {compile_on.year}",
        "items": data.items, "totals": data.totals, "groups": groups,
        "asked": data.asked, "units": data.units, "on_time": data.counts["on_time"], "late": data.counts["late"],
        "missing": missing, "exempt": data.counts["exempt"],
        "pct": {"on_time": data.percent("on_time"), "late": data.percent("late"),
                "missing": f"{100 * missing / data.asked:.1f}%".replace(".", ",") if data.asked else "0%"},
        "parts": [p | {"asked": sum(p[k] for k in ("on_time", "late", "overdue", "not_due")),
                       "missing": p["overdue"] + p["not_due"]} for p in data.parts],
        "late_names": data.late, "missing_names": data.missing, "proposals": plan.plan.proposals,
        "total_tables": total_tables(data.totals), "estimated": any(t.get("estimates") for t in data.totals),
        "untracked": data.untracked, "untracked_when": "năm nay" if data.period.kind == "year" else "kỳ này",
        "early": data.counts.get("early", 0), "early_names": data.early,
        "difficulties": data.difficulties, "unit_proposals": data.proposals,
        "rows": [{"unit_name": r.unit_name, "task_title": r.task_title, "word": r.word,
                  "received": f"{r.received_on:%d/%m/%Y}" if r.received_on else "", "indicators": r.indicators,
                  "files": r.files} for r in data.rows],
        "recipients": [f"- {plan.plan.report_to} (b/c);", *[f"- {r};" for r in plan.plan.letter_recipients],
                       f"- Lưu: VT, {plan.issuer.division}."],
        "signature": {"authority": signer.authority or "", "title": signer.title, "name": signer.name},
    }


def total_tables(totals: list[dict]) -> list[dict]:
    """The totals as one table per task, lettered a), b), …, in the plan's task order."""
    out: list[dict] = []
    for t in totals:
        if not out or out[-1]["task"] != t["task"]:
            out.append({"letter": "abcdefghiklmnopqrstuvxy"[len(out) % 23], "task": t["task"], "rows": []})
        out[-1]["rows"].append(t)
    return out


CHART_PARTS = (("on_time", "Đúng hạn", "0.3", ""), ("late", "Trễ hạn", "white", "////"),
               ("missing", "Chưa báo cáo", "white", ".."))


def chart_png(groups: list[dict]) -> bytes:
    """A horizontal bar per group of units, split into reports on time, late and missing as
    shares of those asked, told apart by fill and hatching so it reads in black and white.
    Imports matplotlib (Agg backend) here: only building a report needs it."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"font.family": "serif", "hatch.linewidth": 0.8, "font.size": 11,
                                "font.serif": ["Times New Roman", "Liberation Serif", "DejaVu Serif"]}):
        fig = Figure(figsize=(6.3, 0.9 + 0.55 * len(groups)), dpi=200)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        names = ["\n".join(textwrap.wrap(g["name"], 28)) for g in groups][::-1]
        left = [0.0] * len(groups)
        for key, label, face, hatch in CHART_PARTS:
            share = [100 * g[key] / g["asked"] if g["asked"] else 0 for g in groups][::-1]
            bars = ax.barh(names, share, left=left, color=face, edgecolor="black", hatch=hatch, linewidth=0.8,
                           label=label, height=0.6)
            for bar, value in zip(bars, share, strict=True):
                if value >= 8:
                    ax.text(bar.get_x() + bar.get_width() / 2, bar.get_y() + bar.get_height() / 2, f"{value:.0f}%",
                            ha="center", va="center", fontsize=10, fontweight="bold",
                            color="white" if face != "white" else "black",
                            bbox=None if face != "white" else {"facecolor": "white", "edgecolor": "none", "pad": 1.5})
            left = [a + b for a, b in zip(left, share, strict=True)]
        ax.set_xlim(0, 100)
        ax.set_xlabel("Tỷ lệ trên số báo cáo được đề nghị (%)")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    return buf.getvalue()


APPENDIX_APART = 300      # appendix rows above which the appendix is a document of its own
PDF_SECONDS = (60.0, 20.0)   # LibreOffice's time: this many seconds, plus this many per MB of document XML


class ReportFiles(list):
    """The files written, the report's .docx first; `notes`: one Vietnamese line for each
    document that stayed a .docx because it could not be printed to PDF."""

    def __init__(self, files: list[Path], notes: list[str]):
        super().__init__(files)
        self.notes = notes


def write_report(plan: Plan, data: ReportData, templates: Templates, compile_on: dt.date, out: Path) -> ReportFiles:
    """Write `bao-cao-PLAN-PERIOD.docx` under `out`, with its appendix apart as
    `bao-cao-PLAN-PERIOD-phu-luc.docx` when it has more than APPENDIX_APART rows, and a .pdf
    beside each when LibreOffice prints it. A conversion that fails or runs out of time never
    raises: the .docx stays, and `notes` says so."""
    out.mkdir(parents=True, exist_ok=True)
    docx = out / f"bao-cao-{plan.plan.id}-{data.period.label}.docx"
    ctx = report_context(plan, data, compile_on)
    png = chart_png(ctx["groups"]) if ctx["groups"] else None
    parts = _unzipped(templates.docx("report").render(ctx | ({"chart": _chart_run(png)} if png else {})))
    if png:
        parts = _with_chart(parts, png)
    appendix = docx.with_name(f"{docx.stem}-phu-luc.docx")
    for stale in (docx.with_suffix(".pdf"), appendix, appendix.with_suffix(".pdf")):   # an earlier build's
        stale.unlink(missing_ok=True)
    docs = {docx: parts}
    if len(ctx["rows"]) > APPENDIX_APART:
        docs = dict(zip((docx, appendix), split_appendix(parts), strict=True))
    for path, content in docs.items():
        path.write_bytes(_zipped(content))
    files, notes = list(docs), []
    for path in docs:
        try:
            pdf = to_pdf(path)
        except PdfFailed as e:
            notes.append(f"Không chuyển được {path.name} sang PDF ({e}); gửi kèm tệp .docx.")
            continue
        files += [pdf] if pdf else []
    return ReportFiles(files, notes)


_CHART = "rIdDondocChart"   # the chart picture's relationship in the report's document part


def _chart_run(png: bytes) -> Markup:
    """The chart as the template's `{{ chart }}` shows it: a run holding the picture, 160 mm
    wide, related as _CHART (the markup docxtpl's InlineImage writes, without docxtpl's own,
    much slower, rendering)."""
    from docx.oxml.shape import CT_Inline
    w, h = struct.unpack(">II", png[16:24])          # the PNG's IHDR: width and height in pixels
    cx = Mm(160)
    pic = CT_Inline.new_pic_inline(1, _CHART, "chart.png", cx, Emu(int(cx * h / w))).xml
    return Markup(f'</w:t></w:r><w:r><w:drawing>{pic}</w:drawing></w:r><w:r><w:t xml:space="preserve">')


def _with_chart(parts: dict[str, bytes], png: bytes) -> dict[str, bytes]:
    """The document's parts with the chart's picture added, related to the document as _CHART."""
    rel = (f'<Relationship Id="{_CHART}" Target="media/dondoc-chart.png" '
           'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/image"/>')
    rels = parts["word/_rels/document.xml.rels"].decode("utf-8").replace("</Relationships>", rel + "</Relationships>")
    types = parts["[Content_Types].xml"].decode("utf-8")
    if 'Extension="png"' not in types:
        types = types.replace("</Types>", '<Default Extension="png" ContentType="image/png"/></Types>')
    return parts | {"word/_rels/document.xml.rels": rels.encode("utf-8"), "[Content_Types].xml": types.encode("utf-8"),
                    "word/media/dondoc-chart.png": png}


_BREAK_END = "</w:sectPr></w:pPr></w:p>"


def split_appendix(parts: dict[str, bytes]) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The rendered report's parts as two documents: the report (its own portrait section, with
    its page-number header) and the appendix (its landscape section), cut at the body's last
    section break, which the template puts between them (values are escaped, so no value can
    hold one). Every other part is copied unchanged."""
    xml = parts["word/document.xml"].decode("utf-8")
    body = re.search(r"<w:body\b[^>]*>", xml)
    end = xml.rindex(_BREAK_END)
    sect = xml.rindex("<w:sectPr", 0, end)
    assert body is not None and body.end() < sect, "the report template has no section break"
    # the break's paragraph stays, without its section, which becomes the document's own
    report = xml[:sect] + "</w:pPr></w:p>" + xml[sect:end] + "</w:sectPr></w:body></w:document>"
    appendix = xml[:body.end()] + xml[end + len(_BREAK_END):]
    return ({**parts, "word/document.xml": report.encode("utf-8")},
            {**parts, "word/document.xml": appendix.encode("utf-8")})


def _unzipped(docx: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(docx)) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def _zipped(parts: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return buf.getvalue()


class PdfFailed(Exception):
    """LibreOffice did not print the document; the message says why, in Vietnamese."""


def pdf_timeout(docx: Path) -> float:
    """Seconds LibreOffice gets for `docx`: PDF_SECONDS, by the size of its document XML."""
    with zipfile.ZipFile(docx) as z:
        size = z.getinfo("word/document.xml").file_size
    return PDF_SECONDS[0] + PDF_SECONDS[1] * size / 1_048_576


def to_pdf(docx: Path, timeout: float | None = None) -> Path | None:
    """Print `docx` to a PDF beside it with LibreOffice; None when LibreOffice is not installed.
    Raises PdfFailed when it fails or is still at work after `timeout` seconds (default
    `pdf_timeout`; then it is killed)."""
    if not soffice():
        return None
    try:
        pdf = convert([docx], "pdf", pdf_timeout(docx) if timeout is None else timeout)[docx]
    except OfficeTimeout as e:
        raise PdfFailed(str(e)) from None
    if pdf is None:
        raise PdfFailed("LibreOffice không tạo ra tệp PDF")
    return pdf


def report_mail_body(plan: Plan, data: ReportData, notes: Sequence[str] = ()) -> dict:
    """Subject and text of the email that carries the report to the signer; `notes` (documents
    left as .docx, see `write_report`) come right after the figures."""
    missing = data.counts["overdue"] + data.counts["not_due"]
    reported = data.counts["on_time"] + data.counts["late"]
    lines = [f"Kính gửi: Đồng chí {plan.signer.name}, {plan.signer.title.capitalize()}.", "",
             f"Dự thảo báo cáo kết quả thực hiện {plan.plan.type.lower()} {title_for(plan.plan.title, data.period)} "
             "được gửi kèm để Đồng chí xem xét, ký ban hành.", "",
             f"Đã nhận {reported}/{data.asked} báo cáo ({data.counts['on_time']} đúng hạn, "
             f"{data.counts['late']} trễ hạn); {missing} chưa báo cáo."]
    lines += ["", *notes] if notes else []
    if data.missing:
        lines += ["", "Các đơn vị chưa báo cáo:", *[f"- {n}" for n in data.missing]]
    if data.late:
        lines += ["", "Các đơn vị báo cáo trễ hạn:", *[f"- {n}" for n in data.late]]
    lines += ["", "Trân trọng,", plan.issuer.division_name, plan.issuer.short_name]
    return {"subject": f"[{plan.plan.id}/{data.period.label}] Dự thảo báo cáo kết quả thực hiện "
                       f"{plan.plan.type.lower()} {data.period.text}", "text": "\n".join(lines) + "\n"}
