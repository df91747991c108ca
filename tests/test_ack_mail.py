"""An acknowledgement's mail is rendered once per task and day and the unit's name and tag put
in (dondoc.letters.build_letter): the result must be the mail rendered for that unit alone."""
from __future__ import annotations

import datetime as dt
import email
import email.policy

from dondoc import letters
from dondoc.letters import SUBJECTS, build_letter, context
from dondoc.render import Templates
from models.calendar import BusinessCalendar
from models.loader import parse_plan
from models.rules import Action
from tests.conftest import MINI

DAY = dt.date(2026, 12, 2)


def ack_row(plan, unit: str, seq: int = 0) -> dict:
    from dondoc.ledger import action_row
    a = Action(f"kh-test/2026/bao-cao-nam/{unit}/ack" + (f"-{seq}" if seq else ""), "ack", "kh-test", "2026",
               "bao-cao-nam", unit, seq, DAY, DAY + dt.timedelta(days=3), (f"vanthu@{unit}.example",),
               plan_hash=plan.digest)
    return action_row(a, DAY, f"<{unit}.{seq}.ack@stttt.example>", None)


def rendered_alone(plan, row, templates, cal) -> tuple[str, str]:
    """The mail as it was rendered before the shared rendering: one template render per unit."""
    ctx = context(plan, row, cal)
    ctx |= {"addressee": plan.unit(row["unit_id"]).name, "docx_name": "", "update": bool(row["seq"]),
            "subject": SUBJECTS["ack"].format(title=ctx["task"]["title"]),
            "received_date": f"{DAY:%d/%m/%Y}"}
    return templates.mail("ack", ctx)[:2]


def test_shared_rendering_is_the_units_own_mail_even_with_html_characters_in_its_name():
    plan = parse_plan(MINI.replace("name: Đài Muộn", 'name: "Đài <Muộn> & \'Sớm\' \\"A\\"  B"'), "mini.yaml")
    templates, cal = Templates(), BusinessCalendar()
    for unit in ("som", "muon", "khong"):
        for seq in (0, 1):
            row = ack_row(plan, unit, seq)
            expected = rendered_alone(plan, row, templates, cal)
            assert letters._mail_of(plan, row, templates, cal, None, plan.unit(unit).name,
                                    f"kh-test/2026/bao-cao-nam/{unit}") == expected
            assert plan.unit(unit).name.split()[0] in expected[1]
    assert sum(v is not None for v in letters._MAILS[templates].values()) == 2   # once per update flag
    letter = build_letter(plan, ack_row(plan, "muon"), templates, cal, "dondoc@stttt.example",
                          dt.datetime(2026, 12, 2, 9, tzinfo=dt.UTC))
    assert letter.recipients == ("vanthu@muon.example",) and b"X-Dondoc-Key: kh-test/2026/bao-cao-nam/muon/ack" \
        in letter.data
    mail = email.message_from_bytes(letter.data, policy=email.policy.default)   # plain text alone, as RT's autoreply
    assert mail.get_content_type() == "text/plain" and not mail.is_multipart()
    assert "Đài <Muộn> & 'Sớm'" in mail.get_content() and "đã nhận được báo cáo" in mail.get_content()
    assert len(letter.data) < 1500 and letter.data.count(b"\n") < 25


def test_a_template_that_changes_the_name_is_rendered_for_each_unit(tmp_path):
    (tmp_path / "mail").mkdir()
    text = (Templates().roots[-1] / "mail" / "ack.txt.j2").read_text(encoding="utf-8")
    (tmp_path / "mail" / "ack.txt.j2").write_text(
        text.replace("{% block body %}", "{% block body %}{{ addressee|upper }} ({{ unit.id }}): "), encoding="utf-8")
    plan, templates, cal = parse_plan(MINI, "mini.yaml"), Templates(tmp_path), BusinessCalendar()
    for unit in ("som", "muon"):
        row = ack_row(plan, unit)
        mail = letters._mail_of(plan, row, templates, cal, None, plan.unit(unit).name,
                                f"kh-test/2026/bao-cao-nam/{unit}")
        assert mail == rendered_alone(plan, row, templates, cal)
        assert f"{plan.unit(unit).name.upper()} ({unit})" in mail[1]
    assert set(letters._MAILS[templates].values()) == {None}


