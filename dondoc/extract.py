"""The text of an attachment, read with bounded work: `attachment_text(filename, data, limits)`.

Reads .docx (word/document.xml) and .odt (content.xml) straight from the zip with a
streaming expat parse that builds no tree and refuses DTDs and entity declarations (no
billion laughs), .xlsx with openpyxl in read-only mode, .pdf with pypdf, and .doc through
LibreOffice (`soffice --headless --convert-to txt`, when it is installed, with a timeout).
Before any parse a zip is checked: how many members, each XML member's and all members'
unpacked size, the packing ratio. Reading stops at `limits.max_text` characters and gives up
after `limits.seconds` (checked between chunks, pages or rows). Side effects: .doc only (a
temporary folder and a LibreOffice process, both removed/ended before returning).
A .docx's tables (the reply form) come in the same pass (`ExtractResult.tables`).
"""
from __future__ import annotations

import io
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

from models.inbound import Limits
from models.mailparse import nfc

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main "
T = "urn:oasis:names:tc:opendocument:xmlns:text:1.0 "
CHUNK = 64 * 1024


_KINDS = {W + "p": "p", T + "p": "p", T + "h": "p", W + "t": "t", W + "tab": "tab", T + "tab": "tab",
          W + "br": "br", W + "cr": "br", T + "line-break": "br", T + "s": "s", W + "tbl": "tbl", W + "tr": "tr",
          W + "tc": "tc", W + "gridSpan": "span", W + "vMerge": "vmerge"}


@dataclass(frozen=True)
class ExtractResult:
    text: str = ""
    error: str | None = None     # why there is no (complete) text, in Vietnamese; None when read
    tables: list[list[list[str]]] = field(default_factory=list)   # .docx: see `docx_tables`


class Refused(Exception):
    """Reading stopped: the message is the reason, in Vietnamese."""


@dataclass
class _Walk:
    """Handlers for one streaming parse: text by paragraph, and the top-level tables."""
    limits: Limits
    odt: bool = False
    lines: list[str] = field(default_factory=list)
    size: int = 0
    para: list[str] | None = None
    in_text: int = 0
    tables: list[list[list[str]]] = field(default_factory=list)
    stack: list[list[list[str]]] = field(default_factory=list)   # open tables, outermost first
    cell: list[str] | None = None                               # paragraphs of the open top-level cell
    span: int = 1
    merged: bool = False

    def start(self, name, attrs):
        kind = _KINDS.get(name)
        if kind is None:
            return
        if kind == "p":
            self.para = []
        elif kind == "t":
            self.in_text = 1
        elif kind == "tab":
            self._add("\t")
        elif kind == "br":
            self._add("\n")
        elif kind == "s":
            self._add(" " * min(int(attrs.get(T + "c", "1") or 1), 100))
        elif kind == "tbl":
            self.stack.append([])
        elif kind == "tr" and self.stack:
            self.stack[-1].append([])
        elif len(self.stack) != 1:
            return
        elif kind == "tc":
            self.cell, self.span, self.merged = [], 1, False
        elif kind == "span" and self.cell is not None:
            self.span = max(1, min(int(attrs.get(W + "val", "1") or 1), 64))
        elif kind == "vmerge" and self.cell is not None:
            self.merged = attrs.get(W + "val", "continue") != "restart"

    def end(self, name):
        kind = _KINDS.get(name)
        if kind is None:
            return
        if kind == "t":
            self.in_text = 0
        elif kind == "p" and self.para is not None:
            line = "".join(self.para)
            self.lines.append(line)
            self.size += len(line) + 1
            if self.cell is not None and len(self.stack) == 1:
                self.cell.append(line)
            self.para = None
            if self.size > self.limits.max_text:
                raise _Enough
        elif kind == "tc" and self.cell is not None and len(self.stack) == 1 and self.stack[0]:
            row, text = self.stack[0][-1], "\n".join(self.cell).strip()
            if self.merged and len(self.stack[0]) > 1 and len(self.stack[0][-2]) > len(row):
                text = self.stack[0][-2][len(row)]   # a vertically merged cell reads as the one above
            row.extend([text] * self.span)
            self.cell = None
        elif kind == "tbl" and self.stack:
            table = self.stack.pop()
            if not self.stack:
                self.tables.append(table)

    def data(self, text):
        if self.para is not None and (self.in_text or self.odt):
            self._add(text)

    def _add(self, text):
        if self.para is not None:
            self.para.append(text)


