"""Letters issued the way a Sở issues them, over a replayed season with the real SMTP server
(aiosmtpd), LibreOffice and the real flows: one công văn per stage and day, drafted to the
secretariat, registered with `dondoc issue`, then one email per unit."""
from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import io
import json
import mailbox
import shutil
import subprocess
import sys
from email.message import EmailMessage

import pytest
from docx import Document

from dondoc.demo import sample_signed
from dondoc.ledger import Ledger
from flows.collect import collect
from flows.dispatch import dispatch
from flows.escalate import escalate
from models.calendar import BusinessCalendar
from models.loader import parse_plan
from models.rules import task_cycles
from tests.conftest import MINI, ROOT

pytestmark = pytest.mark.skipif(not shutil.which("soffice"), reason="LibreOffice (soffice) is not installed")

Y = 2026
# A second task for the press: Báo Sớm and Đài Muộn have two tasks due the same day.
SECOND = """  - id: chuyen-muc
    title: báo cáo chuyên mục năm {year}
    text: "Mở chuyên mục về học tập suốt đời; báo cáo số chuyên mục đã đăng năm {year}."
    assign: {groups: [bao-chi]}
    indicators: [tin-bai]
    due: "05/12"
policy:"""
SECRETARIAT = "vanthu-so@stttt.example"


def key(msg) -> str:
    return "".join(str(msg["X-Dondoc-Key"]).split())


def cli(*args, check=True):
    r = subprocess.run([sys.executable, "-m", "dondoc.cli", *args], capture_output=True, text=True, cwd=ROOT,
                       check=False)
    assert not check or r.returncode == 0, r.stderr
    return r


