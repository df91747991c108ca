"""The drafts waiting for signature on the clerk's desk, in a real browser (Playwright with the
system Chromium): the văn thư issues a draft from the page with the digitally signed PDF and
"gửi ngay"; each unit gets exactly one email carrying that file byte for byte, the ledger says
who issued it, and a second submit (a stale tab) is a clear error that sends nothing."""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from dondoc.demo import sample_signed
from dondoc.ledger import Ledger
from dondoc.runtime import open_runtimes
from flows.common import record
from tests.test_web_desk import CHROMIUM, browser_page, running_desk, shot

PLAN = "hoc-tap-suot-doi"
D = dt.date
DRAFTED, TODAY = D(2026, 11, 5), D(2026, 11, 10)     # Thursday; the following Tuesday: 3 working days later

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium is installed by `make test`")


@pytest.fixture
def drafted(tmp_path, env, smtp_server, monkeypatch):
    """The shipped plan's first requests of 05/11/2026, drafted as one công văn (.docx and
    PDF) that waits for signature, and the văn thư's signed copy; nothing sent yet."""
    monkeypatch.setenv("DONDOC_DATA", str(tmp_path / "data"))
    rt = next(r for r in open_runtimes(DRAFTED) if r.plan.plan.id == PLAN)
    record.fn(rt, ("request",))   # the plain function: no Prefect server for a fixture
    [doc] = rt.ledger.documents(PLAN)
    assert doc["state"] == "drafted" and doc["pdf_path"], "the draft and its PDF (LibreOffice) are made"
    # the văn thư's digitally signed copy (pyHanko; made before the browser's event loop runs)
    (tmp_path / "ban-ky-so.pdf").write_bytes(sample_signed(Path(doc["pdf_path"]).read_bytes(), rt.plan.signer.name))
    return rt.settings, doc, rt.plan


@pytest.fixture
def page(drafted):
    with running_desk(drafted[0], TODAY) as base, browser_page(base) as pg:
        yield pg


def unit_mail(smtp_server, plan, unit_ids) -> dict[str, list]:
    """unit id -> the emails the unit received (to any of its addresses)."""
    return {u: [m for m in smtp_server.accepted
                if set(plan.unit(u).emails) & {a.addr_spec for a in m["To"].addresses}] for u in unit_ids}


def test_the_van_thu_issues_a_draft_from_the_page(page, drafted, smtp_server, tmp_path):
    settings, doc, plan = drafted
    led, base = Ledger(settings.db), page.base
    units = json.loads(doc["units"])
    # the overview says a draft waits, the header too; the page lists it with what it covers
    page.goto(base + "/")
    assert page.inner_text("#drafts-waiting").startswith("1 dự thảo công văn chờ ký")
    assert page.inner_text("header a[href='/drafts'] .badge") == "1"
    shot(page, tmp_path, "7-overview-drafts")
    page.click("#drafts-waiting a")
    draft = page.locator(f"#draft-{doc['id']}")
    text = draft.inner_text()
    assert "công văn đề nghị báo cáo ngày 05/11/2026" in text and "chờ ký 3 ngày làm việc" in text
    assert plan.unit(units[0]).name in text and f"Gửi {len(units)} cơ quan, đơn vị" in text
    assert "báo cáo kết quả truyền thông về học tập suốt đời năm 2026 — hạn" in text
    with page.expect_download() as got:
        draft.locator("text=dự thảo .docx").click()
    assert Path(got.value.path()).read_bytes() == Path(doc["docx_path"]).read_bytes()
    shot(page, tmp_path, "7-drafts-waiting")

    # a unit's page says its letter waits for signature, and leads here
    page.goto(f"{base}/unit/{PLAN}/{units[0]}")
    page.click("#letters a:has-text('dự thảo số 1, chờ ký')")
    assert page.url.endswith(f"/drafts#draft-{doc['id']}")

    # a second tab, opened before the văn thư submits: it will submit the same draft again
    stale = page.context.new_page()
    stale.goto(base + "/drafts")

    # a file that is not a PDF: refused, said plainly, without the server's paths; nothing issued
    form = draft.locator("form.issue")
    (tmp_path / "cong-van.docx").write_bytes(Path(doc["docx_path"]).read_bytes())
    form.locator("input[name=number]").fill("215/STTTT-TTBCXB")
    form.locator("input[name=signed]").set_input_files(str(tmp_path / "cong-van.docx"))
    form.locator("button").click()
    flash = page.inner_text(".flash")
    assert "cong-van.docx: không phải tệp PDF" in flash and str(settings.data) not in flash
    assert led.document(doc["id"])["state"] == "drafted" and smtp_server.accepted == []

    # the signed PDF and "gửi ngay": issued, each unit one email with exactly that file
    signed = tmp_path / "ban-ky-so.pdf"
    form = page.locator(f"#draft-{doc['id']} form.issue")
    form.locator("input[name=number]").fill("215/STTTT-TTBCXB")
    form.locator("input[name=date]").fill("09/11/2026")
    form.locator("input[name=signed]").set_input_files(str(signed))
    form.locator("input[name=send]").check()
    form.locator("button").click()
    flash = page.inner_text(".flash")
    assert ("Đã đăng ký dự thảo số 1: công văn số 215/STTTT-TTBCXB ngày 09/11/2026, tệp PDF ban-ky-so.pdf tải lên"
            in flash)
    assert f"Đã gửi {len(units)} thư cho các đơn vị" in flash and "Cảnh báo" not in flash
    got_mail = unit_mail(smtp_server, plan, units)
    assert {u: len(ms) for u, ms in got_mail.items()} == dict.fromkeys(units, 1)
    assert len(smtp_server.accepted) == len(units)
    for ms in got_mail.values():
        pdfs = [p for p in ms[0].iter_attachments() if p.get_content_type() == "application/pdf"]
        assert len(pdfs) == 1 and pdfs[0].get_content() == signed.read_bytes()
    issued = led.document(doc["id"])
    assert (issued["state"], issued["number"], issued["issued_on"]) == ("issued", "215/STTTT-TTBCXB", "2026-11-09")
    [event] = [json.loads(e["detail"]) for e in led.events("desk") if e["key"] == str(doc["id"])]
    assert event["action"] == "issue" and event["by"].endswith("@máy-này") and event["sent"] == len(units)
    # the page now lists it issued: number, date, all sent, the signed PDF, who registered it
    assert page.locator("#no-drafts").count() == 1 and page.locator("header .badge").count() == 0
    row = page.locator(f"#issued tr[data-id='{doc['id']}']")
    assert "215/STTTT-TTBCXB" in row.inner_text() and "09/11/2026" in row.inner_text()
    assert f"{len(units)}/{len(units)} thư" in row.inner_text() and event["by"] in row.inner_text()
    with page.expect_download() as got:
        row.locator("text=PDF đã ký số").click()
    assert Path(got.value.path()).read_bytes() == signed.read_bytes()
    shot(page, tmp_path, "8-issued")

    # the stale tab submits again: a clear error, nothing sent twice, the number unchanged
    form = stale.locator(f"#draft-{doc['id']} form.issue")
    form.locator("input[name=number]").fill("216/STTTT-TTBCXB")
    form.locator("input[name=signed]").set_input_files(str(signed))
    form.locator("input[name=send]").check()
    form.locator("button").click()
    assert "dự thảo số 1 đã ban hành: số 215/STTTT-TTBCXB, ngày 09/11/2026" in stale.inner_text(".flash")
    assert len(smtp_server.accepted) == len(units) and led.document(doc["id"])["number"] == "215/STTTT-TTBCXB"
    assert len([e for e in led.events("issued") if e["key"] == str(doc["id"])]) == 1


