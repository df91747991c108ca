"""The plan file: the shipped seed plan loads; every kind of mistake is named with its line and field."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dondoc import plancache
from models.loader import PlanInvalid, parse_plan, parse_plan_bytes


def errors_of(text: str):
    with pytest.raises(PlanInvalid) as e:
        parse_plan(text, "units.yaml")
    return e.value.errors


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the nth line containing needle."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[nth - 1]


def test_shipped_plan_encodes_the_seed(shipped):
    assert shipped.issuer.code == "STTTT" and shipped.issuer.division == "TTBCXB"
    assert (shipped.signer.authority, shipped.signer.title, shipped.signer.name) == (
        "KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC", "Hoàng Mạnh Thắng")
    assert "169/KH-UBND ngày 21/3/2023" in shipped.plan.implements
    names = {u.name for u in shipped.units}
    for expected in ("Báo Đắk Nông", "Đài Phát thanh và Truyền hình Đắk Nông", "Cổng Thông tin điện tử tỉnh Đắk Nông",
                     "Trung tâm Công nghệ thông tin và Truyền thông", "Sở Văn hóa, Thể thao và Du lịch",
                     "UBND thành phố Gia Nghĩa", "UBND huyện Cư Jút", "UBND huyện Tuy Đức"):
        assert expected in names
    assert sum(u.group == "huyen" for u in shipped.units) == 8
    assert all(e.endswith(".example") for u in shipped.units for e in u.emails)
    tasks = {t.id: t for t in shipped.tasks}
    assert {t.due.days for t in tasks.values() if not t.event} == {((5, 12),)}
    assert tasks["ngay-sach"].event.start == "21/04" and "so-tttt" in tasks["ngay-sach"].assign.units
    assert (tasks["tuan-le-hoc-tap"].event.start, tasks["tuan-le-hoc-tap"].event.end) == ("01/10", "07/10")
    assert tasks["ngay-di-san"].event.start == "23/11"
    assert "trung-tam-cntt" in tasks["ngay-di-san"].exempt
    assert shipped.plan.recipients[-1] == "Trang TTĐT Sở"


def test_mini_plan_loads(mini):
    assert [u.id for u in mini.units_of(mini.tasks[0])] == ["som", "muon", "khong", "mien"]
    assert mini.calendar.working_hours.start.isoformat() == "07:30:00"


EXTRA_TASK = """
  - id: bao-cao-nam
    title: báo cáo lần hai
    text: Trùng mã.
    assign: {units: [som]}
    due: "05/12"