def test_the_to_header_and_the_date_are_what_the_email_package_writes():
    import random
    from email.utils import format_datetime, formataddr

    import pytest
    rnd = random.Random(2047)
    pieces = ["UBND", "xã", "Số", "3", "huyện", "Đắk", "Mil", "é", "a", "(b)", '"q"', "\\", "<x>", ",", "Ấp", "=", "_",
              "?", "tab\tx", ""]
    names = ["", "UBND xa So 3", "Đài <Muộn> & 'Sớm'", "UBND xã Số 3 huyện Đắk Mil", "a" * 40 + "é"]
    names += [" ".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 9))) for _ in range(3000)]
    chosen = set()
    for name in names:
        for addresses in (["vanthu@xa.example"], ["a@x.example", "b.c+d@y.example"]):
            expected = ", ".join(formataddr((name, a), charset="utf-8") for a in addresses)
            assert letters._named(name, addresses) == expected, name
            chosen.add(expected[:10])
    assert any(c.startswith("=?utf-8?q?") for c in chosen) and any(c.startswith("=?utf-8?b?") for c in chosen)
    with pytest.raises(UnicodeEncodeError):   # an address the header cannot carry is refused as before
        letters._named("Văn thư", ["vănthư@ubnd.example"])
    instant = dt.datetime(2026, 12, 2, 2, 5, 9, tzinfo=dt.UTC)
    for when in (instant, instant.astimezone(dt.timezone(dt.timedelta(hours=7))), instant.replace(tzinfo=None),
                 instant.astimezone(dt.timezone(dt.timedelta(hours=-3, minutes=-30))), instant):
        assert letters._date(when) == format_datetime(when)


def test_a_header_with_a_line_break_of_its_own_is_refused_and_our_folding_is_not():
    import pytest
    folded = letters._encoded("đã nhận báo cáo kết quả thực hiện kế hoạch năm 2026 của UBND xã Số 3")
    assert "\r\n " in folded and letters.mime([("Subject", folded)], "t", "<p>t</p>", [], "<a@b>")
    for bad in ("a\r\nBcc: x@y.example", "a\nBcc: x@y.example", "a\rb", "a\r\n b\nc", "a\r\n"):
        with pytest.raises(ValueError, match="line break in header Subject"):
            letters.mime([("Subject", bad)], "t", "<p>t</p>", [], "<a@b>")


def test_the_line_break_check_and_the_base64_lines_are_the_plain_rules():
    import base64
    import random
    rnd = random.Random(2045)
    for _ in range(3000):   # refused exactly when a value keeps a CR or LF once its folds are taken out
        values = ["".join(rnd.choice(["a", " ", "\r", "\n", "\r\n ", "\r\n", "ệ"]) for _ in range(rnd.randint(0, 6)))
                  for _ in range(rnd.randint(1, 4))]
        headers = [(f"X-H{i}", v) for i, v in enumerate(values)]
        bad = next((n for n, v in headers if "\n" in v.replace("\r\n ", "") or "\r" in v.replace("\r\n ", "")), None)
        try:
            letters.mime(headers, "t", "h", [], "<a@b>")
            refused = None
        except ValueError as exc:
            refused = str(exc)
        assert refused == (f"line break in header {bad}" if bad else None), values
    for n in [*range(0, 200), 4095, 4096, 4097]:
        data = rnd.randbytes(n)
        text = base64.b64encode(data)
        assert letters._b64(data) == b"".join([text[i:i + 76] + b"\r\n" for i in range(0, len(text), 76)])
