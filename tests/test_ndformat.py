"""The Decree 30 checker: every shipped template, rendered, passes; a bad file fails with each breach named."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest
from docx import Document
from docx.shared import Mm

from dondoc.ledger import action_row
from dondoc.letters import context, document_context, memo_context
from dondoc.ndformat import check
from dondoc.render import Templates
from models.calendar import BusinessCalendar
from models.rules import LedgerState, due_actions
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, shipped):
    """One document of every kind the dispatch makes, from the shipped plan."""
    cal, templates, out = BusinessCalendar(shipped.calendar), Templates(), tmp_path_factory.mktemp("docs")
    days = [dt.date(2026, 11, 5), dt.date(2026, 11, 20), dt.date(2026, 12, 2), dt.date(2026, 12, 4),
            dt.date(2026, 12, 11)]
    decided, files = {}, {}
    for day in days:
        for a in due_actions(shipped, LedgerState(dict(decided)), day, cal):
            decided[a.key] = day
            if a.stage in files or a.stage == "compile":
                continue
            row = action_row(a, day, "<x@y>", None)
            ctx = (memo_context({shipped.plan.id: shipped}, [row], {}, day, ["dự thảo số 1: chờ ký 3 ngày"])
                   if a.stage == "escalation" else document_context(shipped, a.stage, day, [row], cal))
            files[a.stage] = out / f"{a.stage}.docx"
            files[a.stage].write_bytes(templates.docx(a.stage).render(ctx))
            if a.stage == "request":
                files["reply-form"] = out / "reply-form.docx"
                files["reply-form"].write_bytes(templates.docx("reply-form").render(context(shipped, row, cal)))
    return files


def test_every_kind_of_letter_passes(rendered):
    assert set(rendered) == {"request", "reply-form", "reminder", "urging", "escalation", "overdue"}
    for name, path in rendered.items():
        breaches = check(path)
        if name == "reply-form":   # a form, not a công văn: it has no header block
            breaches = [b for b in breaches if "missing" not in b]
        assert breaches == [], name


def test_a_wrong_margin_and_a_date_without_leading_zeros_are_both_named(rendered, tmp_path):
    doc = Document(str(rendered["request"]))
    doc.sections[0].left_margin = Mm(25)
    date_para = next(p for t in doc.tables for c in t._cells for p in c.paragraphs if "tháng 11 năm 2026" in p.text)
    date_para.runs[0].text = "Đắk Nông, ngày 5 tháng 1 năm 2027"
    bad = tmp_path / "bad.docx"
    doc.save(str(bad))
    breaches = check(bad)
    assert "section 1: left margin 25.0 mm, must be 30–35 mm" in breaches
    assert "date “ngày 5 tháng 1 năm 2027”: the day takes two digits (ngày 05, not ngày 5)" in breaches
    assert "date “ngày 5 tháng 1 năm 2027”: the month is written “tháng 01”" in breaches
    r = subprocess.run([sys.executable, "-m", "dondoc.cli", "check-format", str(bad)], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 1 and "left margin 25.0 mm" in r.stdout and "ngày 05, not ngày 5" in r.stdout


def test_agency_names_are_cut_only_at_a_phrase_boundary():
    from dondoc.ndformat import phrase_cuts, phrase_lines
    assert phrase_lines("SỞ THÔNG TIN VÀ TRUYỀN THÔNG") == "SỞ THÔNG TIN VÀ TRUYỀN THÔNG"   # fits the column
    assert phrase_lines("SỞ THÔNG TIN VÀ TRUYỀN THÔNG", 20) == "SỞ THÔNG TIN\nVÀ TRUYỀN THÔNG"
    assert phrase_lines("SỞ KHOA HỌC VÀ CÔNG NGHỆ", 20) == "SỞ KHOA HỌC\nVÀ CÔNG NGHỆ"
    assert phrase_lines("SỞ VĂN HÓA, THỂ THAO VÀ DU LỊCH") == "SỞ VĂN HÓA,\nTHỂ THAO VÀ DU LỊCH"
    assert phrase_lines("PHÒNG THÔNG TIN - BÁO CHÍ - XUẤT BẢN", 26) == "PHÒNG THÔNG TIN -\nBÁO CHÍ - XUẤT BẢN"
    assert phrase_lines("BAN QUẢN LÝ CÁC KHU CÔNG NGHIỆP", 20) == "BAN QUẢN LÝ CÁC KHU CÔNG NGHIỆP"   # no boundary
    assert phrase_cuts("SỞ TƯ PHÁP VÀ") == []            # never one word alone on a line


def test_every_template_is_valid_and_built_for_print():
    """Each cell holds a paragraph; table rows never split; the report's appendix is a landscape
    section with a repeated header row and a date column that does not wrap."""
    from docx.oxml.ns import qn
    for path in sorted((ROOT / "templates" / "docx").glob("*.docx")):
        doc = Document(str(path))
        cells = list(doc.element.body.iter(qn("w:tc")))
        assert cells and all(tc.find(qn("w:p")) is not None for tc in cells), path.name
        rows = [tr for tr in doc.element.body.iter(qn("w:tr")) if "{%tr" not in "".join(tr.itertext())]
        assert all(tr.find(f"{qn('w:trPr')}/{qn('w:cantSplit')}") is not None for tr in rows), path.name
    report = Document(str(ROOT / "templates" / "docx" / "report.docx"))
    portrait, landscape = report.sections
    assert portrait.page_width < portrait.page_height and portrait.different_first_page_header_footer
    assert landscape.page_width > landscape.page_height and not landscape.different_first_page_header_footer
    appendix = report.tables[-1]
    assert appendix.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None
    assert appendix.rows[0].cells[3].text == "Ngày nhận"
    assert appendix.rows[2].cells[3]._tc.tcPr.find(qn("w:noWrap")) is not None
    assert "{{ date_line }} của" in next(p.text for p in report.paragraphs if "Kèm theo" in p.text)   # ngày … năm …
    assert "█" not in "".join(report.element.body.itertext())


def test_pillow_is_imported_only_when_a_report_chart_is_drawn():
    code = ("import sys, dondoc.reportdoc as r, dondoc.cli; print('PIL' in sys.modules); "
            "png = r.chart_png([{'name': 'Nhóm', 'asked': 4, 'on_time': 2, 'late': 1, 'missing': 1}]); "
            "print('PIL' in sys.modules, png[:4] == b'\\x89PNG', 'matplotlib' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert r.stdout.split() == ["False", "True", "True", "False"]


def _memo(plan, tmp_path, name: str):
    """The memo of 04/12/2026 for every unit of the plan's first task, rendered."""
    day, task = dt.date(2026, 12, 4), plan.tasks[0]
    row = {"plan_id": plan.plan.id, "period": "2026", "task_id": task.id, "deadline": "2026-12-05",
           "units": json.dumps([u.id for u in plan.units_of(task)])}
    path = tmp_path / f"{name}.docx"
    path.write_bytes(Templates().docx("escalation").render(memo_context({plan.plan.id: plan}, [row], {}, day, [])))
    return path


