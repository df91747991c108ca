"""Check a .docx against the layout rules of Decree 30/2020 (../shared/FORMAT-ND30.md).

Side effect: reads the file. `check(path)` returns the breaches, each a sentence naming
what is wrong and where; an empty list means the document passes. `check_pdf(paths)` also
prints the documents (LibreOffice, one call) and checks what only pagination shows;
`check_files(paths, pdf)` runs both, as `dondoc check-format [--pdf]` does.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from docx import Document
from docx.oxml.ns import qn
from docx.shared import Mm

FONT = "Times New Roman"
DATE = re.compile(r"ngày\s*(\d*)\s+tháng\s+(\d*)\s*năm\s+(\d{4})")   # a draft leaves the day blank
NUMBER = re.compile(r"\b([Ss]ố:?\s*)(\d)/(?=[A-ZĐ0-9])")   # "Số: 5/STTTT-…", "số 5/STTTT-…"
MARGINS = {"top": (20, 25), "bottom": (20, 25), "left": (30, 35), "right": (15, 20)}


# Words an agency name may break before: the conjunction, and the level of a parent body.
_BREAK_BEFORE = {"VÀ", "TỈNH", "THÀNH", "HUYỆN", "QUẬN", "XÃ"}
HEADER_CHARS = 28   # what the header's left column holds on one line (12 pt bold caps)


def phrase_cuts(name: str) -> list[int]:
    """Word indexes before which an agency name may break: before "VÀ" or a level word ("TỈNH", …),
    after a comma or a dash; never leaving one word alone on a line."""
    words = name.split()
    return [i for i in range(2, len(words) - 1)
            if words[i].upper() in _BREAK_BEFORE or words[i - 1].endswith((",", ";")) or words[i - 1] == "-"]


def phrase_lines(name: str, width: int = HEADER_CHARS) -> str:
    """`name` as it should stand in the header: unchanged when it fits in `width` characters,
    else cut into lines (joined by "\n") at the phrase boundary that balances them best."""
    name = " ".join(str(name).split())
    cuts = phrase_cuts(name)
    if len(name) <= width or not cuts:
        return name
    words = name.split()
    best = min(cuts, key=lambda i: max(len(" ".join(words[:i])), len(" ".join(words[i:]))))
    return "\n".join(phrase_lines(" ".join(part), width) for part in (words[:best], words[best:]))


def _mm(length) -> float:
    return round(length / Mm(1), 1)


def _style_value(style, attr):
    while style is not None:
        value = getattr(style.font, attr)
        if value is not None:
            return value
        style = style.base_style
    return None


def _defaults_font(doc) -> str | None:
    fonts = doc.styles.element.find(f"{qn('w:docDefaults')}/{qn('w:rPrDefault')}/{qn('w:rPr')}/{qn('w:rFonts')}")
    return fonts.get(qn("w:ascii")) if fonts is not None else None


def _paragraphs(doc):
    """Every paragraph: body, table cells (nested too), headers and footers."""
    def walk(container):
        yield from container.paragraphs
        for table in getattr(container, "tables", []):
            for row in table.rows:
                for cell in row.cells:
                    yield from walk(cell)
    yield from walk(doc)
    for section in doc.sections:
        for part in (section.header, section.first_page_header, section.footer):
            if part.is_linked_to_previous:
                continue
            yield from walk(part)


def check(path: str | Path) -> list[str]:
    doc = Document(str(path))
    breaches: list[str] = []
    for i, sec in enumerate(doc.sections, 1):
        w, h = _mm(sec.page_width), _mm(sec.page_height)
        if (w, h) != (210.0, 297.0) and (h, w) != (210.0, 297.0):
            breaches.append(f"section {i}: paper {w} × {h} mm, not A4 (210 × 297 mm)")
        for side, (lo, hi) in MARGINS.items():
            value = _mm(getattr(sec, f"{side}_margin"))
            if not lo <= value <= hi:
                breaches.append(f"section {i}: {side} margin {value} mm, must be {lo}–{hi} mm")
    default_font = _defaults_font(doc)
    fonts, dates = set(), []
    for p in _paragraphs(doc):
        text = p.text
        for m in DATE.finditer(text):
            dates.append((m, p))
        for run in p.runs:
            if not run.text.strip():
                continue
            name = run.font.name or _style_value(p.style, "name") or default_font
            fonts.add(name)
            size = run.font.size or _style_value(p.style, "size")
            if size is not None and not 11 <= size.pt <= 14:
                breaches.append(f"“{run.text[:40]}”: size {size.pt:g} pt, outside 11–14 pt")
            color = run.font.color
            if color is not None and color.type is not None and color.rgb not in (None, "000000"):
                breaches.append(f"“{run.text[:40]}”: coloured text ({color.rgb}), must be black")
    if fonts - {FONT}:
        breaches.append(f"font {', '.join(sorted(map(str, fonts - {FONT})))} used; one face only: {FONT}")
    for m, p in dates:
        day, month = m[1], m[2]
        if day and (len(day) != 2 or int(day) > 31):
            breaches.append(f"date “{m[0]}”: the day takes two digits (ngày 05, not ngày {int(day)})")
        if month.isdigit():
            want = f"{int(month):02d}" if int(month) <= 2 else str(int(month))
            if month != want:
                breaches.append(f"date “{m[0]}”: the month is written “tháng {want}”")
        italic = all((r.font.italic if r.font.italic is not None else _style_value(p.style, "italic"))
                     for r in p.runs if r.text.strip())
        if not italic:
            breaches.append(f"date line “{p.text.strip()[:60]}”: must be italic")
    full = "\n".join(p.text for p in _paragraphs(doc))
    for m in NUMBER.finditer(full):
        breaches.append(f"number “{m[0]}”: a number under 10 takes a leading 0 ({m[1]}0{m[2]}/…)")
    breaches += _signer_named(doc)
    for must in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc"):
        if must not in full:
            breaches.append(f"missing “{must}”")
    if not re.search(r"^Số:", full, re.M):
        breaches.append("missing the number line “Số: …”")
    if not dates:
        breaches.append("missing the place and date line (“…, ngày … tháng … năm …”)")
    return breaches


def _signer_named(doc) -> list[str]:
    """The signature block (the last two-column table after the header) ends with the signer's
    name, not with the title: a document signed by nobody cannot be signed."""
    tables = [t for t in doc.tables if len(t.columns) == 2]
    if len(tables) < 2:
        return []
    lines = [_norm(p.text) for p in tables[-1].cell(0, 1).paragraphs if p.text.strip()]
    if lines and (len(lines) < 2 or lines[-1] == lines[-1].upper()):
        return [f"signature: no signer's name under “{lines[-1]}”"]
    return []


# -- what only the printed page shows: convert with LibreOffice, read each page with pdftotext --

class CheckError(Exception):
    """A file or a tool the check cannot work with; the message is one line for a clerk."""


@dataclass(frozen=True)
class Line:
    x0: float
    y0: float
    x1: float
    y1: float
    text: str
    block: int   # lines of one block (one column of one paragraph run) share this number


@dataclass(frozen=True)
class Page:
    width: float    # points
    height: float
    lines: list[Line]

    @property
    def text(self) -> str:
        """The words of the page in reading order, one space between them."""
        return " ".join(ln.text for ln in self.lines)

    @property
    def top(self) -> str:
        """The topmost line (where the page number stands)."""
        return min(self.lines, key=lambda ln: (ln.y0, ln.x0)).text if self.lines else ""


def _docx_or_fail(path: Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise CheckError(f"{path}: không tìm thấy tệp")
    if path.suffix.lower() != ".docx" or not zipfile.is_zipfile(path):
        raise CheckError(f"{path}: không phải tệp .docx")
    with zipfile.ZipFile(path) as z:
        if "word/document.xml" not in z.namelist():
            raise CheckError(f"{path}: không phải tệp .docx")
    return path


def to_pdfs(paths: list[Path], outdir: Path) -> dict[Path, Path | None]:
    """Convert the .docx files to PDF in ONE LibreOffice call, into `outdir`; a file that did
    not convert maps to None. Side effects: copies the inputs into and writes under `outdir`,
    runs soffice with a private profile. Raises CheckError when soffice is not installed."""
    from dondoc.office import convert, soffice
    if not soffice():
        raise CheckError("Không tìm thấy LibreOffice (soffice): cài gói libreoffice-writer-nogui để kiểm tra bản in.")
    outdir.mkdir(parents=True, exist_ok=True)
    copies = {}
    for i, path in enumerate(paths):   # numbered copies: two inputs of the same name cannot collide
        copies[path] = outdir / f"{i:03d}-{Path(path).name}"
        shutil.copyfile(path, copies[path])
    pdfs = convert(list(copies.values()), "pdf", 600)   # a file that failed shows as a missing PDF
    return {p: pdfs[c] for p, c in copies.items()}


def pdf_pages(pdf: Path) -> list[Page]:
    """Each page of `pdf` with its lines and their positions (`pdftotext -bbox-layout`)."""
    if not shutil.which("pdftotext"):
        raise CheckError("Không tìm thấy pdftotext: cài gói poppler-utils để kiểm tra bản in.")
    xml = subprocess.run(["pdftotext", "-bbox-layout", str(pdf), "-"], capture_output=True, check=True,
                         timeout=120).stdout
    ns = "{http://www.w3.org/1999/xhtml}"
    pages, block = [], 0
    for page in ElementTree.fromstring(xml).iter(f"{ns}page"):
        lines = []
        for blk in page.iter(f"{ns}block"):
            block += 1
            for ln in blk.iter(f"{ns}line"):
                words = [w.text or "" for w in ln.iter(f"{ns}word")]
                x0, y0, x1, y1 = (float(ln.attrib[k]) for k in ("xMin", "yMin", "xMax", "yMax"))
                lines.append(Line(x0, y0, x1, y1, " ".join(words), block))
        pages.append(Page(float(page.attrib["width"]), float(page.attrib["height"]), lines))
    return pages


def _norm(text: str) -> str:
    return " ".join(text.split())


def _cell_lines(cell) -> list[str]:
    return [_norm(p.text) for p in cell.paragraphs if p.text.strip()]


def _name_lines(page: Page, name: str) -> list[str] | None:
    """The lines of one block that, in order, hold exactly the words of `name`; None if none do."""
    want = name.split()
    for i, first in enumerate(page.lines):
        got: list[str] = []
        j = i
        while j < len(page.lines) and page.lines[j].block == first.block and want[:len(got)] == got:
            got += page.lines[j].text.split()
            j += 1
            if got == want:
                return [ln.text for ln in page.lines[i:j]]
    return None


def layout_breaches(docx: Path, pages: list[Page]) -> list[str]:
    """What the printed pages of `docx` break, in Vietnamese: the signature block (authority,
    title, name), Nơi nhận and the end of the body on one page; no page number on page 1, one
    on every later page; header names cut only at a phrase boundary, the Quốc hiệu on one line."""
    doc = Document(str(docx))
    out: list[str] = []
    if not pages:
        return ["bản in không có trang nào"]
    for i, page in enumerate(pages, 1):
        number = page.top.strip().isdigit()
        if i == 1 and number:
            out.append(f"trang 1 có số trang ({page.top.strip()}); trang đầu không đánh số")
        elif i > 1 and page.top.strip() != str(i):
            out.append(f"trang {i}: không có số trang {i} ở lề trên (dòng đầu: “{page.top[:40]}”)")
    two = [t for t in doc.tables if len(t.columns) == 2]
    header = doc.tables[0] if doc.tables and len(doc.tables[0].columns) == 2 else None
    if header is not None:
        for name in _cell_lines(header.cell(0, 0)):
            lines = _name_lines(pages[0], name)
            if lines is None:
                out.append(f"tiêu đề: không thấy “{name}” trên trang 1")
                continue
            cuts, at = phrase_cuts(name), 0
            for line in lines[:-1]:
                at += len(line.split())
                if at not in cuts:
                    out.append(f"tiêu đề: “{name}” xuống dòng giữa cụm từ (“{' / '.join(lines)}”)")
                    break
        if "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" not in [ln.text for ln in pages[0].lines]:
            out.append("tiêu đề: Quốc hiệu “CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM” không nằm trên một dòng")
    sig = two[-1] if len(two) > 1 or (two and two[0] is not header) else None
    if sig is None:
        return out
    signer, left = _cell_lines(sig.cell(0, 1)), _cell_lines(sig.cell(0, 0))
    if not signer:
        return out
    texts = [_norm(p.text) for p in pages]
    anchor = signer[0]
    where = [i for i, t in enumerate(texts, 1) if anchor in t]
    if not where:
        return out + [f"chữ ký: không thấy “{anchor}” trong bản in"]
    page = where[-1]
    for line in signer[1:] + left[:1] + left[-1:]:
        if line not in texts[page - 1]:
            seen = [i for i, t in enumerate(texts, 1) if line in t]
            at = f"ở trang {seen[-1]}" if seen else "không thấy"
            out.append(f"chữ ký: “{line}” {at}, không cùng trang {page} với “{anchor}”")
    body = sig._tbl.getprevious()
    while body is not None and not "".join(body.itertext()).strip():
        body = body.getprevious()
    if body is not None:
        tail = " ".join(_norm("".join(body.itertext())).split()[-3:])
        if tail not in texts[page - 1]:
            out.append(f"chữ ký: trang {page} không có dòng cuối của nội dung (“…{tail}”) trước khối chữ ký")
    return out


def check_pdf(paths: list[Path], workdir: Path | None = None) -> dict[Path, list[str]]:
    """Convert every .docx in `paths` with one LibreOffice call and check its printed pages
    (`layout_breaches`). Returns the breaches per path. Side effects: runs soffice and
    pdftotext, writes into `workdir` (a temporary folder, removed, when None). Raises
    CheckError when a file is not a .docx or soffice/pdftotext is missing."""
    paths = [_docx_or_fail(p) for p in paths]
    with tempfile.TemporaryDirectory(prefix="dondoc-pdf-") as tmp:
        pdfs = to_pdfs(paths, Path(workdir or tmp))
        return {p: layout_breaches(p, pdf_pages(pdf)) if pdf else ["LibreOffice không chuyển được tệp sang PDF"]
                for p, pdf in pdfs.items()}


def check_files(paths: list[Path], pdf: bool = False) -> dict[Path, list[str]]:
    """`check` on each file, and with `pdf` the printed-page checks too (`check_pdf`)."""
    result = {Path(p): check(_docx_or_fail(p)) for p in paths}
    if pdf:
        for p, breaches in check_pdf(list(result)).items():
            result[p] += breaches
    return result
