"""Numbers as units write them, and the indicators a reply gives: pure, literal inputs."""
from __future__ import annotations

import pytest

from models.inbound import Number, indicators_from, read_indicators, read_number
from models.mailparse import parse_reply


@pytest.mark.parametrize("text,number", [
    ("12", Number(12)),
    ("0", Number(0)),
    ("khoảng 20", Number(20, True)),
    ("Khoảng 20 tin bài", Number(20, True)),
    ("~20", Number(20, True)),
    ("20+", Number(20, True)),
    ("hơn 20", Number(20, True)),
    ("trên 20", Number(20, True)),
    ("gần 20", Number(20, True)),
    ("20 trở lên", Number(20, True)),
    ("1.234", Number(1234)),
    ("1 234", Number(1234)),
    ("1\u00a0234", Number(1234)),
    ("1.234.567", Number(1234567)),
    ("87,5", Number(87.5, kind="decimal")),
    ("87.5", Number(87.5, kind="decimal")),
    ("1.234,5", Number(1234.5, kind="decimal")),
    ("87,5%", Number(87.5, kind="percent")),
    ("100 %", Number(100, kind="percent")),
    ("15 tin, bài", Number(15)),
    ("  7  ", Number(7)),
])
def test_numbers_are_read(text, number):
    assert read_number(text) == number


@pytest.mark.parametrize("text", [
    "", "không có", "mười hai", "15 - 20", "15/20", "từ 15 đến 20", "1,250", "1,234,567", "1.23.4", "12 34",
])
def test_what_cannot_be_read_for_sure_is_none(text):
    assert read_number(text) is None


def reply(body: str):
    return parse_reply(("From: vanthu@som.example\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                        + body).encode())


def test_the_form_table_wins_and_an_estimate_is_flagged(mini):
    form = [[["TT", "Chỉ tiêu", "Đơn vị", "Số lượng"], ["1", "Tin, bài [tin-bai]", "tin, bài", "khoảng 1.250"]]]
    got = read_indicators(reply("Tin, bài: 3\n"), mini, "bao-cao-nam", form)
    assert (got.values, got.estimates, got.unreadable) == ({"tin-bai": 1250}, ("tin-bai",), ())


def test_an_unreadable_value_is_listed_with_its_text(mini):
    form = [[["TT", "Chỉ tiêu", "Đơn vị", "Số lượng"], ["1", "Tin, bài [tin-bai]", "tin, bài", "mười lăm"]]]
    got = read_indicators(reply("Đơn vị gửi phiếu.\n"), mini, "bao-cao-nam", form)
    assert got.values == {} and got.unreadable == (("tin-bai", "mười lăm"),)
    got = read_indicators(reply("Tin, bài: 15 - 20\n"), mini, "bao-cao-nam", [])
    assert got.values == {} and got.unreadable == (("tin-bai", "15 - 20"),)


def test_an_empty_form_cell_is_not_a_value_and_the_body_is_read_instead(mini):
    form = [[["TT", "Chỉ tiêu", "Đơn vị", "Số lượng"], ["1", "Tin, bài [tin-bai]", "tin, bài", ""]]]
    got = read_indicators(reply("Kính gửi Sở,\nTin, bài: 87,5\n\nTrân trọng,\nVăn thư\n"), mini, "bao-cao-nam", form)
    assert (got.values, got.unreadable) == ({"tin-bai": 87.5}, ())


def test_the_former_interface_still_answers_a_dict(mini):
    assert indicators_from(reply("Tin, bài: 1.234\n"), mini, "bao-cao-nam", []) == {"tin-bai": 1234}
    assert indicators_from(reply("Không có số liệu.\n"), mini, "bao-cao-nam", []) == {}