class _Enough(Exception):
    """Enough text was read: stop parsing, keep what there is."""


def _forbidden(*_args):
    raise Refused("tệp có khai báo DTD/thực thể XML, không đọc")


def _parse(stream, walk: _Walk, limits: Limits, started: float) -> None:
    """Feed `stream` to expat in chunks: at most `limits.max_xml` bytes, within the time budget."""
    p = expat.ParserCreate(namespace_separator=" ")
    p.StartDoctypeDeclHandler = p.EntityDeclHandler = p.ExternalEntityRefHandler = _forbidden
    p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    p.StartElementHandler, p.EndElementHandler, p.CharacterDataHandler = walk.start, walk.end, walk.data
    p.buffer_text = True
    read = 0
    try:
        while chunk := stream.read(CHUNK):
            read += len(chunk)
            if read > limits.max_xml:
                raise Refused(f"phần XML quá lớn (> {limits.max_xml >> 20} MB)")
            if time.monotonic() - started > limits.seconds:
                raise Refused(f"đọc quá {limits.seconds:g} giây")
            p.Parse(chunk, False)
        p.Parse(b"", True)
    except _Enough:
        pass
    except expat.ExpatError as e:
        raise Refused(f"XML hỏng: {e}") from None


def _open_member(data: bytes, member: str, limits: Limits,
                 z: zipfile.ZipFile | None = None) -> tuple[zipfile.ZipFile, zipfile.ZipInfo]:
    """The zip (`z` when the caller opened it) and its `member`, after the checks every zip
    passes before any parse."""
    try:
        z = z or zipfile.ZipFile(io.BytesIO(data))
        infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise Refused("tệp nén hỏng, không mở được") from None
    if len(infos) > limits.max_members:
        raise Refused(f"tệp nén có quá nhiều thành phần ({len(infos)})")
    total = sum(i.file_size for i in infos)
    if total > limits.max_unzipped or total > limits.max_ratio * max(len(data), 1):
        raise Refused(f"tệp nén bất thường: giải nén ra {total >> 20} MB")
    big = [i.filename for i in infos if i.filename.endswith((".xml", ".rels")) and i.file_size > limits.max_xml]
    if big:
        raise Refused(f"phần {big[0]} quá lớn (> {limits.max_xml >> 20} MB)")
    try:
        return z, z.getinfo(member)
    except KeyError:
        raise Refused(f"không có {member}: không phải tệp văn bản hợp lệ") from None


def _walk_zip_xml(data: bytes, member: str, limits: Limits, z: zipfile.ZipFile | None, odt: bool = False) -> _Walk:
    started = time.monotonic()
    z, info = _open_member(data, member, limits, z)
    walk = _Walk(limits, odt=odt)
    try:
        with z, z.open(info) as stream:
            _parse(stream, walk, limits, started)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
        raise Refused(f"tệp nén hỏng: {e}") from None
    return walk


def docx_tables(data: bytes, limits: Limits = Limits()) -> list[list[list[str]]]:
    """The top-level tables of a .docx as rows of cell texts (a cell's paragraphs joined by
    line breaks, stripped; a cell spanning n grid columns repeated n times, a vertically
    merged cell read as the one above, as python-docx does). [] when the file cannot be
    read within `limits`. `attachment_text` gives them too, in the same single pass."""
    return attachment_text("x.docx", data, limits).tables


def _docx(data: bytes, limits: Limits, z: zipfile.ZipFile | None = None) -> tuple[str, list]:
    walk = _walk_zip_xml(data, "word/document.xml", limits, z)
    return "\n".join(walk.lines), walk.tables


def _odt(data: bytes, limits: Limits, z: zipfile.ZipFile | None = None) -> str:
    return "\n".join(_walk_zip_xml(data, "content.xml", limits, z, odt=True).lines)