def test_the_memo_is_signed_by_a_named_division_head_and_check_names_one_that_is_not(shipped, tmp_path):
    """The shipped plans name their division head: the memo ends with a name under TRƯỞNG PHÒNG.
    A plan without one used to print a title over nobody, and check-format said OK."""
    memo = _memo(shipped, tmp_path, "memo")
    assert check(memo) == []
    signer = [p.text for p in Document(str(memo)).tables[-1].cell(0, 1).paragraphs if p.text.strip()]
    assert signer == ["TRƯỞNG PHÒNG", shipped.issuer.division_head.name]
    nameless = shipped.model_copy(update={"issuer": shipped.issuer.model_copy(update={"division_head": None})})
    assert "signature: no signer's name under “TRƯỞNG PHÒNG”" in check(_memo(nameless, tmp_path, "nameless"))


def test_a_number_under_ten_is_written_with_its_leading_zero(rendered, shipped, tmp_path):
    from dondoc.letters import numbered
    assert not [b for b in check(rendered["request"]) if b.startswith("number")]   # the draft's blank number
    cal, day = BusinessCalendar(shipped.calendar), dt.date(2026, 11, 5)
    rows = [action_row(a, day, "<x@y>", None) for a in due_actions(shipped, LedgerState({}), day, cal)
            if a.stage == "request"]
    draft = document_context(shipped, "request", day, rows, cal)
    for number, breach in (("5/STTTT-TTBCXB", True), ("05/STTTT-TTBCXB", False), ("123/STTTT-TTBCXB", False)):
        path = tmp_path / f"so-{number.split('/')[0]}.docx"
        path.write_bytes(Templates().docx("request").render(numbered(draft, number, day)))
        found = [b for b in check(path) if b.startswith("number")]
        assert found == (["number “Số: 5/”: a number under 10 takes a leading 0 (Số: 05/…)"] if breach else []), number


def test_a_plan_cited_in_running_text_reads_as_a_document_name(rendered):
    """"Kế hoạch truyền thông về Chương trình …" (type capitalised, title's first letter not),
    never "kế hoạch Truyền thông …"; the reply form's title starts with a capital."""
    for name in ("request", "urging", "overdue"):
        body = "\n".join(p.text for p in Document(str(rendered[name])).paragraphs)
        assert "Kế hoạch truyền thông về Chương trình “Đẩy mạnh" in body, name
        assert "kế hoạch Truyền thông" not in body, name
    memo = "\n".join(p.text for p in Document(str(rendered["escalation"])).paragraphs)
    assert "(Kế hoạch truyền thông về Chương trình" in memo and "kế hoạch Truyền" not in memo
    form = Document(str(rendered["reply-form"])).paragraphs[1].text
    assert form[:1].isupper() and form.startswith("Báo cáo kết quả"), form
