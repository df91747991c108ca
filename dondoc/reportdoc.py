"""The yearly report as files: the .docx the deputy director signs, a PDF beside it when
LibreOffice is installed, and the email that carries them.

Side effects: `write_report` writes under the output folder and runs LibreOffice;
`report_context` and `report_mail` are pure.
"""
from __future__ import annotations

import datetime as dt
import io
import re
import shutil
import struct
import subprocess
import tempfile
import textwrap
import zipfile
from collections.abc import Sequence
from pathlib import Path

from jinja2 import Template
from markupsafe import Markup

from dondoc.office import OfficeTimeout, convert, soffice
from dondoc.render import CompiledDocx, Templates, has_listing
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
        "rows": data.rows,   # each: unit_name, task_title, received, word, indicators, files
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


CHART_PARTS = (("on_time", "Đúng hạn", "solid"), ("late", "Trễ hạn", "hatch"), ("missing", "Chưa báo cáo", "dots"))
CHART_FONTS = ("LiberationSerif", "Times New Roman", "DejaVuSerif")   # the first found, regular and bold


def _font(size: int, bold: bool = False):
    from PIL import ImageFont
    for name in CHART_FONTS:
        try:
            return ImageFont.truetype(f"{name}-Bold.ttf" if bold else f"{name}-Regular.ttf", size)
        except OSError:
            try:
                return ImageFont.truetype(f"{name}{' Bold' if bold else ''}.ttf", size)
            except OSError:
                continue
    return ImageFont.load_default(size)


