"""The report says what each unit did under each content item: the reply form read back from a
real .docx, cover notes never quoted, per-task numbers with estimates, untracked tasks said,
event reports received before the event ended flagged."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from dondoc import demo
from dondoc.extract import docx_tables
from dondoc.ledger import action_row
from dondoc.letters import context
from dondoc.render import Templates
from models.calendar import BusinessCalendar
from models.form import read_form
from models.period import parse_label
from models.quote import DETAIL, about_items, is_cover, own_words
from models.report import compile_report
from models.rules import LedgerState, cycle, due_actions
from models.status import report_status

COVER_NOTES = [
    "Kính gửi Sở,\n\nSở Y tế gửi báo cáo kết quả thực hiện nhiệm vụ năm 2026.\n\nTrân trọng,\nVăn thư",
    "Dạ em xin lỗi vì gửi muộn ạ, mong Sở thông cảm. Em gửi lại file báo cáo đính kèm.",
    "Kinh gui So, don vi gui kem bao cao theo yeu cau tai Cong van so 123/STTTT-TTBCXB. Tran trong!",
    "Phòng VH-TT huyện xin gửi bổ sung phiếu số liệu. Xin cảm ơn.\n--\nNguyễn Văn A\nĐT: 0912 345 678",
    "Thực hiện Công văn số 45/STTTT-TTBCXB ngày 05/11/2026, UBND huyện báo cáo như sau:",
    "UBND HUYỆN CƯ JÚT\nBÁO CÁO\nCỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
]


@pytest.mark.parametrize("note", COVER_NOTES)
def test_a_cover_note_greeting_or_apology_is_never_quoted(note):
    assert own_words(note) == ("", False)


def test_own_words_keep_results_and_drop_the_cover_around_them():
    text = ("Kính gửi Sở,\nĐơn vị xin lỗi vì gửi muộn. Trong năm đã đăng 45 tin, bài trên trang thông tin điện tử. "
            "Tổ chức 3 hội nghị với 420 lượt người tham gia. Phối hợp Thư viện tỉnh mở 2 lớp kỹ năng số. "
            "Duy trì 1 chuyên mục.\nTrân trọng cảm ơn.")
    words, cut = own_words(text)
    assert words.startswith("Trong năm đã đăng 45 tin, bài") and "xin lỗi" not in words and cut
    assert is_cover("Trân trọng.") and not is_cover("Đã treo 40 băng rôn tại trung tâm huyện.")


def test_a_report_is_split_by_the_items_it_speaks_of(shipped):
    items = {c.id: c.text for c in shipped.content_items if c.id in ("II.1", "II.2", "III.3")}
    report = ("UBND HUYỆN CƯ JÚT\nBÁO CÁO\n1. " + items["II.1"] + "\nThư viện huyện tổ chức 12 buổi giới thiệu sách."
              "\n2. Về quảng bá di sản văn hóa\nĐã treo 40 băng rôn tại trung tâm huyện.")
    parts = about_items(report, items)
    assert parts["II.1"] == "Thư viện huyện tổ chức 12 buổi giới thiệu sách."
    assert parts["II.2"] == "Đã treo 40 băng rôn tại trung tâm huyện."
    assert "III.3" not in parts


def _form_ctx(plan, task_id: str) -> dict:
    cal = BusinessCalendar(plan.calendar)
    for day in (dt.date(2026, 11, 5), dt.date(2026, 11, 24)):
        for a in due_actions(plan, LedgerState(), day, cal):
            if a.stage == "request" and a.task_id == task_id:
                return context(plan, action_row(a, day, "<x@y>", None), cal)
    raise AssertionError(task_id)


def test_the_reply_form_asks_per_item_and_is_read_back_completely(shipped):
    ctx = _form_ctx(shipped, "huyen-tuyen-truyen")
    form = Templates().docx("reply-form").render(ctx)
    tables = docx_tables(form)
    assert read_form(tables) == read_form([]) and not read_form(tables)   # blank: nothing read
    task = shipped.task("huyen-tuyen-truyen")
    said = {"items": {i: f"Kết quả riêng của mục {i}: 1{n} buổi." for n, i in enumerate(task.content_items)},
            "numbers": {"tin-bai": "khoảng 40"}, "hard": "Thiếu kinh phí.", "ask": "Đề nghị tập huấn."}
    got = read_form(docx_tables(demo._fill(form, said)))
    assert got.items == said["items"] and got.difficulties == "Thiếu kinh phí." and got.proposals == "Đề nghị tập huấn."
    labels = [row[1] for t in tables for row in t[1:] if len(row) > 2]
    assert all(f"[nd:{i}]" in " ".join(labels) for i in task.content_items)
    assert any("[tin-bai]" in x for x in labels)


def test_a_row_whose_marker_was_deleted_is_read_by_its_text():
    tables = [[["STT", "Nội dung", "Kết quả"], ["1", "Tuyên truyền về sách.", "Đăng 5 tin."], ["2", "Khác", "-"]]]
    assert read_form(tables, {"a": "Tuyên truyền về sách."}).items == {"a": "Đăng 5 tin."}


def _report(shipped, reports, reported, decided_tasks=None):
    y = "2026"
    tasks = [t for t in shipped.tasks if decided_tasks is None or t.id in decided_tasks]
    decided = {f"{shipped.plan.id}/{y}/{t.id}/{u.id}/request": dt.date(2026, 11, 24)
               for t in tasks for u in shipped.units_of(t)}
    return compile_report(shipped, LedgerState(decided, reported), reports, dt.date(2026, 12, 25), parse_label(y))


def _rep(task, unit, form=None, indicators=None, note="", source="email"):
    return {"task_id": task, "unit_id": unit, "period": "2026", "files": "[]", "note": note, "source": source,
            "indicators": json.dumps(indicators or {}), "form": json.dumps(form) if form is not None else None}


def test_each_unit_under_every_item_it_wrote_about_never_a_private_note(shipped):
    y = "2026"
    reports = [
        _rep("truyen-thong-bao-chi", "bao-dak-nong", {"items": {"II.1": "Đăng 45 tin.", "III.2": "Giới thiệu 6 gương."},
                                                      "difficulties": "Thiếu kinh phí.",
                                                      "proposals": "Mở lớp tập huấn.",
                                                      "estimates": ["tin-bai"]}, {"tin-bai": 120}),
        _rep("huyen-tuyen-truyen", "ubnd-cu-jut", {"text": "Kính gửi Sở,\n1. " + shipped.content_items[0].text +
                                                   "\nThư viện huyện tổ chức 12 buổi giới thiệu sách.\nTrân trọng."}),
        _rep("ngay-sach", "so-tttt", {}, note="Anh Bình mang bản giấy sang, nhớ nhắc ký lại", source="paper"),
    ]
    reported = {(r["task_id"], r["unit_id"], y): dt.date(2026, 12, 1) for r in reports}
    data = _report(shipped, reports, reported)
    words = {i["id"]: [(w["unit"], w["text"], w["detail"]) for w in i["words"]] for i in data.items}
    assert words["II.1"] == [("Báo Đắk Nông", "Đăng 45 tin.", ""),
                             ("UBND huyện Cư Jút", "Thư viện huyện tổ chức 12 buổi giới thiệu sách.", DETAIL)]
    assert words["III.2"] == [("Báo Đắk Nông", "Giới thiệu 6 gương.", "")]
    assert all("Anh Bình" not in t for ws in words.values() for _, t, _ in ws)
    assert data.difficulties == [{"unit": "Báo Đắk Nông", "text": "Thiếu kinh phí."}]
    assert data.proposals == [{"unit": "Báo Đắk Nông", "text": "Mở lớp tập huấn."}]
    assert [t["total"] for t in data.totals] == ["120 (ước tính)"]
    assert "Tin, bài, ảnh đã đăng, phát: 120 (ước tính)" in [r.indicators for r in data.rows
                                                            if r.unit_id == "bao-dak-nong"]


def test_a_task_dondoc_did_not_follow_is_said_not_silenced(shipped):
    data = _report(shipped, [], {}, decided_tasks={"truyen-thong-bao-chi"})
    assert "Báo cáo kết quả tổ chức Ngày Sách và Văn hóa đọc Việt Nam năm 2026" in data.untracked
    none = {i["id"]: i["none"] for i in data.items}
    assert none["III.3"] == "Nội dung này thuộc nhiệm vụ không theo dõi qua hệ thống năm nay."   # only event tasks
    assert none["II.1"] == "Chưa có đơn vị báo cáo về nội dung này."   # followed, nobody reported yet


def test_an_event_report_received_before_the_event_ended_is_flagged_not_counted(shipped):
    y = "2026"
    reports = [_rep("ngay-di-san", "bao-dak-nong", {"items": {"II.2": "Treo 40 băng rôn."}}, {"tin-bai": 20})]
    data = _report(shipped, reports, {("ngay-di-san", "bao-dak-nong", y): dt.date(2026, 11, 20)})
    row = next(r for r in data.rows if r.task_id == "ngay-di-san" and r.unit_id == "bao-dak-nong")
    assert row.status == "early" and data.counts["on_time"] == 0 and data.counts["early"] == 1
    assert data.early and "20/11/2026" in data.early[0]
    assert not any(w for i in data.items for w in i["words"]) and data.totals == []
    assert report_status(dt.date(2026, 12, 5), dt.date(2026, 11, 24), False, dt.date(2026, 12, 25),
                         dt.date(2026, 11, 23)) == "on_time"


def test_an_event_is_asked_about_the_working_day_after_it_ends(shipped):
    cal = BusinessCalendar(shipped.calendar)
    for task_id, deadline, ended in (("ngay-di-san", dt.date(2026, 12, 5), dt.date(2026, 11, 23)),
                                     ("tuan-le-hoc-tap", dt.date(2026, 10, 20), dt.date(2026, 10, 7))):
        c = cycle(shipped, cal, shipped.task(task_id), parse_label("2026"), deadline)
        # the policy alone would ask 20-30 days before the deadline, before the event
        assert c.request_on > ended and cal.is_working_day(c.request_on)
        assert not any(cal.is_working_day(ended + dt.timedelta(days=k)) for k in range(1, (c.request_on - ended).days))


def test_a_reports_title_line_is_not_a_result():
    assert is_cover("Kết quả tổ chức Ngày Sách và Văn hóa đọc Việt Nam năm 2026")
    assert is_cover("Kết quả thực hiện kế hoạch năm 2026.")
    assert not is_cover("Kết quả: đã đăng 45 tin, bài và 12 phóng sự.")


def test_a_reports_difficulties_section_is_not_an_items_result(shipped):
    items = {c.id: c.text for c in shipped.content_items if c.id in ("II.1", "II.2")}
    report = ("I. KẾT QUẢ ĐẠT ĐƯỢC\n1. " + items["II.1"] + "\nThư viện huyện tổ chức 12 buổi giới thiệu sách.\n"
              "II. KHÓ KHĂN, VƯỚNG MẮC\nKinh phí cho hoạt động tuyên truyền còn hạn chế.\n"
              "III. ĐỀ XUẤT, KIẾN NGHỊ\nĐề nghị Sở mở 2 lớp tập huấn.")
    parts = about_items(report, items)
    assert parts["II.1"] == "Thư viện huyện tổ chức 12 buổi giới thiệu sách."
    assert parts["_difficulties"] == "Kinh phí cho hoạt động tuyên truyền còn hạn chế."
    assert parts["_proposals"] == "Đề nghị Sở mở 2 lớp tập huấn."
    data = _report(shipped, [_rep("huyen-tuyen-truyen", "ubnd-cu-jut", {"text": report})],
                   {("huyen-tuyen-truyen", "ubnd-cu-jut", "2026"): dt.date(2026, 12, 1)})
    assert data.difficulties == [{"unit": "UBND huyện Cư Jút",
                                  "text": "Kinh phí cho hoạt động tuyên truyền còn hạn chế."}]
    assert data.proposals == [{"unit": "UBND huyện Cư Jút", "text": "Đề nghị Sở mở 2 lớp tập huấn."}]
