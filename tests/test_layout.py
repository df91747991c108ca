"""What only the printed page shows: letters of every stage and the yearly report, converted
with LibreOffice (one call), read page by page with pdftotext. Skipped only without soffice."""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from docx import Document
from docx.oxml.ns import qn
from docx.shared import Mm

from dondoc.ledger import action_row
from dondoc.letters import context, document_context, memo_context
from dondoc.ndformat import layout_breaches, pdf_pages, to_pdfs
from dondoc.render import Templates
from dondoc.reportdoc import write_report
from models.calendar import BusinessCalendar
from models.loader import parse_plan
from models.period import parse_label
from models.report import compile_report
from models.rules import LedgerState, due_actions
from tests.conftest import ROOT, SHIPPED

pytestmark = pytest.mark.skipif(not shutil.which("soffice"), reason="LibreOffice (soffice) is not installed")

NAMES = ("SỞ THÔNG TIN VÀ TRUYỀN THÔNG", "SỞ KHOA HỌC VÀ CÔNG NGHỆ", "SỞ VĂN HÓA, THỂ THAO VÀ DU LỊCH")
SWEEP = range(17)   # extra one-line task paragraphs: the closing walks down page 1 and over its end
DATE = re.compile(r"\b\d{2}/\d{2}/\d{4}\b")


def _letters(plan) -> dict[str, dict]:
    """The context of the first document of every stage of `plan`, as a run drafts it: one
    công văn per stage and day for every unit concerned (a reminder too, as a plan that signs
    reminders would have it), and the day's internal memo."""
    cal, decided, found = BusinessCalendar(plan.calendar), {}, {}
    for day in (dt.date(2026, 11, 5), dt.date(2026, 11, 20), dt.date(2026, 12, 2), dt.date(2026, 12, 4),
                dt.date(2026, 12, 11)):
        by_stage: dict[str, list[dict]] = {}
        for a in due_actions(plan, LedgerState(dict(decided)), day, cal):
            decided[a.key] = day
            if a.stage not in ("compile", "ack"):
                by_stage.setdefault(a.stage, []).append(action_row(a, day, "<x@y>", None))
        for stage, rows in by_stage.items():
            if stage in found:
                continue
            found[stage] = (memo_context({plan.plan.id: plan}, rows, {plan.plan.id: {}}, day, [])
                            if stage == "escalation" else document_context(plan, stage, day, rows, cal))
            found[stage]["stage"] = stage
            if stage == "request":   # and the request to a single unit: its body ends on page 1
                found["request-one"] = document_context(plan, stage, day, rows[:1], cal) | {"stage": stage}
    return found


def _big_plan(units: int):
    """The shipped plan with `units` more districts: ~30 units, a report whose appendix spans pages."""
    raw = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    raw["units"] += [{"id": f"thu-{i:02d}", "name": f"UBND huyện Thử Nghiệm Số {i}", "group": "huyen",
                      "emails": [f"vanthu@thu{i}.example"]} for i in range(units)]
    return parse_plan(yaml.safe_dump(raw, allow_unicode=True), "big.yaml")


def _report(out, units: int) -> tuple:
    plan, year, today = _big_plan(units), "2026", dt.date(2026, 12, 25)
    decided = {f"{plan.plan.id}/{year}/{t.id}/{u.id}/request": dt.date(2026, 11, 5)
               for t in plan.tasks for u in plan.units_of(t)}
    reported = {(t.id, u.id, year): dt.date(2026, 11, 1 + i % 28)
                for t in plan.tasks for i, u in enumerate(plan.units_of(t)) if i % 3}
    reports = [{"period": year, "task_id": t, "unit_id": u, "note": "Đơn vị đã đăng 7 tin, bài.",
                "indicators": json.dumps({"tin-bai": 1234, "nguoi-tham-gia": 56}),
                "files": json.dumps([f"/data/{u}/bao-cao.docx"])} for t, u, _ in reported]
    data = compile_report(plan, LedgerState(decided, reported), reports, today, parse_label(year),
                          BusinessCalendar(plan.calendar))
    out.mkdir()
    return write_report(plan, data, Templates(), today, out)[0], data