def _cell(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _xlsx(data: bytes, limits: Limits, z: zipfile.ZipFile | None = None) -> str:
    from openpyxl import load_workbook
    started = time.monotonic()
    _open_member(data, "[Content_Types].xml", limits, z)[0].close()
    wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    out, size = [], 0
    try:
        for ws in wb.worksheets:
            out.append(f"# {ws.title}")
            for row in ws.iter_rows(values_only=True):
                if time.monotonic() - started > limits.seconds:
                    raise Refused(f"đọc quá {limits.seconds:g} giây")
                line = "\t".join(_cell(v) for v in row).rstrip("\t")
                if line:
                    out.append(line)
                    size += len(line) + 1
                if size > limits.max_text:
                    return "\n".join(out)
    finally:
        wb.close()
    return "\n".join(out)


def _pdf(data: bytes, limits: Limits, z: zipfile.ZipFile | None = None) -> str:
    from pypdf import PdfReader
    started = time.monotonic()
    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        raise Refused("tệp PDF có mật khẩu")
    out, size = [], 0
    for page in reader.pages:
        if time.monotonic() - started > limits.seconds:
            raise Refused(f"đọc quá {limits.seconds:g} giây")
        text = page.extract_text() or ""
        out.append(text)
        size += len(text)
        if size > limits.max_text:
            break
    return "\n".join(out)


def _doc(data: bytes, limits: Limits, z: zipfile.ZipFile | None = None) -> str:
    from dondoc.office import OfficeTimeout, convert, soffice
    if soffice() is None:
        raise Refused("máy chủ không có LibreOffice để đọc tệp .doc")
    with tempfile.TemporaryDirectory(prefix="dondoc-doc-") as tmp:
        src = Path(tmp) / "tep.doc"
        src.write_bytes(data)
        try:
            out = convert([src], "txt:Text (encoded):UTF8", limits.soffice_seconds)[src]
        except OfficeTimeout:
            raise Refused(f"LibreOffice đọc quá {limits.soffice_seconds:g} giây") from None
        if out is None:
            raise Refused("LibreOffice không đọc được tệp .doc")
        with out.open("rb") as f:
            return f.read(limits.max_text * 4).decode("utf-8", "replace").lstrip("\ufeff")


Reader = Callable[[bytes, Limits, zipfile.ZipFile | None], str | tuple[str, list]]
READERS: dict[str, Reader] = {".docx": _docx, ".odt": _odt, ".xlsx": _xlsx, ".pdf": _pdf, ".doc": _doc}


def attachment_text(filename: str, data: bytes, limits: Limits = Limits(),
                    zipped: zipfile.ZipFile | None = None) -> ExtractResult:
    """The text of one attachment, NFC, at most `limits.max_text` characters, by its
    extension (.docx .odt .xlsx .pdf .doc); for a .docx also its tables (`docx_tables`). Never
    raises: a file refused by the limits, broken, encrypted, of another type, or without any text
    gives `error` (Vietnamese) and the text read, if any. `zipped`: the attachment's
    models.inbound.open_zip when the caller has it (its listing is then not read again; it
    is closed here)."""
    ext = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    reader = READERS.get(ext)
    if reader is None:
        return ExtractResult("", f"không đọc chữ từ loại tệp {ext or '(không có đuôi)'}")
    if len(data) > limits.max_bytes:
        return ExtractResult("", f"tệp quá lớn ({len(data) >> 20} MB)")
    try:
        got = reader(data, limits, zipped)   # a .docx gives its tables too
        text, tables = got if isinstance(got, tuple) else (got, [])
    except Refused as e:
        return ExtractResult("", str(e))
    except Exception as e:   # noqa: BLE001 — a broken file is a reason, never a crash
        return ExtractResult("", f"không đọc được tệp: {type(e).__name__}")
    text = nfc(text)[: limits.max_text].strip()
    tables = [[[nfc(c) for c in row] for row in t] for t in tables]
    return ExtractResult(text, None if text else "tệp không có chữ đọc được (có thể là bản quét)", tables)
