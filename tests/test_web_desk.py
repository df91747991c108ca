"""The clerk's desk in a real browser (Playwright with the system Chromium): the season's main
actions, each checked in the ledger afterwards. Screenshots of every page are kept in the
test's folder (DONDOC_SCREENSHOTS=DIR keeps them there too)."""
from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import mailbox
import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dondoc.collector import CollectSummary, keep_new, process
from dondoc.inbox import MaildirSource
from dondoc.issuing import issue
from dondoc.ledger import Ledger
from dondoc.outbox import deliver
from dondoc.runtime import open_runtimes
from flows.common import record
from models.calendar import BusinessCalendar
from models.inbound import Limits
from tests.servers import free_port
from tests.test_triage import deliver as mail  # the same reply, written into a Maildir

CHROMIUM = "/usr/bin/chromium"
PLAN, TASK = "hoc-tap-suot-doi", "truyen-thong-bao-chi"
D = dt.date
TODAY = D(2026, 12, 2)
SIGNED = b"%PDF-1.4\n% the issued letter, as the document system signed it\n%%EOF\n"

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium is installed by `make test`")


@pytest.fixture
def season(tmp_path, env, smtp_server, monkeypatch):
    """The shipped plan on 02/12/2026: requests sent on 05/11, three replies read (one a
    unit's report, two waiting in triage)."""
    monkeypatch.setenv("DONDOC_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("DONDOC_INBOX", f"maildir:{tmp_path / 'Maildir'}")
    rt = next(r for r in open_runtimes(D(2026, 11, 5)) if r.plan.plan.id == PLAN)
    # the day's công văn drafted (the plain function: no Prefect server), issued with the signed PDF, sent
    record.fn(rt, ("request",))
    (tmp_path / "signed.pdf").write_bytes(SIGNED)
    doc = rt.ledger.documents(PLAN)[0]
    issue(rt.ledger, {PLAN: rt.plan}, lambda p: rt.templates, rt.settings.out, doc["id"], "215/STTTT-TTBCXB",
          D(2026, 11, 5), tmp_path / "signed.pdf")
    asyncio.run(deliver(rt.plan, rt.ledger, rt.cal, rt.templates, rt.settings.smtp(), rt.mail_from,
                        rt.settings.out, ("request", "draft"), rt.now))
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    mail(box, "ai-do@thu-ca-nhan.example", f"Re: [{PLAN}/2026/{TASK}/bao-dak-nong] V/v báo cáo",
         "Tôi gửi hộ Báo Đắk Nông báo cáo năm 2026.", "bao-cao.pdf")
    mail(box, "quang-cao@spam.example", "Khuyến mãi", "Mua ngay.")
    mail(box, "vanthu@ptth.daknong.example", f"Re: [{PLAN}/2026/{TASK}/dai-ptth] V/v", "Đài gửi báo cáo.", "bc-dai.pdf")
    summary = CollectSummary()
    keep_new(MaildirSource(tmp_path / "Maildir"), rt.ledger, rt.settings.data, summary, rt.today)
    plans = {r.plan.plan.id: r.plan for r in open_runtimes(TODAY)}
    process(plans, rt.ledger, {p: BusinessCalendar(plan.calendar) for p, plan in plans.items()}, rt.settings.data,
            Limits(), summary)
    assert (summary.matched, summary.triage) == (1, 2)
    smtp_server.accepted.clear()
    return rt.settings


@contextmanager
def running_desk(settings, today: dt.date) -> Iterator[str]:
    """The web page on a free loopback port, in a thread, its clock at `today`; yields its address."""
    from dondoc import web
    server = web.server(settings.model_copy(update={"web_port": free_port()}), today)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the web page did not start"
        time.sleep(0.05)
    try:
        yield web.address(server).rstrip("/")
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def browser_page(base: str):
    """A page of the system Chromium, in Vietnamese, downloads allowed; `page.base` is the desk's address."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True, locale="vi-VN")
        pg = context.new_page()
        pg.base = base
        yield pg
        browser.close()


@pytest.fixture
def desk(season):
    with running_desk(season, TODAY) as base:
        yield base


@pytest.fixture
def page(desk, tmp_path):
    with browser_page(desk) as pg:
        yield pg


def shot(page, tmp_path, name):
    path = tmp_path / "shots" / f"{name}.png"
    path.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    if keep := os.environ.get("DONDOC_SCREENSHOTS"):
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)


def test_a_season_at_the_desk(page, season, smtp_server, tmp_path):
    led = Ledger(season.db)
    base = page.base
    # overview: a bar per task, the units with their status words; filters by group and status
    page.goto(base + "/")
    assert "Tình hình báo cáo ngày 02/12/2026" in page.inner_text("h1")
    assert page.locator("#units tr[data-status=not_due]").count() > 0
    assert page.locator(f"#tasks tr[data-task='{TASK}'] .bar span").count() >= 1
    word = page.locator(f"#units tr[data-unit='dai-ptth'][data-task='{TASK}'] .word")
    assert word.inner_text() == "đã báo cáo đúng hạn"
    shot(page, tmp_path, "1-overview")
    page.select_option("select[name=group]", "truyen-thong")
    page.select_option("select[name=status]", "not_due")
    page.click("#filters button")
    page.wait_for_url("**status=not_due**")   # the filtered page loaded, not the one it replaces
    units = page.locator(f"#units tr[data-task='{TASK}']")
    assert {units.nth(i).get_attribute("data-unit") for i in range(units.count())} == {
        "cong-ttdt", "bao-dak-nong", "trung-tam-cntt"}
    assert page.locator("#units tr[data-status=on_time]").count() == 0

    # a unit's page: the công văn it received (the signed PDF itself), a note, an extension honoured by the status
    page.click("#units a:has-text('Báo Đắk Nông')")
    assert page.inner_text("h1") == "Báo Đắk Nông"
    with page.expect_download() as got:
        page.click("#letters a:has-text('215/STTTT-TTBCXB')")
    assert Path(got.value.path()).read_bytes() == SIGNED and got.value.suggested_filename.endswith(".pdf")
    page.fill("textarea[name=text]", "Đã gọi điện, chị Lan hứa gửi trước 10/12")
    page.click("text=Lưu ghi chú")
    assert "chị Lan hứa" in page.inner_text("#notes")
    assert led.notes(PLAN, "bao-dak-nong")[0]["text"].endswith("trước 10/12")
    row = page.locator(f"#cycles tr[data-task='{TASK}']")
    row.locator("input[name=deadline]").fill("15/12/2026")
    row.locator("input[name=reason]").fill("Báo xin thêm thời gian tổng hợp")
    row.locator("text=Gia hạn").click()
    assert "Đã gia hạn Báo Đắk Nông đến 15/12/2026" in page.inner_text(".flash")
    assert led.state(PLAN).extended[(TASK, "bao-dak-nong", "2026")] == D(2026, 12, 15)
    assert "hạn cũ" in page.locator(f"#cycles tr[data-task='{TASK}']").inner_text()
    shot(page, tmp_path, "2-unit")

    # triage: the message shown with its attachment and the guess preselected; assign, then undo
    page.click("header >> text=Thư chờ phân loại")
    page.click("#waiting a:has-text('bao-dak-nong')")
    assert "Tôi gửi hộ Báo Đắk Nông" in page.inner_text("#message")
    assert "bao-cao.pdf" in page.inner_text("#attachments")
    assert page.input_value("#assign select[name=unit]") == "bao-dak-nong"
    assert page.input_value("#assign select[name=task]") == TASK
    shot(page, tmp_path, "3-triage")
    page.click("#assign a:has-text('binh-dan-hoc-vu-so')")       # another plan: its own units to choose from
    assert page.input_value("#assign input[name=plan]") == "binh-dan-hoc-vu-so"
    assert "UBND phường Hòa Bình" in page.inner_text("#assign select[name=unit]")
    page.go_back()
    page.fill("#assign input[name=reason]", "đã gọi điện xác nhận với Báo")
    page.click("#assign button")
    assert "ghi nhận là báo cáo của Báo Đắk Nông" in page.inner_text(".flash")
    key = f"{PLAN}/2026/{TASK}/bao-dak-nong"
    report = led.db["reports"].get(key)
    assert report["received_on"] == "2026-12-01" and json.loads(report["files"])[0].endswith("bao-cao.pdf")
    desk_events = [json.loads(e["detail"]) for e in led.events("desk")]
    assert {"action": "triage-assign", "by": desk_events[-1]["by"]}.items() <= desk_events[-1].items()
    page.locator("#decided tr", has_text="ai-do@thu-ca-nhan.example").locator("text=Hoàn tác").click()
    assert "đã hoàn tác" in page.inner_text(".flash")
    assert not list(led.db.query("select 1 from reports where key = ?", [key]))
    assert "ai-do@thu-ca-nhan.example" in {r["from_addr"] for r in led.inbound("triage")}

    # a paper report, its scan uploaded
    scan = tmp_path / "cong-van-12.pdf"
    scan.write_bytes(b"%PDF-1.4\n%%EOF\n")
    page.click("header >> text=Ghi nhận báo cáo giấy")
    page.click("#record a:has-text('binh-dan-hoc-vu-so')")
    assert "Báo Đắk Nông" not in page.inner_text("#record select[name=unit]")
    page.click("#record a:has-text('hoc-tap-suot-doi')")
    page.select_option("#record select[name=unit]", "cong-ttdt")
    page.select_option("#record select[name=task]", TASK)
    page.fill("#record input[name=received]", "02/12/2026")
    page.set_input_files("#record input[name=scan]", str(scan))
    page.fill("#record input[name=note]", "Công văn số 12/CTTĐT")
    shot(page, tmp_path, "4-record")
    page.click("#record button")
    assert "Đã ghi nhận báo cáo của Cổng Thông tin điện tử" in page.inner_text(".flash")
    paper = led.db["reports"].get(f"{PLAN}/2026/{TASK}/cong-ttdt")
    kept = Path(json.loads(paper["files"])[0])
    assert paper["source"] == "paper" and kept.read_bytes() == scan.read_bytes()
    assert paper["note"] == "Công văn số 12/CTTĐT"
    assert page.locator("#reports a", has_text="cong-van-12.pdf").count() == 1

    # "gửi nhắc ngay": one message, once, through the ledger's claim
    page.goto(base + "/unit/hoc-tap-suot-doi/trung-tam-cntt")
    page.locator(f"#cycles tr[data-task='{TASK}']").locator("text=Gửi nhắc ngay").click()
    assert "Đã gửi thư nhắc Trung tâm Công nghệ thông tin" in page.inner_text(".flash")
    assert [m["To"].addresses[0].addr_spec for m in smtp_server.accepted] == ["ttcntt@stttt.daknong.example"]
    assert "nhắc" in str(smtp_server.accepted[0]["Subject"]).lower()
    sent = [r for r in led.unit_outbound(PLAN, "trung-tam-cntt") if r["stage"] == "reminder"]
    assert [(r["key"].rsplit("/", 1)[1], r["status"]) for r in sent] == [("reminder-20261202", "sent")]
    page.locator(f"#cycles tr[data-task='{TASK}']").locator("text=Gửi nhắc ngay").click()
    assert "không gửi lại" in page.inner_text(".flash") and len(smtp_server.accepted) == 1
    shot(page, tmp_path, "5-remind")

    # export of status and indicator totals
    page.goto(base + "/")
    with page.expect_download() as got:
        page.click("text=Xuất Excel")
    from openpyxl import load_workbook
    wb = load_workbook(io.BytesIO(got.value.path().read_bytes()))
    assert wb.sheetnames == ["Tình hình", "Chỉ tiêu"]
    status = {(r[3], r[1]): r[7] for r in wb["Tình hình"].iter_rows(min_row=2, values_only=True) if r[2] == TASK}
    assert status[("cong-ttdt", "2026")] == "đã báo cáo đúng hạn"
    assert status[("trung-tam-cntt", "2026")] == "chưa đến hạn"
    assert [e for e in led.events("desk") if json.loads(e["detail"])["action"] == "export"]


def test_a_unit_list_from_the_office_spreadsheet(page, tmp_path):
    from openpyxl import Workbook
    wb = Workbook()
    ws = wb.active
    ws.append(["DANH SÁCH ĐƠN VỊ NHẬN VĂN BẢN"])
    ws.append(["STT", "Tên đơn vị", "Email", "Người liên hệ", "Điện thoại"])
    ws.append([1, "Phòng Văn hóa và Thông tin huyện Đắk Mil", "vhtt@dakmil.example; vanthu@dakmil.example",
               "Nguyễn Văn A", "0261 3741 234"])
    ws.append([2, "Trường Chính trị tỉnh", "", "", ""])
    ws.append([3, "Đoàn Ca múa nhạc “Yes”", "ca-mua@example.org", "", ""])
    path = tmp_path / "don-vi.xlsx"
    wb.save(path)
    page.goto(page.base + "/import")
    page.set_input_files("input[name=sheet]", str(path))
    page.fill("input[name=group]", "huyen")
    page.click("form.card button")
    import yaml
    units = yaml.safe_load(page.input_value("#snippet"))["units"]
    assert units[0] == {"id": "phong-van-hoa-va-thong-tin-huyen-dak-mil",
                        "name": "Phòng Văn hóa và Thông tin huyện Đắk Mil",
                        "group": "huyen", "emails": ["vhtt@dakmil.example", "vanthu@dakmil.example"],
                        "contact": "Nguyễn Văn A", "phone": "0261 3741 234"}
    assert units[1]["name"] == "Đoàn Ca múa nhạc “Yes”" and len(units) == 2
    assert "dòng 4 (Trường Chính trị tỉnh): thiếu email" in page.inner_text("main")
    assert "2 đơn vị đọc được" in page.inner_text("main")
    shot(page, tmp_path, "6-import")