def chart_png(groups: list[dict]) -> bytes:
    """A horizontal bar per group of units, split into reports on time, late and missing as
    shares of those asked, told apart by fill (dark, diagonal hatching, dots) so it reads in
    black and white; the share in each part of 8 % or more, a legend above, the axis in %.
    6.3 inches wide at 200 dpi, drawn with Pillow at twice the size and scaled down (smooth
    lines); Pillow is imported here: only building a report needs it."""
    from PIL import Image, ImageDraw
    k, dpi = 2, 200                                   # drawn at k times the size, then scaled down
    pt = k * dpi / 72                                 # pixels per point
    width, height = int(6.3 * dpi) * k, int((0.9 + 0.55 * len(groups)) * dpi) * k
    font, bold = _font(round(11 * pt)), _font(round(10 * pt), bold=True)
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    line = max(1, round(0.8 * pt))
    names = ["\n".join(textwrap.wrap(g["name"], 28)) for g in groups]
    label_w = max(draw.multiline_textbbox((0, 0), n, font=font)[2] for n in names)
    left, right = round(8 * pt) + label_w + round(10 * pt), width - round(14 * pt)
    top, bottom = round(37 * pt), height - round(44 * pt)
    n = len(groups)
    span = n - 0.4 + 0.1 * (n - 0.4)                  # bars of 0.6 a slot, 5 % margins, as matplotlib's barh
    slot = (bottom - top) / span
    x_of = lambda share: left + (right - left) * share / 100   # noqa: E731

    def fill(box: tuple[int, int, int, int], kind: str) -> None:
        x0, y0, x1, y1 = box
        draw.rectangle(box, fill=(77, 77, 77) if kind == "solid" else "white")
        if kind == "hatch":
            gap = round(5 * pt)
            for d in range(x0 - (y1 - y0), x1, gap):      # 45° lines, clipped to the box by hand
                a, b = (max(d, x0), y1 - max(0, x0 - d)), (min(d + (y1 - y0), x1), y0 + max(0, d + (y1 - y0) - x1))
                draw.line([a, b], fill="black", width=line)
        elif kind == "dots":
            gap, r = round(7 * pt), max(1, round(0.9 * pt))
            for row, y in enumerate(range(y0 + gap // 2, y1 - r, gap // 2 + 1)):
                for x in range(x0 + gap // 2 + (row % 2) * gap // 2, x1 - r, gap):
                    draw.ellipse((x - r, y - r, x + r, y + r), fill="black")
        draw.rectangle(box, outline="black", width=line)

    for i, g in enumerate(groups):
        middle = top + slot * (0.05 * (n - 0.4) + 0.3 + i)
        y0, y1 = round(middle - 0.3 * slot), round(middle + 0.3 * slot)
        draw.multiline_text((left - round(10 * pt), middle), names[i], font=font, fill="black", anchor="rm",
                            align="right")
        draw.line([(left - round(3.5 * pt), middle), (left, middle)], fill="black", width=line)
        at = 0.0
        for key, _, kind in CHART_PARTS:
            share = 100 * g[key] / g["asked"] if g["asked"] else 0
            if share > 0:
                box = (round(x_of(at)), y0, round(x_of(at + share)), y1)
                fill(box, kind)
                if share >= 8:
                    text, centre = f"{share:.0f}%", ((box[0] + box[2]) / 2, middle)
                    if kind != "solid":
                        tb = draw.textbbox(centre, text, font=bold, anchor="mm")
                        draw.rectangle((tb[0] - 4 * k, tb[1] - 4 * k, tb[2] + 4 * k, tb[3] + 4 * k), fill="white")
                    draw.text(centre, text, font=bold, fill="white" if kind == "solid" else "black", anchor="mm")
            at += share
    draw.line([(left, top), (left, bottom)], fill="black", width=line)          # the axes: left and bottom only
    draw.line([(left, bottom), (right, bottom)], fill="black", width=line)
    for tick in range(0, 101, 20):
        x = x_of(tick)
        draw.line([(x, bottom), (x, bottom + round(3.5 * pt))], fill="black", width=line)
        draw.text((x, bottom + round(5 * pt)), str(tick), font=font, fill="black", anchor="ma")
    draw.text(((left + right) / 2, bottom + round(22 * pt)), "Tỷ lệ trên số báo cáo được đề nghị (%)", font=font,
              fill="black", anchor="ma")
    patch_w, patch_h, gap = round(22 * pt), round(8 * pt), round(8 * pt)
    entries = [(kind, label, draw.textbbox((0, 0), label, font=font)[2]) for _, label, kind in CHART_PARTS]
    x = (left + right - sum(patch_w + gap + w for _, _, w in entries) - 2 * round(22 * pt)) / 2
    for kind, label, w in entries:                  # the legend, centred above the bars
        y = round(21 * pt)
        fill((round(x), y - patch_h // 2, round(x) + patch_w, y + patch_h // 2), kind)
        draw.text((x + patch_w + gap, y), label, font=font, fill="black", anchor="lm")
        x += patch_w + gap + w + round(22 * pt)
    buf = io.BytesIO()
    img.resize((width // k, height // k), Image.Resampling.LANCZOS).save(buf, format="PNG", dpi=(dpi, dpi))
    return buf.getvalue()


APPENDIX_APART = 300      # appendix rows above which the appendix is a document of its own
PART_ROWS = 500           # appendix rows per document LibreOffice prints at a time (long tables slow it)
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
    beside each when LibreOffice prints it (a long appendix is printed PART_ROWS rows at a time,
    in one LibreOffice call, and its pages joined with `pdfunite`). A conversion that fails or
    runs out of time never raises: the .docx stays, and `notes` says so."""
    out.mkdir(parents=True, exist_ok=True)
    docx = out / f"bao-cao-{plan.plan.id}-{data.period.label}.docx"
    ctx = report_context(plan, data, compile_on)
    png = chart_png(ctx["groups"]) if ctx["groups"] else None
    parts, xml = _render(templates.docx("report"), ctx | ({"chart": _chart_run(png)} if png else {}))
    if png:
        parts = _with_chart(parts, png)
    appendix = docx.with_name(f"{docx.stem}-phu-luc.docx")
    for stale in (docx.with_suffix(".pdf"), appendix, appendix.with_suffix(".pdf")):   # an earlier build's
        stale.unlink(missing_ok=True)
    if len(data.rows) > APPENDIX_APART:
        report, annex = split_appendix(xml)
        _write_docx(docx, parts, xml, report)
        _write_docx(appendix, parts, xml, annex)
        docs = {docx: [report], appendix: appendix_parts(xml, annex, PART_ROWS)}
    else:
        docs = {docx: [[(0, len(xml))]]}
        _write_docx(docx, parts, xml, docs[docx][0])
    files, notes = list(docs), []
    for path, pieces in docs.items():
        try:
            pdf = to_pdf(path) if len(pieces) < 2 else _parts_to_pdf(path, parts, xml, pieces)
        except PdfFailed as e:
            notes.append(f"Không chuyển được {path.name} sang PDF ({e}); gửi kèm tệp .docx.")
            continue
        files += [pdf] if pdf else []
    return ReportFiles(files, notes)


class Xml:
    """A rendered XML part kept as the big strings Jinja's output was joined into (never one
    list of its millions of fragments, nor one more copy of the whole); positions are offsets
    in the whole text, and `pieces` gives a stretch of it a chunk at a time."""

    def __init__(self, chunks: list[str]):
        self.chunks = chunks
        self.starts = [0]
        for c in chunks:
            self.starts.append(self.starts[-1] + len(c))

    def __len__(self) -> int:
        return self.starts[-1]

    def find(self, needle: str, start: int = 0) -> int:
        """The first offset of `needle` at or after `start`, or -1 (also across two chunks)."""
        for i, c in enumerate(self.chunks):
            if self.starts[i + 1] <= start:
                continue
            at = c.find(needle, max(0, start - self.starts[i]))
            if at >= 0:
                return self.starts[i] + at
            if i + 1 < len(self.chunks):   # straddling the boundary
                tail = self.starts[i + 1] - len(needle) + 1
                lo = max(start, tail)
                at = self.text(lo, lo + 2 * len(needle)).find(needle)
                if at >= 0:
                    return lo + at
        return -1

    def rfind(self, needle: str) -> int:
        """The last offset of `needle`, or -1."""
        found, at = -1, self.find(needle)
        while at >= 0:
            found, at = at, self.find(needle, at + 1)
        return found

    def text(self, start: int, end: int) -> str:
        """The text between two offsets (a copy: for short stretches)."""
        return "".join(self.pieces((start, end)))

    def pieces(self, span: tuple[int, int]) -> list[str]:
        start, end = span
        out = []
        for i, c in enumerate(self.chunks):
            a, b = max(start, self.starts[i]), min(end, self.starts[i + 1])
            if a < b:
                out.append(c[a - self.starts[i]:b - self.starts[i]])
        return out


Doc = list   # a document's body to write: literal strings and (start, end) stretches of an Xml, in order
_BODY = "word/document.xml"


def _render(compiled: CompiledDocx, ctx: dict) -> tuple[dict[str, bytes], Xml]:
    """The template filled in: its parts (the body's bytes left empty, in its place) and the
    body rendered into an Xml. Values with line breaks or tabs become Word's breaks as
    `CompiledDocx.render` makes them."""
    parts: dict[str, bytes] = {}
    body = None
    with zipfile.ZipFile(compiled.path) as z:
        for name, part in compiled.parts:
            if name == _BODY and isinstance(part, Template):
                chunks, batch = [], []
                for s in part.generate(ctx):
                    batch.append(s)
                    if len(batch) == 20_000:
                        chunks.append("".join(batch))
                        batch.clear()
                chunks.append("".join(batch))
                if any(has_listing(c, None if i == 0 else 0) for i, c in enumerate(chunks)):
                    chunks = [compiled.resolved("".join(chunks))]
                body, parts[name] = Xml(chunks), b""
            elif isinstance(part, Template):
                parts[name] = compiled.resolved(part.render(ctx)).encode("utf-8")
            else:
                parts[name] = z.read(name)
    assert body is not None, "the report template has no word/document.xml"
    return parts, body


_CHART = "rIdDondocChart"   # the chart picture's relationship in the report's document part


_NS = {"wp": "drawingml/2006/wordprocessingDrawing", "a": "drawingml/2006/main", "pic": "drawingml/2006/picture",
       "r": "officeDocument/2006/relationships"}
_INLINE = (  # the inline picture python-docx's CT_Inline.new_pic_inline writes, on one line
    "<wp:inline " + " ".join(f'xmlns:{k}="http://schemas.openxmlformats.org/{v}"' for k, v in _NS.items()) + ">"
    '<wp:extent cx="{cx}" cy="{cy}"/><wp:docPr id="1" name="Picture 1"/><wp:cNvGraphicFramePr>'
    '<a:graphicFrameLocks noChangeAspect="1"/></wp:cNvGraphicFramePr><a:graphic>'
    '<a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/picture"><pic:pic><pic:nvPicPr>'
    '<pic:cNvPr id="0" name="chart.png"/><pic:cNvPicPr/></pic:nvPicPr><pic:blipFill><a:blip r:embed="{rel}"/>'
    '<a:stretch><a:fillRect/></a:stretch></pic:blipFill><pic:spPr><a:xfrm><a:off x="0" y="0"/>'
    '<a:ext cx="{cx}" cy="{cy}"/></a:xfrm><a:prstGeom prst="rect"/></pic:spPr></pic:pic></a:graphicData>'
    "</a:graphic></wp:inline>")


def _chart_run(png: bytes) -> Markup:
    """The chart as the template's `{{ chart }}` shows it: a run holding the picture, 160 mm
    wide, related as _CHART (the markup docxtpl's InlineImage writes, on one line: a line
    break in the body would send all of it through docxtpl's slow listing pass)."""
    w, h = struct.unpack(">II", png[16:24])          # the PNG's IHDR: width and height in pixels
    cx = 160 * 36_000                                # 160 mm in EMU
    pic = _INLINE.format(cx=cx, cy=cx * h // w, rel=_CHART)
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


def split_appendix(xml: Xml) -> tuple[Doc, Doc]:
    """The rendered report's body as two documents: the report (its own portrait section, with
    its page-number header) and the appendix (its landscape section), cut at the body's last
    section break, which the template puts between them (values are escaped, so no value can
    hold one)."""
    end = xml.rfind(_BREAK_END)
    head = xml.text(0, 4096)
    body = re.search(r"<w:body\b[^>]*>", head)
    sect = -1
    at = xml.find("<w:sectPr", 0)
    while 0 <= at < end:
        sect, at = at, xml.find("<w:sectPr", at + 1)
    assert body is not None and body.end() < sect, "the report template has no section break"
    # the break's paragraph stays, without its section, which becomes the document's own
    report = [(0, sect), "</w:pPr></w:p>", (sect, end), "</w:sectPr></w:body></w:document>"]
    return report, [(0, body.end()), (end + len(_BREAK_END), len(xml))]


def appendix_parts(xml: Xml, appendix: Doc, rows: int) -> list[Doc]:
    """The appendix (see `split_appendix`) as documents of at most `rows` table rows each, in
    order, for printing: the first with the appendix's title, every one with the table's header
    row (repeated on each page) and the appendix's landscape section."""
    (_, body), (start, end) = appendix
    tbl = xml.find("<w:tbl>", start)
    rows_at = []
    at = xml.find("<w:tr>", tbl)
    close = xml.find("</w:tbl>", tbl)
    while 0 <= at < close:
        rows_at.append(at)
        at = xml.find("<w:tr>", at + 1)
    cuts = rows_at[1::rows][1:] + [close]    # the header row is rows_at[0]
    out, first = [], rows_at[1] if len(rows_at) > 1 else close
    for i, cut in enumerate(cuts):
        lead = [(0, body), (start, cut)] if i == 0 else [(0, body), (tbl, rows_at[1]), (first, cut)]
        out.append(lead + [(close, end)])
        first = cut
    return out


def _write_docx(path: Path, parts: dict[str, bytes], xml: Xml, doc: Doc) -> None:
    """Write a .docx of `parts` with `doc` (stretches of `xml`) as its body, encoded a MB at a time."""
    step = 1 << 20
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name, data in parts.items():
            if name != _BODY:
                z.writestr(name, data)
                continue
            with z.open(_BODY, "w") as f:
                for piece in doc:
                    for s in ([piece] if isinstance(piece, str) else xml.pieces(piece)):
                        for i in range(0, len(s), step):
                            f.write(s[i:i + step].encode("utf-8"))


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


def _parts_to_pdf(docx: Path, parts: dict[str, bytes], xml: Xml, docs: list[Doc]) -> Path | None:
    """Print the document `docx` as the documents `docs` (stretches of `xml`, with `parts`), in
    ONE LibreOffice call, and join their pages with `pdfunite` into the PDF beside `docx`; None
    when LibreOffice is not installed. Its time: PDF_SECONDS for all of them together. Raises
    PdfFailed when any of them does not print or the pages cannot be joined."""
    if not soffice():
        return None
    unite = shutil.which("pdfunite")
    if not unite:
        raise PdfFailed("thiếu pdfunite (poppler-utils) để ghép các phần")
    with tempfile.TemporaryDirectory(prefix="dondoc-parts-") as tmp:
        files = [Path(tmp) / f"{docx.stem}-{i:03d}.docx" for i in range(1, len(docs) + 1)]
        for f, doc in zip(files, docs, strict=True):
            _write_docx(f, parts, xml, doc)
        timeout = PDF_SECONDS[0] + sum(pdf_timeout(f) - PDF_SECONDS[0] for f in files)
        try:
            pdfs = convert(files, "pdf", timeout)
        except OfficeTimeout as e:
            raise PdfFailed(str(e)) from None
        if not all(pdfs.values()):
            raise PdfFailed("LibreOffice không tạo ra tệp PDF")
        pdf = docx.with_suffix(".pdf")
        done = subprocess.run([unite, *map(str, pdfs.values()), str(pdf)], capture_output=True, timeout=120)
        if done.returncode:
            pdf.unlink(missing_ok=True)
            raise PdfFailed("không ghép được các phần PDF")
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