def test_an_unsigned_pdf_is_issued_with_the_warning_shown(page, drafted, smtp_server, tmp_path):
    settings, doc, plan = drafted
    led = Ledger(settings.db)
    page.goto(page.base + "/drafts")
    form = page.locator(f"#draft-{doc['id']} form.issue")
    form.locator("input[name=number]").fill("7/STTTT-TTBCXB")
    form.locator("input[name=date]").fill("04/11/2026")          # before the draft was written: refused
    form.locator("button").click()
    assert "phải từ ngày soạn dự thảo (05/11/2026) đến hôm nay (10/11/2026)" in page.inner_text(".flash")
    form = page.locator(f"#draft-{doc['id']} form.issue")
    form.locator("input[name=number]").fill("7/STTTT-TTBCXB")
    form.locator("input[name=signed]").set_input_files(doc["pdf_path"])    # printed, never signed
    form.locator("button").click()                                          # not "gửi ngay": the next run sends
    flash = page.locator(".flash")
    assert "warn" in flash.get_attribute("class")
    assert "Cảnh báo:" in flash.inner_text() and "không có chữ ký số" in flash.inner_text()
    assert "lần chạy tới sẽ gửi" in flash.inner_text() and smtp_server.accepted == []
    assert led.document(doc["id"])["state"] == "issued"
    assert page.locator(f"#issued tr[data-id='{doc['id']}'] a", has_text="không có chữ ký số").count() == 1
    shot(page, tmp_path, "9-unsigned")
    # "Gửi ngay" on the issued list sends it, once; an address the server refuses is said plainly
    units = json.loads(doc["units"])
    refused = plan.unit(units[-1]).emails[0]
    smtp_server.refuse[refused] = "550 5.1.1 no such mailbox"
    page.locator(f"#issued tr[data-id='{doc['id']}'] button").click()
    flash = page.inner_text(".flash")
    assert f"Đã gửi {len(units) - 1} thư công văn số 7/STTTT-TTBCXB. Chưa gửi hết: 1 thư bị máy chủ từ chối hẳn" \
        in flash and "resend --failed" in flash and "warn" in page.locator(".flash").get_attribute("class")
    sends = [d for d in (json.loads(e["detail"]) for e in led.events("desk")) if d["action"] == "send-document"]
    assert [(s["by"].endswith("@máy-này"), s["sent"]) for s in sends] == [(True, len(units) - 1)]
    got = {u: len(ms) for u, ms in unit_mail(smtp_server, plan, units).items()}
    assert got == {**dict.fromkeys(units, 1), units[-1]: 0}
    row = page.locator(f"#issued tr[data-id='{doc['id']}']")
    assert f"{len(units) - 1}/{len(units)} thư" in row.inner_text() and "1 thư bị từ chối" in row.inner_text()
    assert row.locator("button").count() == 0          # nothing left that "Gửi ngay" could send
