"""A report of many units: its appendix is a document of its own, and a PDF LibreOffice cannot
print in time leaves the .docx, says so in one Vietnamese line, and never fails the flow."""
from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import time

from docx import Document
from docx.enum.section import WD_ORIENTATION

from dondoc import reportdoc
from dondoc.ledger import Ledger
from dondoc.ndformat import check
from dondoc.render import Templates
from models.calendar import BusinessCalendar
from models.period import parse_label
from models.report import compile_report
from models.rules import LedgerState, due_actions, task_cycles
from tests import corpus

Y = corpus.YEAR


def _data(plan):
    """Every unit of the mini plan asked, two of them reported."""
    decided = {f"{plan.plan.id}/{Y}/{t.id}/{u.id}/request": dt.date(Y, 11, 5)
               for t in plan.tasks for u in plan.units_of(t)}
    reported = {(t.id, u.id, str(Y)): dt.date(Y, 12, 1) for t in plan.tasks for u in plan.units_of(t)[:2]}
    return compile_report(plan, LedgerState(decided, reported), [], dt.date(Y, 12, 25), parse_label(str(Y)),
                          BusinessCalendar(plan.calendar))


def _texts(path) -> str:
    doc = Document(str(path))
    return "\n".join([p.text for p in doc.paragraphs] + [c.text for t in doc.tables for r in t.rows for c in r.cells])


def test_a_large_appendix_is_a_document_of_its_own_and_both_print(tmp_path, mini, monkeypatch):
    monkeypatch.setattr(reportdoc, "APPENDIX_APART", 2)
    data = _data(mini)
    assert len(data.rows) > 2
    files = reportdoc.write_report(mini, data, Templates(), dt.date(Y, 12, 25), tmp_path)
    report, appendix = tmp_path / f"bao-cao-kh-test-{Y}.docx", tmp_path / f"bao-cao-kh-test-{Y}-phu-luc.docx"
    assert files[:2] == [report, appendix] and files.notes == []
    assert sorted(files[2:]) == sorted([report.with_suffix(".pdf"), appendix.with_suffix(".pdf")])
    assert check(report) == []                              # the report itself is still a whole văn bản
    body, annex = _texts(report), _texts(appendix)
    assert "PHỤ LỤC" not in body and "Trên đây là báo cáo" in body
    assert annex.startswith("PHỤ LỤC") and "Trên đây là báo cáo" not in annex
    assert all(r.unit_name in annex for r in data.rows)
    assert Document(str(report)).sections[-1].orientation == WD_ORIENTATION.PORTRAIT
    assert Document(str(appendix)).sections[-1].orientation == WD_ORIENTATION.LANDSCAPE


