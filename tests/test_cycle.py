"""A whole cycle, from the first request to the report, with the real SMTP and IMAP servers:
one unit on time, one late, one never, one exempt, one whose address bounces."""
from __future__ import annotations

import asyncio
import datetime as dt
import imaplib
import io
import subprocess
import uuid
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from docx import Document
from imap_tools import MailBoxUnencrypted

from dondoc.ledger import Ledger
from dondoc.ndformat import check
from flows.collect import collect
from flows.dispatch import dispatch
from flows.escalate import escalate
from flows.report import report
from models.calendar import BusinessCalendar
from models.rules import task_cycles
from tests import corpus
from tests.conftest import MINI, issue_drafts

Y = corpus.YEAR            # a past cycle: Dovecot keeps only past arrival times
TZ = dt.timezone(dt.timedelta(hours=7))
HONG = """  - id: hong
    name: UBND huyện Hỏng Địa Chỉ
    group: huyen
    emails: [vanthu@hong.example]
"""


def key(msg) -> str:
    return "".join(str(msg["X-Dondoc-Key"]).split())


def reply(sender, task_unit, text, when, attach=True):
    m = EmailMessage()
    m["From"], m["To"] = sender, "dondoc@stttt.example"
    m["Subject"] = f"Re: [kh-test/{Y}/bao-cao-nam/{task_unit}] V/v báo cáo"
    m["Message-ID"], m["Date"] = f"<{uuid.uuid4().hex}@unit.example>", format_datetime(when)
    m.set_content(text)
    if attach:
        m.add_attachment(corpus.report_docx(f"Báo cáo kết quả thực hiện năm {Y}\nĐã đăng 10 tin, bài về học tập suốt "
                                            "đời trên trang thông tin điện tử."), *corpus.DOCX_CT,
                         filename="Báo cáo năm.docx")
    return bytes(m)


@pytest.fixture
def cycle_env(tmp_path, env, dovecot, monkeypatch):
    plan = tmp_path / "units.yaml"
    plan.write_text(MINI.replace("tasks:\n", HONG + "tasks:\n", 1), encoding="utf-8")
    folder = f"c{uuid.uuid4().hex[:10]}"
    box = MailBoxUnencrypted(dovecot["host"], dovecot["port"]).login(dovecot["user"], dovecot["password"])
    box.folder.create(folder)
    for k, v in {"DONDOC_CONFIG": str(plan), "DONDOC_IMAP_HOST": dovecot["host"],
                 "DONDOC_IMAP_PORT": str(dovecot["port"]), "DONDOC_IMAP_USERNAME": dovecot["user"],
                 "DONDOC_IMAP_PASSWORD": dovecot["password"], "DONDOC_IMAP_SECURITY": "none",
                 "DONDOC_IMAP_FOLDER": folder, "DONDOC_DATA": str(tmp_path / "data")}.items():
        monkeypatch.setenv(k, v)
    yield box, folder
    box.logout()


