"""Check a .docx against the layout rules of Decree 30/2020 (../shared/FORMAT-ND30.md).

Side effect: reads the file. `check(path)` returns the breaches, each a sentence naming
what is wrong and where; an empty list means the document passes.
"""
from __future__ import annotations

import re
from pathlib import Path

from docx import Document
from docx.oxml.ns import qn
from docx.shared import Mm

FONT = "Times New Roman"
DATE = re.compile(r"ngày\s*(\d*)\s+tháng\s+(\d*)\s*năm\s+(\d{4})")   # a draft leaves the day blank
MARGINS = {"top": (20, 25), "bottom": (20, 25), "left": (30, 35), "right": (15, 20)}


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
    for must in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc"):
        if must not in full:
            breaches.append(f"missing “{must}”")
    if not re.search(r"^Số:", full, re.M):
        breaches.append("missing the number line “Số: …”")
    if not dates:
        breaches.append("missing the place and date line (“…, ngày … tháng … năm …”)")
    return breaches