def test_a_long_appendix_prints_in_parts_joined_into_one_pdf(tmp_path, mini, monkeypatch):
    """Two rows a part: every part has the table's header row, the title only the first; one
    LibreOffice call prints them all and pdfunite joins them, in order, into the appendix's PDF."""
    monkeypatch.setattr(reportdoc, "APPENDIX_APART", 2)
    monkeypatch.setattr(reportdoc, "PART_ROWS", 2)
    calls = []
    real = reportdoc.convert
    monkeypatch.setattr(reportdoc, "convert", lambda files, *a: calls.append(len(files)) or real(files, *a))
    data = _data(mini)
    files = reportdoc.write_report(mini, data, Templates(), dt.date(Y, 12, 25), tmp_path)
    pdf = tmp_path / f"bao-cao-kh-test-{Y}-phu-luc.pdf"
    assert pdf in files and files.notes == []
    parts = -(-len(data.rows) // 2)
    assert parts >= 2 and sorted(calls) == [1, parts]          # the report alone, then the parts in ONE call
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert text.count("PHỤ LỤC") == 1 and text.count("Tình trạng") == parts   # the header row on every part
    at = [text.index(r.unit_name) for r in data.rows]          # every row, in order
    assert at == sorted(at)
    assert int(subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
               .split("Pages:")[1].split()[0]) == parts          # each part on pages of its own
    annex = Document(str(tmp_path / f"bao-cao-kh-test-{Y}-phu-luc.docx"))
    assert len(annex.tables) == 1 and len(annex.tables[0].rows) == len(data.rows) + 1   # the .docx stays whole


def test_the_rendered_body_is_found_across_its_chunks():
    xml = reportdoc.Xml(["<w:body><w:tbl><w:t", "r>a</w:tr><w:tr>b</w:tr></w:tbl>", "</w:body>"])
    assert xml.find("<w:tr>") == 15 and xml.find("<w:tr>", 16) == 29 and xml.rfind("<w:tr>") == 29
    assert xml.find("</w:body>") == len(xml) - 9 and xml.find("nowhere") == -1
    assert xml.text(15, 22) == "<w:tr>a" and "".join(xml.pieces((0, len(xml)))) == "".join(xml.chunks)


def test_a_conversion_out_of_time_leaves_the_docx_and_says_so(tmp_path, mini, monkeypatch):
    monkeypatch.setattr(reportdoc, "PDF_SECONDS", (0.05, 0.0))
    start = time.monotonic()
    files = reportdoc.write_report(mini, _data(mini), Templates(), dt.date(Y, 12, 25), tmp_path)
    assert time.monotonic() - start < 30                    # killed, not waited for
    docx = tmp_path / f"bao-cao-kh-test-{Y}.docx"
    assert list(files) == [docx] and not docx.with_suffix(".pdf").exists()
    assert files.notes == [f"Không chuyển được {docx.name} sang PDF (LibreOffice chưa xong sau 0 giây); "
                           "gửi kèm tệp .docx."]
    assert check(docx) == []


def test_the_report_flow_succeeds_when_no_pdf_can_be_made(prefect_api, env, smtp_server, tmp_path, mini_text,
                                                           monkeypatch):
    from flows.report import report
    plan_file = tmp_path / "units.yaml"
    plan_file.write_text(mini_text, encoding="utf-8")
    monkeypatch.setenv("DONDOC_CONFIG", str(plan_file))
    from dondoc.plancache import read_plan
    plan = read_plan(plan_file, None)
    c = next(c for c, _ in task_cycles(plan, BusinessCalendar(), plan.tasks[0], (Y,)))
    ledger = Ledger(env["DONDOC_DB"])
    ledger.record_actions(due_actions(plan, ledger.state(plan.plan.id), c.request_on), c.request_on, "stttt.example")
    monkeypatch.setattr(reportdoc, "APPENDIX_APART", 2)
    monkeypatch.setattr(reportdoc, "PART_ROWS", 1)            # the appendix in parts: their call times out too
    monkeypatch.setattr(reportdoc, "PDF_SECONDS", (0.05, 0.0))

    result = asyncio.run(report(today=c.closes_on, period=str(Y), resend=True))["kh-test"][0]
    out = tmp_path / "out"
    assert result["files"] == [str(out / f"bao-cao-kh-test-{Y}.docx"), str(out / f"bao-cao-kh-test-{Y}-phu-luc.docx")]
    assert [n.split(" (")[0] for n in result["notes"]] == [f"Không chuyển được {name} sang PDF" for name in (
        f"bao-cao-kh-test-{Y}.docx", f"bao-cao-kh-test-{Y}-phu-luc.docx")]
    assert result["emailed"] == 1
    mail = next(m for m in smtp_server.accepted if "/compile" in "".join(str(m["X-Dondoc-Key"]).split()))
    assert sorted(p.get_filename() for p in mail.iter_attachments()) == [f"bao-cao-kh-test-{Y}-phu-luc.docx",
                                                                         f"bao-cao-kh-test-{Y}.docx"]
    assert result["notes"][0] in mail.get_body(("plain",)).get_content()