policy:"""

REJECTIONS = [
    # (name, old, new, (needle, nth) of the line the error must name, field, words in the message)
    ("duplicate unit", "  - id: muon", "  - id: som", ("- id: som", 2), "units[1].id", "id 'som' bị trùng"),
    ("duplicate task", "\npolicy:", EXTRA_TASK, ("- id: bao-cao-nam", 2), "tasks[1].id",
     "id 'bao-cao-nam' bị trùng"),
    ("unknown group in task", "groups: [bao-chi, huyen]", "groups: [bao-chi, xa]",
     ("groups: [bao-chi, xa]", 1), "tasks[0].assign.groups[1]", "không có nhóm 'xa'"),
    ("unknown unit in task", "exempt: [mien]", "exempt: [mien, ma]", ("exempt: [mien, ma]", 1),
     "tasks[0].exempt[1]", "không có đơn vị 'ma'"),
    ("unknown group of unit", "group: huyen\n    emails: [vanthu@khong", "group: tinh\n    emails: [vanthu@khong",
     ("group: tinh", 1), "units[2].group", "không có nhóm 'tinh'"),
    ("invalid email", "vanthu@muon.example,", "vanthu@@muon.example,", ("vanthu@@muon", 1), "units[1].emails[0]",
     "không phải là địa chỉ email hợp lệ"),
    ("date that does not exist", 'due: "05/12"', 'due: "31/02"', ('due: "31/02"', 1), "tasks[0].due",
     "31/02 không phải ngày có trong mọi năm"),
    ("reminder after the deadline", "{working_days_before: 5}", "{working_days_before: -2}",
     ("working_days_before: -2", 1), "policy.reminders[1].working_days_before", "rơi vào hoặc sau hạn"),
    ("line break in a header value", "name: Báo Sớm", 'name: "Báo Sớm\\r\\nBcc: x@evil.example"',
     ("Báo Sớm", 1), "units[0].name", "dấu xuống dòng"),
    ("control character in a title", "title: báo cáo kết quả năm {year}", 'title: "báo cáo\\x07 năm"',
     ("báo cáo\\x07", 1), "tasks[0].title", "ký tự điều khiển"),
    ("empty unit list", "units:\n", "units: []\nold_units:\n", ("units: []", 1), "units", "cần ít nhất 1 mục"),
    ("unknown key", "  head_email: tbt@som.example", "  head_mail: tbt@som.example",
     ("head_mail", 1), "units[0].head_mail", "khóa lạ 'head_mail'"),
    ("missing field", "  place: Đắk Nông\n", "", ("issuer:", 1), "issuer.place", "thiếu trường bắt buộc 'place'"),
    ("yaml syntax", "  code: STTTT", "  code: [STTTT", ("division: TTBCXB", 1), "(yaml)", "thiếu dấu ',' hoặc ']'"),
    ("duplicate key", "  code: STTTT", "  code: STTTT\n  code: SVHTT", ("code: SVHTT", 1), "issuer.code",
     "khóa 'code' bị lặp lại"),
]


@pytest.mark.parametrize("name,old,new,needle,field,words", REJECTIONS, ids=[r[0] for r in REJECTIONS])
def test_each_mistake_is_named_with_line_and_field(mini_text, name, old, new, needle, field, words):
    assert old in mini_text, old
    text = mini_text.replace(old, new, 1)
    line = line_of(text, *needle)
    errs = errors_of(text)
    hit = [e for e in errs if e.field == field]
    assert hit, [str(e) for e in errs]
    assert hit[0].line == line, str(hit[0])
    assert words in hit[0].message, str(hit[0])
    assert str(hit[0]).startswith(f"units.yaml:{line}:")


def test_every_error_is_reported_at_once(mini_text):
    text = (mini_text.replace("  code: STTTT", "  cod: STTTT")
            .replace("vanthu@khong.example", "khong-at-example")
            .replace('due: "05/12"', 'due: "30/02"'))
    fields = {e.field for e in errors_of(text)}
    assert {"issuer.cod", "issuer.code", "units[2].emails[0]", "tasks[0].due"} <= fields


def test_reminder_before_first_request_is_rejected(mini_text):
    errs = errors_of(mini_text.replace("{working_days_before: 10}", "{working_days_before: 40}"))
    assert [e.field for e in errs] == ["policy"]
    assert "đến trước đề nghị báo cáo đầu tiên" in errs[0].message


def test_values_are_data_not_formatting(mini_text):
    plan = parse_plan(mini_text.replace("name: Báo Sớm", 'name: "Báo <Sớm> & \\"Co\\" {{ x }}"'), "u.yaml")
    assert plan.units[0].name == 'Báo <Sớm> & "Co" {{ x }}'


def test_yaml_scalars_are_not_reinterpreted(mini_text):
    # YAML 1.1 would read 07:30 as 450 and `no` as False; the plan keeps what was written.
    plan = parse_plan(mini_text.replace("  name: Hoàng Mạnh Thắng", "  name: no")
                      + "calendar:\n  working_hours: {start: 07:30, end: 16:30}\n", "u.yaml")
    assert plan.signer.name == "no"
    assert plan.calendar.working_hours.end.hour == 16


# -- hostile input, Vietnamese messages, the cache ------------------------------------------
HOSTILE = [
    # (name, text appended to MINI or (old, new) replaced in it, field, words in the message)
    ("reversed working hours", "calendar:\n  working_hours: {start: '17:00', end: '07:30'}\n",
     "calendar.working_hours", "phải sau giờ bắt đầu"),
    ("empty working hours", "calendar:\n  working_hours: {start: '08:00', end: '08:00'}\n",
     "calendar.working_hours", "phải sau giờ bắt đầu"),
    ("null time", "calendar:\n  working_hours: {start: ~}\n", "calendar.working_hours.start", "HH:MM"),
    ("list as a time", "calendar:\n  working_hours: {end: [a]}\n", "calendar.working_hours.end", "HH:MM"),
    ("null day off", "calendar:\n  days_off: [~]\n", "calendar.days_off[0]", "DD/MM/YYYY"),
    ("cron out of range", "schedules:\n  dispatch: 99 99 * * *\n", "schedules.dispatch", "99 nằm ngoài khoảng 0–59"),
    ("cron weekday", "schedules:\n  report: 0 9 * * 8\n", "schedules.report", "ngoài khoảng 0–7"),
    ("cron reversed range", "schedules:\n  collect: 0 17-7 * * *\n", "schedules.collect", "bị ngược"),
    ("cron zero step", "schedules:\n  collect: '*/0 * * * *'\n", "schedules.collect", "bước /0"),
    ("cron four fields", "schedules:\n  escalate: 0 8 * *\n", "schedules.escalate", "năm trường"),
    ("gmail as a domain", ("    emails: [vanthu@som.example]\n",
                           "    emails: [vanthu@som.example]\n    domains: [Gmail.com]\n"),
     "units[0].domains", "gmail.com là dịch vụ thư công cộng"),
    ("yandex abroad", ("    emails: [vanthu@som.example]\n",
                       "    emails: [vanthu@som.example]\n    domains: [yandex.com.tr]\n"),
     "units[0].domains", "dịch vụ thư công cộng"),
    ("a name no header can hold", ("name: Báo Sớm", "name: " + "Báo Sớm " * 30), "units[0].name", "dài quá 200 ký tự"),
    ("an address over 254", ("vanthu@som.example]", "v" * 250 + "@som.example]"), "units[0].emails[0]", "quá 254"),
    ("a list for a name", ("name: Báo Sớm", "name: [Báo, Sớm]"), "units[0].name",
     "cần một chuỗi văn bản, không phải một danh sách"),
    ("a mapping for a list", ("exempt: [mien]", "exempt: {mien: 1}"), "tasks[0].exempt", "cần một danh sách"),
    ("an id with capitals", ("  - id: som", "  - id: Som"), "units[0].id", "không phải mã hợp lệ"),
    ("a word for a number", ("first_request_days_before: 30", "first_request_days_before: ba mươi"),
     "policy.first_request_days_before", "cần một số nguyên"),
    ("yes/no misspelt", ("cc_head: true", "cc_head: có"), "policy.urging.cc_head", "cần true hoặc false"),
    ("another time zone", "calendar:\n  timezone: Asia/Bangkok\n", "calendar.timezone", "phải là 'Asia/Ho_Chi_Minh'"),
    ("an explicit tag", "calendar: !!python/object:os.system {}\n", "calendar", "không dùng thẻ YAML"),
    ("a second document", "---\nplan: {}\n", "(document)", "một tài liệu YAML"),
    ("nesting too deep", "x: " + "[" * 30 + "]" * 30 + "\n", "x" + "[0]" * 19, "lồng nhau quá sâu"),
]


@pytest.mark.parametrize("name,change,field,words", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_values_are_named_in_vietnamese(mini_text, name, change, field, words):
    text = mini_text + change if isinstance(change, str) else mini_text.replace(*change, 1)
    assert text != mini_text
    hit = [e for e in errors_of(text) if e.field == field]
    assert hit, [str(e) for e in errors_of(text)]
    assert words in hit[0].message, str(hit[0])
    assert 1 <= hit[0].line <= text.count("\n") + 1


def test_a_sound_cron_and_an_owned_domain_pass(mini_text):
    plan = parse_plan(mini_text.replace("    emails: [vanthu@som.example]\n",
                                        "    emails: [vanthu@som.example]\n    domains: [Som.Example., mail.gov.vn]\n")
                      + "schedules:\n  collect: '*/10,55 7-11,13-16 1-31/2 1-12 0,6-7'\n", "u.yaml")
    assert plan.units[0].domains == ["som.example", "mail.gov.vn"]
    assert plan.schedules.collect == "*/10,55 7-11,13-16 1-31/2 1-12 0,6-7"


def test_bytes_that_are_not_utf8_are_located(mini_text):
    data = mini_text.replace("Báo Sớm", "Báo S\udcffm").encode("utf-8", "surrogateescape")
    with pytest.raises(PlanInvalid) as e:
        parse_plan_bytes(data, "u.yaml")
    [err] = e.value.errors
    assert (err.line, err.col) == (line_of(mini_text, "Báo Sớm"), len("    name: Báo S") + 1)
    assert "0xFF" in err.message and "UTF-8" in err.message


def test_a_bom_and_windows_line_ends_are_fine(mini_text):
    plan = parse_plan_bytes(b"\xef\xbb\xbf" + mini_text.replace("\n", "\r\n").encode(), "u.yaml")
    assert plan.units[0].name == "Báo Sớm"


def test_a_control_character_is_located_in_the_file(mini_text):
    text = mini_text.replace("Báo Sớm", "Báo\x00 Sớm")
    [err] = errors_of(text)
    assert (err.line, err.col, err.field) == (line_of(text, "Báo\x00"), len("    name: Báo") + 1, "(document)")
    assert "U+0000" in err.message


def test_an_alias_within_reason_is_read_but_a_bomb_is_refused(mini_text):
    plan = parse_plan(mini_text.replace("  - {id: huyen, name: UBND các huyện}",
                                        "  - {id: huyen, name: &n UBND các huyện}\n  - {id: xa, name: *n}"), "u.yaml")
    assert plan.groups[2].name == "UBND các huyện"
    bomb = "".join(f"b{i}: &b{i} [{', '.join([f'*b{i - 1}'] * 9) if i else 'x'}]\n" for i in range(8))
    errs = errors_of(mini_text + bomb)
    assert any("phình ra" in e.message for e in errs), [str(e) for e in errs]


# -- the cache ----------------------------------------------------------------------------

def test_the_validated_plan_is_cached_by_content_and_code(tmp_path, mini_text, monkeypatch):
    plan_file, cache = tmp_path / "units.yaml", tmp_path / "cache"
    plan_file.write_text(mini_text, encoding="utf-8")
    first = plancache.read_plan(plan_file, cache)
    assert len(list(cache.glob("plan-*.pickle"))) == 1

    def no_parse(*a):
        raise AssertionError("parsed again")
    monkeypatch.setattr("models.loader.parse_plan_bytes", no_parse)
    again = plancache.read_plan(plan_file, cache)
    assert again == first and again.digest == first.digest
    plan_file.write_text(mini_text.replace("Báo Sớm", "Báo Sáng"), encoding="utf-8")
    with pytest.raises(AssertionError, match="parsed again"):
        plancache.read_plan(plan_file, cache)                       # the file changed
    plan_file.write_text(mini_text, encoding="utf-8")
    monkeypatch.setattr(plancache, "code_version", lambda: "another loader")
    with pytest.raises(AssertionError, match="parsed again"):
        plancache.read_plan(plan_file, cache)                       # the code changed


def test_a_broken_cache_is_ignored_and_a_bad_plan_never_cached(tmp_path, mini_text):
    plan_file, cache = tmp_path / "units.yaml", tmp_path / "cache"
    plan_file.write_text(mini_text, encoding="utf-8")
    target = plancache.cache_file(plan_file.read_bytes(), cache)
    cache.mkdir()
    target.write_bytes(b"\x80\x05 not a pickle")
    assert plancache.read_plan(plan_file, cache).plan.id == "kh-test"
    plan_file.write_text(mini_text.replace('due: "05/12"', 'due: "31/02"'), encoding="utf-8")
    with pytest.raises(PlanInvalid):
        plancache.read_plan(plan_file, cache)
    assert plancache.cache_file(plan_file.read_bytes(), cache).exists() is False


def test_validate_loads_neither_docxtpl_nor_prefect():
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "dondoc.cli", "validate"], check=False,
                          cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "models.plan" in imported
    assert not {m for m in imported if m.split(".")[0] in ("docxtpl", "prefect", "docx")}


def test_an_address_with_diacritics_is_refused_where_it_is_written():
    from tests.conftest import MINI
    with pytest.raises(PlanInvalid) as e:
        parse_plan(MINI.replace("vanthu@som.example", "vănthư@som.example"), "mini.yaml")
    err = e.value.errors[0]
    assert err.field == "units[0].emails[0]" and "chữ không dấu" in err.message
    assert err.line == MINI.splitlines().index("    emails: [vanthu@som.example]") + 1