@pytest.fixture(scope="module")
def printed(tmp_path_factory, shipped):
    """{name: (docx, pages)} for every document below, all converted in one LibreOffice call."""
    out, templates = tmp_path_factory.mktemp("layout"), Templates()
    docs = _letters(shipped)
    base = docs["request-one"]
    for k in SWEEP:
        more = [f"Nhiệm vụ bổ sung số {i + 1}." for i in range(k)]
        docs[f"sweep-{k:02d}"] = base | {"tasks": [base["tasks"][0] | {"paragraphs": more}, *base["tasks"][1:]]}
    for i, name in enumerate(NAMES):
        docs[f"issuer-{i}"] = base | {"issuer": base["issuer"] | {"name": name}}
    paths = {}
    for name, ctx in docs.items():
        paths[name] = out / f"{name}.docx"
        paths[name].write_bytes(templates.docx(ctx["stage"]).render(ctx))
    paths["report"], data = _report(out / "report", units=12)
    row = next(action_row(a, dt.date(2026, 11, 5), "<x@y>", None) for a in due_actions(
        shipped, LedgerState({}), dt.date(2026, 11, 5), BusinessCalendar(shipped.calendar)) if a.stage == "request")
    form = out / "reply-form.docx"   # not a letter: printed in the same call, checked on its own
    form.write_bytes(templates.docx("reply-form").render(context(shipped, row, BusinessCalendar(shipped.calendar))))
    pdfs = to_pdfs([*paths.values(), form], out / "pdf")
    assert all(pdfs.values()), pdfs
    return {name: (path, pdf_pages(pdfs[path]), pdfs[path]) for name, path in paths.items()} | {
        "_data": data, "_form": (form, pdf_pages(pdfs[form]), pdfs[form])}


def _page_of(pages, text: str) -> list[int]:
    """The pages (1-based) whose text holds `text`."""
    return [i for i, p in enumerate(pages, 1) if text in " ".join(p.text.split())]


def test_every_letter_and_the_report_pass_the_printed_page_checks(printed):
    for name, value in printed.items():
        if not name.startswith("_"):
            assert layout_breaches(value[0], value[1]) == [], name


def test_the_signature_block_stays_with_the_end_of_the_body_wherever_the_page_breaks(printed):
    signature_pages = {}
    for k in SWEEP:
        _, pages, _ = printed[f"sweep-{k:02d}"]
        at = {line: _page_of(pages, line)[-1]
              for line in ("KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC", "Hoàng Mạnh Thắng", "Nơi nhận:", "- Lưu: VT, TTBCXB.")}
        assert len(set(at.values())) == 1, (k, at)
        page = at["KT. GIÁM ĐỐC"]
        assert "điện thoại 0261 3 544 555./." in " ".join(pages[page - 1].text.split()), k   # the closing's end
        signature_pages[k] = page
    # the sweep crossed the page boundary: short bodies sign on page 1, long ones carry the closing to page 2
    assert signature_pages[SWEEP[0]] == 1 and signature_pages[SWEEP[-1]] == 2, signature_pages
    first_on_2 = min(k for k, p in signature_pages.items() if p == 2)
    _, pages, _ = printed[f"sweep-{first_on_2:02d}"]
    assert "Nhiệm vụ bổ sung số" in pages[0].text   # page 1 still holds the body up to the closing


def test_the_header_keeps_names_whole_and_the_quoc_hieu_on_one_line(printed):
    lines = {}
    for i, name in enumerate(NAMES):
        _, pages, _ = printed[f"issuer-{i}"]
        texts = [ln.text for ln in pages[0].lines]
        assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in texts
        lines[name] = texts
    assert "SỞ THÔNG TIN VÀ TRUYỀN THÔNG" in lines[NAMES[0]]     # both fit the left column on one line
    assert "SỞ KHOA HỌC VÀ CÔNG NGHỆ" in lines[NAMES[1]]
    assert "SỞ VĂN HÓA," in lines[NAMES[2]] and "THỂ THAO VÀ DU LỊCH" in lines[NAMES[2]]   # cut after the comma


