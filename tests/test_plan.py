"""The plan file: the shipped seed plan loads; every kind of mistake is named with its line and field."""
from __future__ import annotations

import pytest

from models.loader import PlanInvalid, parse_plan


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
    assert {t.due for t in tasks.values() if not t.event} == {"05/12"}
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
    ("duplicate unit", "  - id: muon", "  - id: som", ("- id: som", 2), "units[1].id", "duplicate id 'som'"),
    ("duplicate task", "\npolicy:", EXTRA_TASK, ("- id: bao-cao-nam", 2), "tasks[1].id",
     "duplicate id 'bao-cao-nam'"),
    ("unknown group in task", "groups: [bao-chi, huyen]", "groups: [bao-chi, xa]",
     ("groups: [bao-chi, xa]", 1), "tasks[0].assign.groups[1]", "unknown group 'xa'"),
    ("unknown unit in task", "exempt: [mien]", "exempt: [mien, ma]", ("exempt: [mien, ma]", 1),
     "tasks[0].exempt[1]", "unknown unit 'ma'"),
    ("unknown group of unit", "group: huyen\n    emails: [vanthu@khong", "group: tinh\n    emails: [vanthu@khong",
     ("group: tinh", 1), "units[2].group", "unknown group 'tinh'"),
    ("invalid email", "vanthu@muon.example,", "vanthu@@muon.example,", ("vanthu@@muon", 1), "units[1].emails[0]",
     "không phải là địa chỉ email hợp lệ"),
    ("date that does not exist", 'due: "05/12"', 'due: "31/02"', ('due: "31/02"', 1), "tasks[0].due",
     "31/02 is not a date that exists"),
    ("reminder after the deadline", "{working_days_before: 5}", "{working_days_before: -2}",
     ("working_days_before: -2", 1), "policy.reminders[1].working_days_before", "on or after the deadline"),
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
    assert "comes before the first request" in errs[0].message


def test_values_are_data_not_formatting(mini_text):
    plan = parse_plan(mini_text.replace("name: Báo Sớm", 'name: "Báo <Sớm> & \\"Co\\" {{ x }}"'), "u.yaml")
    assert plan.units[0].name == 'Báo <Sớm> & "Co" {{ x }}'


def test_yaml_scalars_are_not_reinterpreted(mini_text):
    # YAML 1.1 would read 07:30 as 450 and `no` as False; the plan keeps what was written.
    plan = parse_plan(mini_text.replace("  name: Hoàng Mạnh Thắng", "  name: no")
                      + "calendar:\n  working_hours: {start: 07:30, end: 16:30}\n", "u.yaml")
    assert plan.signer.name == "no"
    assert plan.calendar.working_hours.end.hour == 16