def test_a_whole_cycle(prefect_api, cycle_env, env, smtp_server, tmp_path, mini):
    box, folder = cycle_env
    cal = BusinessCalendar()
    c = next(c for c, _ in task_cycles(mini, cal, mini.tasks[0], (Y,)))
    days = {stage if not seq else f"{stage}-{seq}": day for stage, seq, day in c.followups}
    assert c.deadline == dt.date(Y, 12, 5)

    def arrive(raw, when):
        box.client.append(folder, "", imaplib.Time2Internaldate(when), raw)

    def sent(stage):
        return [m for m in smtp_server.accepted if key(m).endswith(stage)]

    # the request: its draft to the secretariat first; once issued, one email per unit
    assert asyncio.run(dispatch(today=c.request_on))["sent"] == 1 and sent("/draft-1")
    assert [m for m in smtp_server.accepted if "/request" in key(m)] == []
    issue_drafts(env, c.request_on, 1)
    assert asyncio.run(dispatch(today=c.request_on))["sent"] == 4                     # som, muon, khong, hong
    led = Ledger(env["DONDOC_DB"])
    hong_request = led.db["outbound"].get(f"kh-test/{Y}/bao-cao-nam/hong/request")
    arrive(reply("vanthu@som.example", "som", "Báo Sớm gửi báo cáo.\nTin, bài: 10\n",
                 dt.datetime(Y, 11, 20, 9, tzinfo=TZ)), dt.datetime(Y, 11, 20, 9, tzinfo=TZ))
    arrive((f"From: MAILER-DAEMON@mx.hong.example\r\nTo: dondoc@stttt.example\r\nSubject: Undelivered\r\n"
            f"Message-ID: <dsn@mx.hong.example>\r\nContent-Type: multipart/report; report-type=delivery-status; "
            f"boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b\r\n"
            f"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.hong.example\r\n\r\n"
            f"Final-Recipient: rfc822; vanthu@hong.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b\r\n"
            f"Content-Type: message/rfc822\r\n\r\nMessage-ID: {hong_request['message_id']}\r\n\r\nx\r\n--b--\r\n"
            ).encode(), dt.datetime(Y, 11, 5, 9, 5, tzinfo=TZ))
    got = asyncio.run(collect(today=days["reminder-1"]))
    assert (got["matched"], got["bounce"], got["acks_sent"]) == (1, 1, 1)
    # hong's address bounced: it is written to no more (the digest and status say so)
    assert asyncio.run(dispatch(today=days["reminder-1"]))["sent"] == 2               # muon, khong
    assert asyncio.run(dispatch(today=days["reminder-2"]))["sent"] == 2
    assert asyncio.run(escalate(today=days["urging"]))["sent"] == 1                   # the urging's draft
    issue_drafts(env, days["urging"], 2)
    assert asyncio.run(escalate(today=days["urging"]))["sent"] == 2
    urging_muon = next(m for m in sent("urging") if "/muon/" in key(m))
    assert [a.addr_spec for a in urging_muon["Cc"].addresses] == ["gd@muon.example"]

    # the escalation on the last working day lists exactly the units still missing
    esc = asyncio.run(escalate(today=c.escalate_on))
    assert esc["sent"] == 1 and esc["digest"] == 1
    letter = sent("/escalation")[0]
    assert [a.addr_spec for a in letter["To"].addresses] == ["pgd@stttt.example"]
    doc = Document(io.BytesIO(next(p for p in letter.iter_attachments()).get_content()))
    listed = [row.cells[1].text for row in doc.tables[1].rows[1:]]   # [0] the header, [2] the signature
    assert listed == ["Đài Muộn", "UBND huyện Không", "UBND huyện Hỏng Địa Chỉ"]
    history = {row.cells[1].text: row.cells[3].text for row in doc.tables[1].rows[1:]}
    assert history["Đài Muộn"].startswith(f"đề nghị báo cáo {c.request_on:%d/%m}; nhắc báo cáo")
    digest = next(m for m in smtp_server.accepted if key(m).endswith("/digest"))
    text = digest.get_body(("plain",)).get_content()
    assert "vanthu@hong.example" in text and "5.1.1" in text
    assert asyncio.run(escalate(today=c.escalate_on))["sent"] == 0                     # nothing twice

    # the late report, then the overdue notice goes to the ones still missing
    arrive(reply("vanthu@muon.example", "muon", "Đài gửi báo cáo muộn.\nTin, bài: 5\n",
                 dt.datetime(Y, 12, 9, 10, tzinfo=TZ)), dt.datetime(Y, 12, 9, 10, tzinfo=TZ))
    asyncio.run(collect(today=dt.date(Y, 12, 9)))
    assert asyncio.run(escalate(today=days["overdue-1"]))["sent"] == 1                # the overdue's draft
    issue_drafts(env, days["overdue-1"], 3)
    assert asyncio.run(escalate(today=days["overdue-1"]))["sent"] == 1                # khong
    # a Saturday: nothing is sent
    assert "skipped" in asyncio.run(escalate(today=dt.date(Y, 12, 13)))

    result = asyncio.run(report(today=c.closes_on))["kh-test"][0]
    assert (result["asked"], result["on_time"], result["late"], result["overdue"], result["exempt"]) == (4, 1, 1, 2, 1)
    assert result["emailed"] == 1
    docx = tmp_path / "out" / f"bao-cao-kh-test-{Y}.docx"
    assert check(docx) == []
    doc = Document(str(docx))
    body = "\n".join(p.text for p in doc.paragraphs)
    assert f"Kết quả thực hiện Kế hoạch truyền thông về học tập suốt đời năm {Y}" in body
    assert "đã đề nghị 4 lượt báo cáo của 4 đơn vị" in body
    assert "1 báo cáo đúng hạn (25,0%); 1 báo cáo trễ hạn (25,0%); 2 chưa báo cáo (50,0%); 1 lượt được miễn" in body
    assert "Các đơn vị báo cáo trễ hạn: Đài Muộn." in body
    assert "Các đơn vị chưa báo cáo: UBND huyện Hỏng Địa Chỉ, UBND huyện Không." in body
    # the unit's own results from its report, never its cover note (“Báo Sớm gửi báo cáo.”)
    assert (f"1. Báo cáo kết quả năm {Y}\n- Báo Sớm: “Đã đăng 10 tin, bài về học tập suốt đời trên trang thông tin "
            "điện tử.” (chi tiết tại báo cáo của đơn vị)") in body and "gửi báo cáo" not in body
    images = [r.target_part.content_type for r in doc.part.rels.values() if r.reltype.endswith("/image")]
    assert images == ["image/png"]   # the chart: one hatched bar chart (tests/test_layout.py looks at it printed)
    totals = [[c.text for c in r.cells] for r in doc.tables[1].rows[1:]]
    assert totals == [["1", "Tin, bài", "tin, bài", "15", "2"]]   # one table per task
    appendix = {r.cells[1].text: [c.text for c in r.cells] for r in doc.tables[-1].rows[1:]}
    assert appendix["Báo Sớm"][3:5] == [f"20/11/{Y}", "đã báo cáo đúng hạn"]
    assert appendix["Đài Muộn"][3:5] == [f"09/12/{Y}", "đã báo cáo trễ hạn"]
    assert appendix["UBND huyện Miễn"][4] == "miễn"
    section = doc.sections[0]   # page numbers from page 2: a PAGE field, and none on the first page
    assert section.different_first_page_header_footer
    assert "PAGE" in section.header._element.xml and "PAGE" not in section.first_page_header._element.xml
    header_row = doc.tables[-1].rows[0]._tr
    assert header_row.find(".//{http://schemas.openxmlformats.org/wordprocessingml/2006/main}tblHeader") is not None
    mail = sent("/compile")[0]
    assert [a.addr_spec for a in mail["To"].addresses] == ["pgd@stttt.example"]
    assert "Đã nhận 2/4 báo cáo" in mail.get_body(("plain",)).get_content()
    names = sorted(p.get_filename() for p in mail.iter_attachments())
    assert names[0] == f"bao-cao-kh-test-{Y}.docx"
    # a rerun rebuilds the draft but does not email it again unless asked
    assert asyncio.run(report(today=c.closes_on))["kh-test"][0]["emailed"] == 0
    assert asyncio.run(report(today=c.closes_on, resend=True))["kh-test"][0]["emailed"] == 1
    # the PDF, when LibreOffice is there (make test installs it), holds the names exactly
    pdf = docx.with_suffix(".pdf")
    assert pdf.exists(), "LibreOffice missing: run `make test`"
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    text = " ".join(text.split())   # a name may wrap inside a table cell
    for name in ("Báo Sớm", "Đài Muộn", "UBND huyện Không", "UBND huyện Hỏng Địa Chỉ", "Hoàng Mạnh Thắng"):
        assert name in text, name
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    faces = {line.split()[0].split("+")[-1].split("-")[0] for line in fonts.splitlines()[2:]}
    assert faces == {"LiberationSerif"}
