"""The demo plays the whole cycle with real flows; the report shows what its simulated units did."""
from __future__ import annotations

import datetime as dt
import email
import re
import shutil
from email import policy
from pathlib import Path

import pytest
from docx import Document

from dondoc import demo
from dondoc.ledger import Ledger
from dondoc.letters import is_internal
from dondoc.ndformat import check, check_files, layout_breaches, pdf_pages
from models.keys import Key
from tests.conftest import SHIPPED


@pytest.fixture(scope="module")
def played(prefect_api, tmp_path_factory):
    """The demo's year, played once for this module: (output folder, result, days played)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("DONDOC_CONFIG", str(SHIPPED))
        for key in ("DONDOC_DB", "DONDOC_OUT", "DONDOC_DATA", "DONDOC_INBOX", "DONDOC_SMTP_HOST", "DONDOC_SMTP_PORT",
                    "DONDOC_SMTP_SECURITY", "DONDOC_SMTP_BACKOFF"):
            monkeypatch.setenv(key, "25")   # registered with monkeypatch, so the demo's settings are undone after
        out = tmp_path_factory.mktemp("demo") / "demo"
        demo.settings_for(out)
        days: list[dt.date] = []
        result = demo.run(out, 2026, lambda day, n: days.append(day))
        yield out, result, days


def test_the_demo_cycle(played):
    out, result, days = played
    # every cycle of the year: Q1 of the quarterly plan opens in February, its year report in January
    assert days[0] == dt.date(2026, 2, 27) and result["last_day"].year == 2027
    led = Ledger(out / "dondoc.db")
    # one mailbox for both plans: no reply of one plan is triaged or counted by the other
    assert led.inbound("triage") == []
    matched = led.inbound("matched")
    assert {r["plan_id"] for r in matched} == {"hoc-tap-suot-doi", "binh-dan-hoc-vu-so"}
    assert all(f"[{r['plan_id']}/{r['period']}/{r['task_id']}/{r['unit_id']}]" in r["subject"] for r in matched)
    built = {pid: {r["period"]: r for r in rs} for pid, rs in result["reports"].items()}
    assert set(built["hoc-tap-suot-doi"]) == {"2026"}
    assert set(built["binh-dan-hoc-vu-so"]) == {"2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4", "2026-H1", "2026-H2",
                                                "2026"}
    # the seed plan's year: 43 reports asked for (21/4 and 01-07/10 too); the simulated units: one never
    # answers, one address bounces, some answer late, one out of office answers late too; the Sở's own
    # division (on the Sở's domain) is a unit like any other
    seed = built["hoc-tap-suot-doi"]["2026"]
    # the Sở's own division records its Ngày Sách report by hand (dondoc record): on time
    assert (seed["asked"], seed["on_time"], seed["late"], seed["overdue"], seed["exempt"]) == (43, 36, 4, 3, 1)
    # the quarterly plan's year report counts its own (one-off) cycle, never the quarters again
    assert built["binh-dan-hoc-vu-so"]["2026"]["asked"] == 9
    # each quarter: 6 xã/phường and the newspaper; Q4 also the one-off report of 20/10 (9 units)
    assert [built["binh-dan-hoc-vu-so"][q]["asked"] for q in ("2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4")] == [
        7, 7, 7, 16]
    for pid, periods in built.items():
        for label, r in periods.items():
            docx = out / "out" / f"bao-cao-{pid}-{label}.docx"
            assert str(docx) in r["files"] and check(docx) == []
    body = "\n".join(p.text for p in Document(str(out / "out" / "bao-cao-hoc-tap-suot-doi-2026.docx")).paragraphs)
    assert "đã đề nghị 43 lượt báo cáo của 26 đơn vị" in body
    assert "36 báo cáo đúng hạn (83,7%); 4 báo cáo trễ hạn (9,3%); 3 chưa báo cáo (7,0%)" in body
    # section I: what units did, in their own words, under every item they wrote about; never a cover note
    quoted = [p for p in body.splitlines() if p.startswith("- ") and "“" in p]
    assert len(quoted) > 60 and len({q.split("“", 1)[1] for q in quoted}) == len(quoted)   # no sentence reused
    assert not any(w in body for w in ("gửi báo cáo kết quả thực hiện nhiệm vụ", "xin lỗi", "Trân trọng", "{year}"))
    assert ("- Phòng Thông tin - Báo chí - Xuất bản, Sở Thông tin và Truyền thông "
            "(Ngày Sách và Văn hóa đọc Việt Nam): “") \
        in body
    assert "(Tuần lễ hưởng ứng học tập suốt đời): “" in body and "(chi tiết tại báo cáo của đơn vị)" in body
    assert "2. Khó khăn, vướng mắc" in body and "1. Đề xuất của các đơn vị" in body
    assert body.index("1. Đề xuất của các đơn vị") < body.index("Đề nghị UBND tỉnh tiếp tục quan tâm")
    q4 = out / "out" / "bao-cao-binh-dan-hoc-vu-so-2026-Q4.docx"
    second = "\n".join(p.text for p in Document(str(q4)).paragraphs)
    assert "(Ngày Chuyển đổi số quốc gia): “" in second and "Chưa có đơn vị báo cáo" not in second


def _documents(out: Path) -> tuple[list[Path], list[dict]]:
    """What the demo printed for a reader: every report, the first draft of each stage of each
    plan, every memo; and the issued documents (from the ledger)."""
    letters = out / "out"
    drafts: dict[tuple[str, str], Path] = {}
    for docx in sorted(letters.glob("*/*/*/du-thao-*.docx")):
        drafts.setdefault((docx.parts[-4], docx.parent.name.split("-")[0]), docx)
    memos = sorted(letters.glob("*/*/escalation/*.docx"))
    docs = sorted(letters.glob("bao-cao-*.docx")) + list(drafts.values()) + memos
    return docs, Ledger(out / "dondoc.db").documents(state="issued")


@pytest.mark.skipif(not shutil.which("soffice") or not shutil.which("pdftotext"), reason="LibreOffice, poppler")
def test_every_document_of_the_demo_passes_check_format_pdf(played):
    """Reports, a draft of every stage (request, urging, overdue; reminders go as notices), the
    memos: Decree 30 rules and the printed page (one LibreOffice call for all); the issued
    letters as the units receive them: numbered, dated, and still laid out right."""
    out, result, _ = played
    docs, issued = _documents(out)
    stages = {d.parent.name.split("-")[0] for d in docs if d.name.startswith("du-thao-")}
    assert stages == {"request", "urging", "overdue"} and any("escalation" in d.parts for d in docs)
    assert len([d for d in docs if d.name.startswith("bao-cao-")]) == 8   # the seed plan's year, 7 of the other
    assert {str(d): b for d, b in check_files(docs, pdf=True).items() if b} == {}
    assert len(issued) == result["issued"] > 20
    for doc in issued:
        number, day = doc["number"], dt.date.fromisoformat(doc["issued_on"])
        assert re.fullmatch(r"\d{2,}/[A-ZĐ]+-[A-ZĐ]+", number), number
        assert "so-tttt" not in doc["units"], number   # the Sở's own division: asked by email, never by công văn
        pages = pdf_pages(Path(doc["pdf_path"]))
        first = " ".join(pages[0].text.split())
        seq, code = number.split("/", 1)   # stamped over the blank: poppler reads the two fonts as two words
        assert re.search(rf"Số: {seq} ?/{code}\b", first), first[:300]   # the văn thư's number, not a blank
        assert re.search(rf"ngày {day:%d} tháng {day.month:02d}" if day.month <= 2 else
                         rf"ngày {day:%d} tháng {day.month} năm {day.year}", first), first[:300]
        draft = next(Path(doc["pdf_path"]).parent.glob("du-thao-*.docx"))   # stamped, signed: the same layout
        assert layout_breaches(draft, pages) == [], number


ENGLISH = re.compile(r"\b(Dear|Please|deadline|report|attached|None|null|True|False|Regards|Subject)\b")


def test_the_demo_emails_read_as_a_unit_reads_them(played, shipped):
    """Every email a unit received: Vietnamese with its diacritics, no English, no template
    syntax, no year but the cycle's in what it asks; the official letter as a numbered PDF
    and the form as .docx, named for a person. The Sở's own division (group `so`, internal)
    gets no công văn: a plain email citing the plan."""
    out, result, _ = played
    box = Path(result["mailbox"])
    seen: dict[str, int] = {}
    internal_seen: set[str] = set()
    for path in sorted(box.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        key = Key.parse(str(msg["X-Dondoc-Key"] or "").replace(" ", ""))
        stage = key.stage
        if stage not in ("request", "reminder", "urging", "overdue", "ack"):
            continue
        seen[stage] = seen.get(stage, 0) + 1
        subject, text = str(msg["Subject"]), msg.get_body(("plain",)).get_content()
        html_part = msg.get_body(("html",))   # an acknowledgement is plain text alone
        assert (html_part is None) == (stage == "ack"), path.name
        html = html_part.get_content() if html_part else ""
        assert text.startswith("Kính gửi: ") and re.search("[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệịỉọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]",
                                                         text), path.name
        for part in (subject, text, html):
            assert not re.search(r"\{\{|\{%|\}\}|%\}|\[\[|\bnan\b", part), (path.name, part[:200])
            assert not ENGLISH.search(part), (path.name, ENGLISH.search(part))
        assert not re.search(r"\bkế hoạch [A-ZĐ]", text), path.name   # “Kế hoạch triển khai …”, a document's name
        years = set(re.findall(r"\b20\d\d\b", re.sub(r"“[^”]*”", "", subject + text)))   # not a quoted name's
        assert years == {"2026"}, (path.name, years)
        files = {p.get_filename(): p.get_content_type() for p in msg.iter_attachments()}
        if stage == "ack" or stage == "reminder":   # reminders are notices: no công văn
            assert files == {}, (path.name, files)
            continue
        if key.plan == shipped.plan.id and key.unit and is_internal(shipped, key.unit):
            internal_seen.add(stage)
            assert "application/pdf" not in files.values() and "đã đề nghị tại" not in text, (path.name, files)
            assert "Thực hiện Kế hoạch truyền thông về Chương trình" in " ".join(text.split()), path.name
            assert (stage == "request") == bool(files), files   # the request carries its reply form
            continue
        pdfs = [n for n, t in files.items() if t == "application/pdf"]
        assert len(pdfs) == 1 and re.fullmatch(r"Công văn \d{2,}-[A-ZĐ]+-[A-ZĐ]+ [^\d/\\]+\.pdf", pdfs[0]), files
        number = pdfs[0].split()[2].replace("-", "/", 1)
        assert f"Văn bản số {number} ngày" in text, (path.name, number)
        forms = [n for n in files if n.endswith(".docx")]
        assert (stage == "request") == bool(forms) and all(n.startswith("Phiếu số liệu - ") for n in forms), files
    assert set(seen) == {"request", "reminder", "urging", "overdue", "ack"}, seen
    assert "request" in internal_seen, internal_seen


def test_a_simulated_units_reply_keeps_a_long_vietnamese_subject_readable():
    """The desk showed the demo's replies as "V/v báocáokếtquảhưởng =?utf-8?q?=E1=BB= A9ng?=…":
    Python's folding at 78 characters broke the subject in the simulated unit's own mail."""
    import datetime as dt
    from email import message_from_bytes, policy
    from email.message import EmailMessage

    from dondoc.demo import _reply
    from dondoc.letters import _encoded
    subject = "[hoc-tap-suot-doi/2026/tuan-le-hoc-tap/cong-ttdt] V/v báo cáo kết quả hưởng ứng Tuần lễ học tập năm 2026"
    letter = EmailMessage()
    letter["From"], letter["Message-ID"] = "dondoc@stttt.example", "<m@s>"
    letter["Subject"] = _encoded(subject).replace("\r\n ", " ")   # as dondoc sends it, unfolded
    raw = _reply("vanthu@ubnd.example", letter, "Đã nhận.", dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC))
    assert message_from_bytes(raw, policy=policy.default)["Subject"] == "Re: " + subject