def test_page_numbers_from_page_two(printed):
    _, pages, _ = printed["report"]
    assert len(pages) >= 4
    assert not pages[0].top.strip().isdigit()
    assert [p.top.strip() for p in pages[1:]] == [str(i) for i in range(2, len(pages) + 1)]


def test_the_appendix_is_landscape_with_its_header_on_every_page_and_whole_dates(printed):
    docx, pages, pdf = printed["report"]
    data = printed["_data"]
    info = subprocess.run(["pdfinfo", "-f", "1", "-l", str(len(pages)), str(pdf)], capture_output=True, text=True,
                          check=True).stdout
    sizes = [tuple(map(float, m)) for m in re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+)", info)]
    start = _page_of(pages, "PHỤ LỤC")[-1]
    assert all(w < h for w, h in sizes[:start - 1]), sizes          # the report itself: portrait
    assert all(w > h for w, h in sizes[start - 1:]), sizes          # the appendix: landscape, to the end
    appendix = pages[start - 1:]
    assert len(appendix) >= 2, "30 units should need more than one appendix page"
    for page in appendix:
        assert {"STT", "Ngày nhận", "Tình trạng", "Tệp đính kèm"} <= {ln.text for ln in page.lines}
    layout = subprocess.run(["pdftotext", "-layout", "-f", str(start), "-l", str(start), str(pdf), "-"],
                            capture_output=True, text=True, check=True).stdout
    caption = next(" ".join(ln.split()) for ln in layout.splitlines() if "Kèm theo" in ln)
    assert caption == "(Kèm theo Báo cáo số /BC-STTTT ngày tháng 12 năm 2026 của Sở Thông tin và Truyền thông)"
    dates = [d for p in appendix for ln in p.lines for d in DATE.findall(ln.text)]
    assert sorted(dates) == sorted(f"{r.received_on:%d/%m/%Y}" for r in data.rows if r.received_on)
    assert not [ln.text for p in appendix for ln in p.lines if re.search(r"\b\d{2}/\d{2}/\d{1,3}$", ln.text)]
    # indicator names keep their commas; only the number takes the dot
    assert "Tin, bài, ảnh đã đăng, phát: 1.234" in " ".join(appendix[0].text.split())
    # rows never split: every row of the docx table says so, and on every page the first line under
    # the header row is a row's first line (its STT), not the rest of a row from the page before
    table = Document(str(docx)).tables[-1]
    assert all(r._tr.trPr is not None and r._tr.trPr.find(qn("w:cantSplit")) is not None for r in table.rows)
    numbers = []
    for page in appendix:
        head = next(ln for ln in page.lines if ln.text == "STT")
        body = [ln for ln in page.lines if ln.y0 > (head.y0 + head.y1) / 2]
        stt = sorted((ln for ln in body if ln.text.isdigit() and ln.x0 < head.x1 + 10), key=lambda ln: ln.y0)
        assert abs(min(ln.y0 for ln in body) - stt[0].y0) < 2, page.text[:200]
        numbers += [int(ln.text) for ln in stt]
    assert sorted(numbers) == list(range(1, len(data.rows) + 1))


def test_the_report_chart_is_one_image(printed):
    docx, pages, _ = printed["report"]
    doc = Document(str(docx))
    images = [r for r in doc.part.rels.values() if r.reltype.endswith("/image")]
    assert len(images) == 1 and images[0].target_part.blob.startswith(b"\x89PNG")
    assert not re.search("[█▓░]", "\n".join(p.text for p in pages))
    assert _page_of(pages, "Biểu đồ tỷ lệ báo cáo theo nhóm đơn vị:")


