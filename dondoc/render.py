"""Render .docx templates (docxtpl syntax) compiled once, and Jinja mail templates.

Side effect: reads template files when a `Templates` is built; rendering itself is pure.
docxtpl re-reads the template and recompiles its Jinja on every render (about 40 ms a
letter); here each XML part is patched and compiled once, and a render is one Jinja call
per templated part plus a zip, which keeps 10,000 letters within a minute.
"""
from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template

from dondoc.ndformat import phrase_lines

SHIPPED = Path(__file__).resolve().parent.parent / "templates"
# Stages whose email is plain text alone: the acknowledgement, an automatic reply (as Request
# Tracker's autoreply is), half the bytes of text and HTML for 10,000 units' mail servers.
TEXT_ONLY = frozenset({"ack"})
_TEMPLATED_PART = re.compile(r"word/(document|header\d*|footer\d*|footnotes)\.xml")
_LISTING = re.compile(r"[\n\t\a\f]")


def has_listing(xml: str, start: int | None = None) -> bool:
    """Whether rendered XML holds a line break, tab or page break from a value, from `start`
    (by default after the XML declaration)."""
    return bool(_LISTING.search(xml, xml.find("?>") + 3 if start is None else start))


class CompiledDocx:
    """One .docx template. `render(context)` returns the bytes of the filled document.

    Every value is XML-escaped (autoescape): text from the plan or from a unit's mail is
    shown as written and can never inject WordprocessingML."""

    def __init__(self, path: Path, env: Environment):
        from docxtpl import DocxTemplate  # here, not at import: read-only commands never load it
        self.path, self.env = path, env
        self._tpl = DocxTemplate(str(path))   # used only for its XML patching and listing rules
        self.parts: list[tuple[str, Template | _Entry]] = []   # (name, compiled Jinja template or zip entry)
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                data = z.read(info)
                xml = self._tpl.patch_xml(data.decode("utf-8")) if _TEMPLATED_PART.fullmatch(info.filename) else ""
                if "{{" in xml or "{%" in xml:
                    self.parts.append((info.filename, env.from_string(xml)))
                else:   # a part that never changes is compressed once, here
                    self.parts.append((info.filename, _Entry(info.filename, data)))

    def render(self, context: dict) -> bytes:
        entries = []
        for name, part in self.parts:
            if isinstance(part, _Entry):
                entries.append(part)
                continue
            entries.append(_Entry(name, self.resolved(part.render(context)).encode("utf-8")))
        return _zip(entries)

    def resolved(self, xml: str) -> str:
        """A rendered part with the line breaks, tabs and page breaks of its values made Word's
        (docxtpl's listing rules), when it has any."""
        return self._tpl.resolve_listing(xml) if has_listing(xml) else xml

    def render_docxtpl(self, make_context) -> bytes:
        """Render through docxtpl itself (slower, tens of ms): `make_context(tpl)` returns the
        context and may put in values bound to the template, such as an `InlineImage`. Same
        environment (escaping, filters) as `render`."""
        from docxtpl import DocxTemplate
        tpl = DocxTemplate(str(self.path))
        tpl.render(make_context(tpl), jinja_env=self.env, autoescape=True)
        buf = io.BytesIO()
        tpl.save(buf)
        return buf.getvalue()


class _Entry:
    """A zip member, deflated once."""
    __slots__ = ("name", "crc", "size", "data")

    def __init__(self, name: str, raw: bytes):
        self.name, self.crc, self.size = name.encode(), zlib.crc32(raw), len(raw)
        c = zlib.compressobj(1, zlib.DEFLATED, -15)
        self.data = c.compress(raw) + c.flush()


def _zip(entries: list[_Entry]) -> bytes:
    """The bytes of a zip archive of already-deflated entries (PKZIP APPNOTE 4.3)."""
    out: list[bytes] = []
    central, offset = [], 0
    stamp = (0, (2026 - 1980) << 9 | 1 << 5 | 1)   # fixed time and date: identical input, identical file
    for e in entries:
        head = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, *stamp, e.crc, len(e.data), e.size,
                           len(e.name), 0) + e.name
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, *stamp, e.crc,
                                   len(e.data), e.size, len(e.name), 0, 0, 0, 0, 0, offset) + e.name)
        out += (head, e.data)
        offset += len(head) + len(e.data)
    cd = b"".join(central)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(cd), offset, 0)
    return b"".join(out) + cd + end


def _date_line(day) -> str:
    """`ngày 05 tháng 12 năm 2026`: days under 10 and months 1 and 2 take a leading zero."""
    month = f"{day.month:02d}" if day.month <= 2 else str(day.month)
    return f"ngày {day.day:02d} tháng {month} năm {day.year}"


class Templates:
    """The letter, form and mail templates, each loaded and compiled once.

    `override` is a folder (the plan's `templates:`) whose files replace shipped ones of the
    same name (`docx/request.docx`, `mail/request.txt.j2`, …)."""

    def __init__(self, override: Path | None = None):
        roots = [p for p in (override, SHIPPED) if p]
        self.roots = roots
        self.docx_env = Environment(autoescape=True, undefined=StrictUndefined, keep_trailing_newline=False)
        self.mail_env = Environment(
            loader=FileSystemLoader([str(r / "mail") for r in roots]),
            autoescape=lambda name: name is not None and name.endswith(".html.j2"),
            undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.docx_env.filters["phrase_lines"] = phrase_lines
        for env in (self.docx_env, self.mail_env):
            env.filters["date_line"] = _date_line
            env.filters["ddmmyyyy"] = lambda d: d.strftime("%d/%m/%Y")
            env.filters["capitalize_first"] = lambda t: str(t)[:1].upper() + str(t)[1:]
        self._docx: dict[str, CompiledDocx] = {}

    def docx(self, name: str) -> CompiledDocx:
        if name not in self._docx:
            path = next((r / "docx" / f"{name}.docx" for r in self.roots if (r / "docx" / f"{name}.docx").exists()),
                        None)
            if path is None:
                raise FileNotFoundError(f"no template docx/{name}.docx in {', '.join(map(str, self.roots))}")
            self._docx[name] = CompiledDocx(path, self.docx_env)
        return self._docx[name]

    def mail(self, stage: str, context: dict) -> tuple[str, str, str]:
        """(subject, plain text, HTML) of a stage's email: the text template's first line
        is the subject, the rest its body. A stage without an HTML template (the
        acknowledgement) has "" for HTML: its mail is plain text."""
        subject, _, text = self.mail_env.get_template(f"{stage}.txt.j2").render(context).strip().partition("\n")
        html = self.mail_env.get_template(f"{stage}.html.j2").render(context) if stage not in TEXT_ONLY else ""
        return " ".join(subject.split()), re.sub(r"\n{3,}", "\n\n", text.strip()) + "\n", html