@pytest.fixture
def season(tmp_path, env, smtp_server, monkeypatch):
    text = (MINI.replace("policy:", SECOND, 1)
            .replace("email: dondoc@stttt.example", f"email: dondoc@stttt.example\n  secretariat_email: {SECRETARIAT}"))
    text = text.replace("- {id: huyen, name: UBND các huyện}",
                        "- {id: huyen, name: UBND các huyện, relation: subordinate}")
    (tmp_path / "units.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("DONDOC_CONFIG", str(tmp_path / "units.yaml"))
    monkeypatch.setenv("DONDOC_INBOX", f"maildir:{tmp_path / 'Maildir'}")
    monkeypatch.setenv("DONDOC_DATA", str(tmp_path / "data"))
    plan = parse_plan(text, "units.yaml")
    c = next(c for c, _ in task_cycles(plan, BusinessCalendar(), plan.tasks[0], (Y,)))
    return plan, c, tmp_path


def units_got(smtp_server) -> list:
    return [m for m in smtp_server.accepted if SECRETARIAT not in str(m["To"]) and "pgd@" not in str(m["To"])]


def test_a_season_in_sign_mode(season, smtp_server, tmp_path):
    _, c, _ = season
    days = {stage if not seq else f"{stage}-{seq}": day for stage, seq, day in c.followups}
    # the first request: one draft for the secretariat, nothing for any unit
    asyncio.run(dispatch.fn(today=c.request_on))
    assert units_got(smtp_server) == []
    draft = smtp_server.to(SECRETARIAT)
    assert len(draft) == 1 and str(draft[0]["Subject"]).startswith("Dự thảo công văn đề nghị báo cáo số 1")
    assert str(draft[0]["Subject"]).endswith("– chờ ký")
    names = sorted(p.get_filename() for p in draft[0].iter_attachments())
    assert names == ["du-thao-request-1.docx", "du-thao-request-1.pdf"]
    listed = json.loads(cli("drafts", "--json", "--today", c.request_on.isoformat()).stdout)
    assert [(d["id"], d["stage"], d["state"], d["units"]) for d in listed] == [(1, "request", "drafted",
                                                                                 ["som", "muon", "khong"])]
    doc = Document(listed[0]["draft"])
    body = "\n".join(p.text for p in doc.paragraphs)
    assert "Kính gửi:" in body and "- Cơ quan báo chí;" in body and "- UBND huyện Không." in body
    assert "Sở Thông tin và Truyền thông đề nghị các cơ quan, đơn vị báo cáo" in body       # a peer is asked
    assert "“Tuyên truyền về học tập suốt đời.”" in body                                   # the plan's own words
    assert all(tc.findall("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}p")
               for t in doc.tables for tc in t._tbl.iter("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}tc"))
    status = json.loads(cli("status", "--json", "--today", c.request_on.isoformat()).stdout)
    assert {s["status"] for r in status["rows"] for s in r["sent"]} == {"held"}
    assert "chờ ký" in cli("status", "--today", c.request_on.isoformat()).stdout

    # a day later the draft still waits: still nothing for units, and no second draft
    day2 = BusinessCalendar().add_working_days(c.request_on, 1)
    asyncio.run(dispatch.fn(today=day2))
    assert units_got(smtp_server) == [] and len(smtp_server.to(SECRETARIAT)) == 1

    # the văn thư registers the signed PDF; units receive exactly that file, once each
    signed = tmp_path / "ky-so.pdf"
    signed.write_bytes(sample_signed((tmp_path / listed[0]["pdf"]).read_bytes(), "Hoàng Mạnh Thắng"))
    bad = cli("issue", "1", "--number", "12/STTTT-TTBCXB", "--date", f"{day2:%d/%m/%Y}",
              "--signed", str(listed[0]["draft"]), check=False)
    assert bad.returncode == 1 and "không phải tệp PDF" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    r = cli("issue", "1", "--number", "12/STTTT-TTBCXB", "--date", f"{day2:%d/%m/%Y}", "--signed", str(signed),
            "--today", day2.isoformat())
    assert "cảnh báo" not in r.stderr and "3 thư chờ gửi" not in r.stdout
    [registered] = [json.loads(e["detail"]) for e in Ledger(tmp_path / "dondoc.db").events("desk")]
    assert registered["action"] == "issue" and registered["by"].endswith("(dòng lệnh)")   # who, as the desk records
    again = cli("issue", "1", "--number", "13/STTTT-TTBCXB", "--date", f"{day2:%d/%m/%Y}", "--today",
                day2.isoformat(), check=False)
    assert again.returncode == 1 and again.stderr.strip() == "dự thảo số 1 đã ban hành: số 12/STTTT-TTBCXB, ngày " \
        f"{day2:%d/%m/%Y}"
    unknown = cli("issue", "99", "--number", "1/X", "--date", f"{day2:%d/%m/%Y}", check=False)
    assert unknown.returncode == 1 and unknown.stderr.strip().startswith("không có dự thảo số 99")
    asyncio.run(dispatch.fn(today=day2))
    got = units_got(smtp_server)
    per_unit = {m["To"].addresses[0].addr_spec: m for m in got}
    assert len(got) == 3 and len(per_unit) == 3                                   # one email per unit
    for m in got:
        pdfs = [p for p in m.iter_attachments() if p.get_content_type() == "application/pdf"]
        assert len(pdfs) == 1 and pdfs[0].get_content() == signed.read_bytes()   # byte for byte
    som = next(m for m in got if "vanthu@som.example" in str(m["To"]))
    forms = sorted(p.get_filename() for p in som.iter_attachments() if p.get_filename().endswith(".docx"))
    assert forms == ["Phiếu số liệu - bao-cao-nam - Báo Sớm.docx", "Phiếu số liệu - chuyen-muc - Báo Sớm.docx"]
    text = som.get_body(("plain",)).get_content()
    assert "Văn bản số 12/STTTT-TTBCXB" in text and "báo cáo kết quả năm 2026" in text.lower()
    assert "Báo cáo chuyên mục năm 2026: hạn gửi trước ngày 05/12/2026" in text
    assert str(som["Subject"]).startswith(f"[kh-test/{Y}/bao-cao-nam/som]")
    asyncio.run(dispatch.fn(today=day2))
    assert len(units_got(smtp_server)) == 3                                      # a rerun sends nothing twice

    # two replies to Báo Sớm's one email: the first counts for its first task, the second for the other
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for i in range(2):
        reply = EmailMessage()
        reply["From"], reply["To"] = "vanthu@som.example", "dondoc@stttt.example"
        reply["Subject"] = f"Re: {som['Subject']}"
        reply["Message-ID"], reply["In-Reply-To"] = f"<r{i}@som.example>", som["Message-ID"]
        reply["Date"] = "Mon, 16 Nov 2026 09:00:00 +0700"
        reply.set_content(f"Báo Sớm gửi báo cáo.\nTin, bài: {10 + i}\n")
        box.add(bytes(reply))
    asyncio.run(collect.fn(today=days["reminder-1"]))
    reports = {r["task_id"] for r in Ledger(tmp_path / "dondoc.db").reports("kh-test") if r["unit_id"] == "som"}
    assert reports == {"bao-cao-nam", "chuyen-muc"}, [(r["status"], r["task_id"], r["reason"])
                                                     for r in Ledger(tmp_path / "dondoc.db").inbound()]

    # notice mode: the reminders go out on their day as plain emails citing the issued letter, no công văn
    smtp_server.accepted.clear()
    asyncio.run(dispatch.fn(today=days["reminder-1"]))
    got = units_got(smtp_server)
    assert smtp_server.to(SECRETARIAT) == [] and len(got) == 2                    # muon (two tasks), khong
    muon = next(m for m in got if "muon" in str(m["To"]))
    assert list(muon.iter_attachments()) == []
    text = muon.get_body(("plain",)).get_content()
    assert "Phòng Thông tin - Báo chí - Xuất bản, Sở Thông tin và Truyền thông xin nhắc" in text
    assert text.count("đã đề nghị tại Văn bản số 12/STTTT-TTBCXB ngày") == 2
    assert muon["In-Reply-To"] is not None                                       # threaded to the request
    khong = next(m for m in got if "khong" in str(m["To"])).get_body(("plain",)).get_content()
    assert "đã yêu cầu tại Văn bản số 12/STTTT-TTBCXB" in khong                  # a subordinate is required

    # urging (sign): a draft again; issued without --signed, dondoc prints the number and date in
    smtp_server.accepted.clear()
    asyncio.run(escalate.fn(today=days["urging"]))
    assert units_got(smtp_server) == [] and len([m for m in smtp_server.to(SECRETARIAT) if "/draft-" in key(m)]) == 1
    cli("issue", "2", "--number", "13/STTTT-TTBCXB", "--date", f"{days['urging']:%d/%m/%Y}", "--send",
        "--today", days["urging"].isoformat())
    got = units_got(smtp_server)
    assert len(got) == 2
    khong = next(m for m in got if "khong" in str(m["To"]))
    pdf = next(p for p in khong.iter_attachments() if p.get_content_type() == "application/pdf").get_content()
    (tmp_path / "13.pdf").write_bytes(pdf)
    printed = subprocess.run(["pdftotext", str(tmp_path / "13.pdf"), "-"], capture_output=True, text=True,
                             check=True).stdout
    assert "13/STTTT-TTBCXB" in printed and f"ngày {days['urging']:%d} tháng" in printed
    assert "đề nghị Thủ trưởng các cơ quan, đơn vị" in " ".join(printed.split())  # a peer among them: đề nghị
    issued = next(d for d in json.loads(cli("drafts", "--all", "--json").stdout) if d["id"] == 2)
    folder = tmp_path / "out" / "kh-test" / issued["day"] / "urging-2"
    assert issued["draft"] == str(folder / "13-STTTT-TTBCXB.docx")             # the .docx is kept
    r = cli("check-format", "--pdf", str(folder / "du-thao-urging-2.docx"), issued["draft"])
    assert r.stdout.count(": OK") == 2


def test_the_memo_is_internal_and_mentions_drafts_waiting(season, smtp_server, tmp_path):
    _, c, _ = season
    asyncio.run(dispatch.fn(today=c.request_on))      # the draft is never signed
    smtp_server.accepted.clear()
    esc = asyncio.run(escalate.fn(today=c.escalate_on))
    memo = [m for m in smtp_server.accepted if key(m).endswith("/escalation")]
    assert len(memo) == 1 and esc["memos"] == 1
    assert [a.addr_spec for a in memo[0]["To"].addresses] == ["pgd@stttt.example"]
    part = next(p for p in memo[0].iter_attachments())
    doc = Document(io.BytesIO(part.get_content()))
    cells = "\n".join(c.text for t in doc.tables for r in t.rows for c in r.cells)
    body = "\n".join(p.text for p in doc.paragraphs)
    assert "SỞ THÔNG TIN VÀ TRUYỀN THÔNG\nPHÒNG THÔNG TIN -\nBÁO CHÍ - XUẤT BẢN" in cells   # the division under its Sở
    assert "Kính gửi: Phó Giám đốc Hoàng Mạnh Thắng." in body
    assert "TRƯỞNG PHÒNG" in cells and "Nơi nhận:" in cells and "kính báo cáo" in body
    assert "dự thảo số 1" in body and "chờ ký" in body
    digest = next(m for m in smtp_server.accepted if key(m).endswith("/digest")).get_body(("plain",)).get_content()
    assert "Dự thảo công văn chờ ký" in digest and "dự thảo số 1" in digest
    out = tmp_path / "memo.docx"
    out.write_bytes(part.get_content())
    r = cli("check-format", "--pdf", str(out))
    assert r.returncode == 0, r.stdout


PHONG = "phongvh@stttt.example"   # a division of the Sở itself (group relation: internal)


@pytest.fixture
def with_division(season, monkeypatch):
    """The season's plan with a division of the Sở asked too, by plain email."""
    _, _, tmp_path = season
    text = (tmp_path / "units.yaml").read_text(encoding="utf-8")
    text = text.replace("- {id: huyen, name: UBND các huyện, relation: subordinate}",
                        "- {id: huyen, name: UBND các huyện, relation: subordinate}\n"
                        "  - {id: phong, name: Các phòng của Sở, relation: internal}")
    division = f"  - {{id: phong-vh, name: Phòng Văn hóa, group: phong, emails: [{PHONG}]}}\n"
    text = text.replace("units:\n", "units:\n" + division, 1).replace("assign: {groups: [bao-chi, huyen]}",
                                                                     "assign: {groups: [bao-chi, huyen, phong]}")
    (tmp_path / "units.yaml").write_text(text, encoding="utf-8")
    plan = parse_plan(text, "units.yaml")
    c = next(c for c, _ in task_cycles(plan, BusinessCalendar(), plan.tasks[0], (Y,)))
    return plan, c, tmp_path


def test_grouping_leaves_internal_units_out_of_documents(with_division, tmp_path):
    from dondoc.issuing import grouping
    from dondoc.letters import addressees, verb_for
    from models.rules import Action
    plan, c, _ = with_division
    acts = [Action(f"kh-test/{Y}/bao-cao-nam/{u}/request", "request", "kh-test", str(Y), "bao-cao-nam", u, 0,
                   c.request_on, c.deadline, ("x@y.example",)) for u in ("som", "phong-vh", "khong")]
    mails, docs = grouping(plan, acts, c.request_on)
    assert set(mails) == {a.key for a in acts}                                   # every unit has its email
    [(doc, keys)] = docs
    assert json.loads(doc["units"]) == ["som", "khong"] and len(keys) == 2       # the division is in no document
    assert addressees(plan, ["som", "phong-vh", "khong"]) == ["Báo Sớm", "UBND huyện Không"]
    assert verb_for(plan, ["khong", "phong-vh"]) == "đề nghị" and verb_for(plan, ["khong"]) == "yêu cầu"
    only = [a for a in acts if a.unit_id == "phong-vh"]
    assert grouping(plan, only, c.request_on)[1] == []                           # no công văn for it alone
    # a preview of the day groups them the same way: the division's email names no blank number
    cli("preview", "--today", c.request_on.isoformat(), "--out", str(tmp_path / "p"))
    day = tmp_path / "p" / "kh-test" / c.request_on.isoformat()
    assert "Phòng Văn hóa" not in "\n".join(p.text for p in Document(day / "du-thao-request.docx").paragraphs)
    def text(unit: str) -> str:
        mail = email.message_from_bytes((day / "request" / f"{unit}.eml").read_bytes(), policy=email.policy.default)
        return " ".join(mail.get_body(("plain",)).get_content().split())
    assert "Văn bản số" in text("som")                                           # under the blank number
    assert "Văn bản số" not in text("phong-vh")
    assert "đề nghị Phòng Văn hóa thực hiện và báo cáo kết quả nhiệm vụ sau:" in text("phong-vh")


def test_an_internal_division_gets_plain_emails_never_held(with_division, smtp_server, tmp_path):
    _, c, _ = with_division
    days = {stage if not seq else f"{stage}-{seq}": day for stage, seq, day in c.followups}
    asyncio.run(dispatch.fn(today=c.request_on))
    [draft] = smtp_server.to(SECRETARIAT)
    assert "Gửi 3 cơ quan, đơn vị" in draft.get_body(("plain",)).get_content()   # the division is not counted
    listed = json.loads(cli("drafts", "--json", "--today", c.request_on.isoformat()).stdout)
    assert [d["units"] for d in listed] == [["som", "muon", "khong"]]
    body = "\n".join(p.text for p in Document(listed[0]["draft"]).paragraphs)
    assert "Phòng Văn hóa" not in body and "- UBND huyện Không." in body
    # its email went out at once, while the others wait for the signature
    [mail] = [m for m in units_got(smtp_server)]
    assert [a.addr_spec for a in mail["To"].addresses] == [PHONG]
    assert [p.get_content_type() for p in mail.iter_attachments()] == [
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"]   # its reply form, no PDF
    text = " ".join(mail.get_body(("plain",)).get_content().split())
    assert ("Thực hiện Kế hoạch truyền thông về học tập suốt đời, Phòng Thông tin - Báo chí - Xuất bản đề nghị "
            "Phòng Văn hóa thực hiện và báo cáo kết quả nhiệm vụ sau:") in text
    assert "xin nhắc" not in text and "Văn bản số" not in text
    status = json.loads(cli("status", "--json", "--today", c.request_on.isoformat()).stdout)
    sent = {r["unit"]: {s["status"] for s in r["sent"]} for r in status["rows"]}
    assert sent["phong-vh"] == {"sent"} and sent["som"] == {"held"}

    # once the công văn is issued, the division's reminder names it as the one the other units received
    cli("issue", "1", "--number", "12/STTTT-TTBCXB", "--date", f"{c.request_on:%d/%m/%Y}", "--send",
        "--today", c.request_on.isoformat())
    assert len(smtp_server.to(PHONG)) == 1                                       # not sent twice
    smtp_server.accepted.clear()
    asyncio.run(dispatch.fn(today=days["reminder-1"]))
    [mail] = smtp_server.to(PHONG)
    text = " ".join(mail.get_body(("plain",)).get_content().split())
    assert "Phòng Thông tin - Báo chí - Xuất bản xin nhắc: đến nay chưa nhận được báo cáo của Phòng Văn hóa" in text
    assert ("(cùng nội dung Văn bản số 12/STTTT-TTBCXB ngày " f"{c.request_on:%d/%m/%Y}"
            " của Sở Thông tin và Truyền thông gửi các cơ quan, đơn vị)") in text
    assert "đã đề nghị tại" not in text
    html = mail.get_body(("html",)).get_content()
    assert "Phòng Văn hóa" in html and "cùng nội dung Văn bản số 12/STTTT-TTBCXB" in html


def test_an_internal_division_must_be_on_the_issuers_domain():
    from models.loader import PlanInvalid
    text = (MINI.replace("- {id: huyen, name: UBND các huyện}",
                         "- {id: huyen, name: UBND các huyện}\n  - {id: phong, name: Các phòng, relation: internal}")
            .replace("units:\n", "units:\n  - {id: phong-vh, name: Phòng Văn hóa, group: phong, "
                                 "emails: [phongvh@stttt.example, vh@gmail.example]}\n", 1))
    with pytest.raises(PlanInvalid) as e:
        parse_plan(text, "units.yaml")
    assert "vh@gmail.example: đơn vị thuộc nhóm nội bộ 'phong' phải có địa chỉ thư của cơ quan ban hành " \
           "(@stttt.example)" in str(e.value)
    assert "phongvh@stttt.example" not in str(e.value)


def test_an_internal_divisions_email_reads_right_at_every_stage(with_division):
    """What the drafting division writes to a sister division: the plan cited at every stage,
    a request that asks (not a reminder), then a reminder, an urging and an overdue notice,
    naming the công văn the other units received; the HTML escapes what the plan says."""
    from dondoc.ledger import action_row
    from dondoc.letters import unit_mail
    from dondoc.render import Templates
    from models.rules import Action
    plan, c, _ = with_division
    plan = plan.model_copy(update={"units": [u.model_copy(update={"name": "Phòng Văn hóa <VH>"})
                                             if u.id == "phong-vh" else u for u in plan.units]})
    requests = {("bao-cao-nam", str(Y)): ("12/STTTT-TTBCXB", "06/11/2026")}
    opening = {"request": "đề nghị Phòng Văn hóa <VH> thực hiện và báo cáo kết quả nhiệm vụ sau:",
               "reminder": "xin nhắc: đến nay chưa nhận được báo cáo của Phòng Văn hóa <VH> về:",
               "urging": "đề nghị Phòng Văn hóa <VH> khẩn trương gửi báo cáo về:",
               "overdue": "đề nghị Phòng Văn hóa <VH> gửi ngay báo cáo đã quá hạn về:"}
    for stage, words in opening.items():
        a = Action(f"kh-test/{Y}/bao-cao-nam/phong-vh/{stage}", stage, "kh-test", str(Y), "bao-cao-nam",  # type: ignore[arg-type]
                   "phong-vh", 0, c.deadline, c.deadline, (PHONG,))
        row = action_row(a, c.deadline, f"<{stage}@stttt.example>", None)
        letter = unit_mail(plan, [row], Templates(), BusinessCalendar(), "dondoc@stttt.example",
                           dt.datetime(Y, 12, 1, 8, tzinfo=dt.UTC), requests=requests)
        msg = email.message_from_bytes(letter.data, policy=email.policy.default)
        text = " ".join(msg.get_body(("plain",)).get_content().split())
        assert ("Thực hiện Kế hoạch truyền thông về học tập suốt đời, Phòng Thông tin - Báo chí - Xuất bản "
                + words) in text, (stage, text)
        assert "(cùng nội dung Văn bản số 12/STTTT-TTBCXB ngày 06/11/2026 của Sở Thông tin và Truyền thông " \
               "gửi các cơ quan, đơn vị)" in text
        assert "đã đề nghị tại" not in text and "chúng tôi" not in text
        assert ("xin nhắc" in text) == (stage == "reminder")
        html = msg.get_body(("html",)).get_content()
        assert "Phòng Văn hóa &lt;VH&gt;" in html and "<VH>" not in html
        assert not [p for p in msg.iter_attachments() if p.get_content_type() == "application/pdf"]