def _break(src, dst) -> None:
    """A letter broken three ways: the signature row may split and the name is pushed to the
    next page, the header's left column is too narrow for the issuer name, page 1 is numbered."""
    doc = Document(str(src))
    header, sig = doc.tables[0], doc.tables[-1]
    for i, w in enumerate((Mm(38), Mm(134))):
        header.columns[i].width = w
        for c in header.columns[i].cells:
            c.width = w
    sig.rows[0]._tr.trPr.remove(sig.rows[0]._tr.trPr.find(qn("w:cantSplit")))
    right = sig.cell(0, 1)
    name = right.paragraphs[-1]
    for _ in range(45):
        name.insert_paragraph_before("")
    for p in right.paragraphs:
        p.paragraph_format.keep_with_next = False
    doc.sections[0].different_first_page_header_footer = False
    doc.save(str(dst))


def test_check_format_pdf_names_what_a_broken_letter_breaks(printed, tmp_path):
    good, _, _ = printed["sweep-00"]
    bad = tmp_path / "hong.docx"
    _break(good, bad)
    r = subprocess.run([sys.executable, "-m", "dondoc.cli", "check-format", "--pdf", str(good), str(bad)],
                       capture_output=True, text=True, cwd=ROOT, check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    report = r.stdout.split(str(bad))
    assert f"{good}: OK" in report[0]
    assert re.search(r"chữ ký: “Hoàng Mạnh Thắng” ở trang (\d), không cùng trang (?!\1)\d với “KT. GIÁM ĐỐC”",
                     report[1])
    assert "tiêu đề: “SỞ THÔNG TIN VÀ TRUYỀN THÔNG” xuống dòng giữa cụm từ" in report[1]
    assert "trang 1 có số trang (1)" in report[1]


def test_check_format_pdf_says_in_one_line_what_it_cannot_do(tmp_path, printed):
    not_docx = tmp_path / "ghi-chu.txt"
    not_docx.write_text("không phải văn bản")
    r = subprocess.run([sys.executable, "-m", "dondoc.cli", "check-format", "--pdf", str(not_docx)],
                       capture_output=True, text=True, cwd=ROOT, check=False)
    assert r.returncode == 2 and r.stderr.strip() == f"{not_docx}: không phải tệp .docx"
    good, _, _ = printed["request"]
    r = subprocess.run([sys.executable, "-m", "dondoc.cli", "check-format", "--pdf", str(good)], capture_output=True,
                       text=True, cwd=ROOT, env=os.environ | {"PATH": str(tmp_path)}, check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "LibreOffice (soffice)" in r.stderr


def test_the_memo_keeps_every_e_mail_address_whole_and_names_its_signer(printed, shipped):
    """The memo's contact column is wide enough for an address on one line: a leader reads
    “vanphong@khuyenhoc.daknong.example”, not “…daknong.exa / mple”."""
    _, pages, _ = printed["escalation"]
    lines = [ln.text for p in pages for ln in p.lines]
    addresses = {e for u in shipped.units for e in u.emails}
    shown = {w for ln in lines for w in ln.split() if "@" in w}
    assert shown and shown <= addresses, shown - addresses
    assert any(len(a) >= 33 for a in shown)   # the long ones too
    assert _page_of(pages, shipped.issuer.division_head.name) == _page_of(pages, "TRƯỞNG PHÒNG")


def test_the_reply_form_prints_its_markers_whole_and_its_title_capitalised(printed):
    """A unit keeps the markers it can read: “[de-xuat]” split as “[de-” / “xuat]” looks like text to edit."""
    _, pages, _ = printed["_form"]
    lines = [ln.text for p in pages for ln in p.lines]
    for marker in ("[kho-khan]", "[de-xuat]"):
        assert any(marker in ln for ln in lines), (marker, lines)
    title = next(ln for ln in lines if "kết quả" in ln.lower() and "PHIẾU" not in ln)
    assert title.startswith("Báo cáo kết quả"), title
    assert {"Nội dung", "Ý kiến của đơn vị"} <= set(lines)
