"""Attachment text with bounded work: real files built here, crafted ones refused or read in bounds."""
from __future__ import annotations

import io
import json
import random
import shutil
import subprocess
import sys
import unicodedata
import zipfile
from pathlib import Path

import pytest
from docx import Document

from dondoc.extract import attachment_text, docx_tables
from models.inbound import Limits

ROOT = Path(__file__).resolve().parents[1]
DOC_XML = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
           '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{}'
           '</w:body></w:document>')


def saved(doc) -> bytes:
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def zipped(members: dict[str, bytes | str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def form_like() -> bytes:
    doc = Document()
    doc.add_paragraph("PHIẾU SỐ LIỆU")
    doc.add_paragraph(unicodedata.normalize("NFD", "Đơn vị: Sở Văn hóa, Thể thao và Du lịch"))
    t = doc.add_table(rows=3, cols=4)
    for c, text in zip(t.rows[0].cells, ["TT", "Chỉ tiêu", "Đơn vị tính", "Số lượng"], strict=True):
        c.text = text
    t.cell(1, 0).text, t.cell(1, 1).text, t.cell(1, 3).text = "1", "Văn bản [van-ban]", "12"
    t.cell(2, 0).text, t.cell(2, 1).text, t.cell(2, 3).text = "2", "Tin, bài [tin-bai]", "1.250"
    t.cell(1, 2).merge(t.cell(2, 2)).text = "văn bản, tin bài"      # a vertical merge
    t.cell(0, 0).add_table(rows=1, cols=1).cell(0, 0).text = "lồng"  # a nested table
    return saved(doc)


def test_docx_text_keeps_paragraph_and_cell_breaks_and_is_nfc():
    r = attachment_text("Phiếu.docx", form_like())
    assert r.error is None
    lines = r.text.splitlines()
    assert lines[:2] == ["PHIẾU SỐ LIỆU", "Đơn vị: Sở Văn hóa, Thể thao và Du lịch"]
    assert {"Chỉ tiêu", "Số lượng", "Tin, bài [tin-bai]", "1.250", "lồng"} <= set(lines)


def test_docx_tables_have_the_shape_python_docx_gives():
    data = form_like()
    expected = [[[c.text.strip() for c in row.cells] for row in t.rows] for t in Document(io.BytesIO(data)).tables]
    got = docx_tables(data)
    assert got == expected
    assert got[0][2][1:] == ["Tin, bài [tin-bai]", "văn bản, tin bài", "1.250"]


def test_xlsx_odt_and_a_handwritten_pdf():
    from openpyxl import Workbook
    wb = Workbook()
    wb.active.title = "Số liệu"
    wb.active.append(["Chỉ tiêu", "Số lượng"])
    wb.active.append(["Tin, bài", 15.0])
    buf = io.BytesIO()
    wb.save(buf)
    assert attachment_text("so-lieu.xlsx", buf.getvalue()).text == "# Số liệu\nChỉ tiêu\tSố lượng\nTin, bài\t15"

    content = ('<?xml version="1.0" encoding="UTF-8"?><office:document-content '
               'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
               'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:text>'
               '<text:h>Báo cáo</text:h><text:p>Đã đăng<text:s text:c="2"/>15 tin<text:tab/>bài</text:p>'
               '</office:text></office:body></office:document-content>')
    odt = zipped({"mimetype": "application/vnd.oasis.opendocument.text", "content.xml": content})
    assert attachment_text("bc.odt", odt).text == "Báo cáo\nĐã đăng  15 tin\tbài"

    assert (attachment_text("bc.pdf", handwritten_pdf("Bao cao ket qua: 15 tin bai")).text
            == "Bao cao ket qua: 15 tin bai")


def handwritten_pdf(text: str) -> bytes:
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
                b"/Resources << /Font << /F1 5 0 R >> >> >>"),
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_doc_and_a_vietnamese_pdf_made_by_libreoffice(tmp_path):
    doc = Document()
    doc.add_paragraph("Báo cáo kết quả tuyên truyền năm 2026")
    doc.add_paragraph("Đã đăng 15 tin, bài.")
    (tmp_path / "bc.docx").write_bytes(saved(doc))
    for fmt in ("doc:MS Word 97", "pdf"):
        subprocess.run(["soffice", "--headless", f"-env:UserInstallation=file://{tmp_path}/profile",
                        "--convert-to", fmt, "--outdir", str(tmp_path), str(tmp_path / "bc.docx")],
                       check=True, capture_output=True, timeout=120)
    for name in ("bc.doc", "bc.pdf"):
        r = attachment_text(name, (tmp_path / name).read_bytes())
        assert r.error is None, name
        assert "Báo cáo kết quả tuyên truyền năm 2026" in r.text and "Đã đăng 15 tin, bài." in r.text, name


@pytest.mark.parametrize("name,data,reason", [
    ("anh.jpg", b"\xff\xd8\xff", "không đọc chữ từ loại tệp .jpg"),
    ("bc.docx", b"not a zip", "tệp nén hỏng, không mở được"),
    ("bc.docx", zipped({"word/other.xml": "<a/>"}), "không có word/document.xml"),
    ("bc.docx", zipped({"word/document.xml": DOC_XML.format("<w:p><w:r><w:t>x</w:r></w:p>")}), "XML hỏng"),
    ("bc.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", ""),
    ("bc.docx", zipped({f"word/m{i}.xml": "" for i in range(2001)}), "quá nhiều thành phần"),
    ("bc.docx", zipped({"word/document.xml": b"<" * (21 << 20)}), "tệp nén bất thường"),
    ("bc.docx", zipped({"word/document.xml": b"<" * (21 << 20), "pad.bin": random.Random(0).randbytes(200_000)}),
     "phần word/document.xml quá lớn"),
])
def test_what_cannot_be_read_gives_a_reason_never_an_exception(name, data, reason):
    r = attachment_text(name, data)
    assert r.text == "" and r.error and reason in r.error


def test_a_billion_laughs_dtd_is_refused():
    laughs = ('<?xml version="1.0"?><!DOCTYPE w:document [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
              + "".join(f'<!ENTITY {c} "{("&" + p + ";") * 10}">' for p, c in zip("bcdefgh", "cdefghi", strict=True))
              + ']><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
                '<w:p><w:r><w:t>&i;</w:t></w:r></w:p></w:body></w:document>')
    r = attachment_text("bc.docx", zipped({"word/document.xml": laughs}))
    assert r.text == "" and "DTD" in r.error
    assert docx_tables(zipped({"word/document.xml": laughs})) == []


# Run in a child process: its peak resident memory (VmHWM, reset first: a forked child
# inherits its parent's peak) and time are those of reading the file. The packing ratio
# check is lifted so that the parser itself is what is measured.
BOUNDED = """
import json, re, sys, time
from dondoc.extract import attachment_text
from models.inbound import Limits
limits = Limits(max_ratio=10**6)
data = open(sys.argv[1], "rb").read()
open("/proc/self/clear_refs", "w").write("5")
t = time.monotonic()
r = attachment_text("bc.docx", data, limits)
tables = r.tables
peak = int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read())[1]) / 1024
print(json.dumps({"seconds": time.monotonic() - t, "rss_mb": peak, "chars": len(r.text), "error": r.error,
                  "tables": len(tables)}))
"""


@pytest.mark.parametrize("body", [
    "<w:p>" + "<w:r><w:t>a</w:t></w:r>" * 800_000 + "</w:p>",           # millions of tiny runs in one paragraph
    "<w:p><w:r><w:t>ab</w:t></w:r></w:p>" * 500_000,                   # half a million paragraphs
    "<w:sdt>" * 1_000_000 + "</w:sdt>" * 1_000_000,                      # deep nesting
    "<w:tbl>" + "<w:tr><w:tc><w:p><w:r><w:t>1</w:t></w:r></w:p></w:tc></w:tr>" * 250_000 + "</w:tbl>",
])
def test_a_crafted_docx_is_read_or_refused_within_bounds(tmp_path, body):
    xml = DOC_XML.format(body).encode()
    assert len(xml) < 20 << 20                                            # passes the size checks: the parse is bounded
    path = tmp_path / "crafted.docx"
    path.write_bytes(zipped({"[Content_Types].xml": "<Types/>", "word/document.xml": xml}))
    run = subprocess.run([sys.executable, "-c", BOUNDED, str(path)], capture_output=True, text=True, cwd=ROOT,
                         timeout=60, check=True)
    got = json.loads(run.stdout)
    assert got["rss_mb"] < 300 and got["seconds"] < 6, got
    assert got["error"] is None and 0 < got["chars"] <= Limits().max_text or "giây" in got["error"] \
        or not got["chars"] and got["error"].startswith("tệp không có chữ"), got
