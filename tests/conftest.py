"""Shared fixtures: a small plan written out literally, and the shipped plan."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from models.loader import parse_plan

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "config" / "units.yaml"

# A plan small enough to read in one glance. Named units: one that reports early, one that
# reports late, one that never reports, one exempt.
MINI = textwrap.dedent("""\
    plan:
      id: kh-test
      title: "Truyền thông về học tập suốt đời"
      implements: "Kế hoạch số 169/KH-UBND ngày 21/3/2023 của UBND tỉnh"
      report_to: UBND tỉnh
      recipients: [UBND tỉnh (b/c), "Lưu: VT, TTBCXB"]
    issuer:
      parent: UBND TỈNH ĐẮK NÔNG
      name: SỞ THÔNG TIN VÀ TRUYỀN THÔNG
      short_name: Sở Thông tin và Truyền thông
      code: STTTT
      division: TTBCXB
      division_name: Phòng Thông tin - Báo chí - Xuất bản
      place: Đắk Nông
      email: dondoc@stttt.example
    signer:
      authority: KT. GIÁM ĐỐC
      title: PHÓ GIÁM ĐỐC
      name: Hoàng Mạnh Thắng
      email: pgd@stttt.example
    indicators:
      - {id: tin-bai, name: "Tin, bài", unit: "tin, bài"}
    groups:
      - {id: bao-chi, name: Cơ quan báo chí}
      - {id: huyen, name: UBND các huyện}
    units:
      - id: som
        name: Báo Sớm
        group: bao-chi
        emails: [vanthu@som.example]
        head_email: tbt@som.example
      - id: muon
        name: Đài Muộn
        group: bao-chi
        emails: [vanthu@muon.example, bientap@muon.example]
        head_email: gd@muon.example
      - id: khong
        name: UBND huyện Không
        group: huyen
        emails: [vanthu@khong.example]
      - id: mien
        name: UBND huyện Miễn
        group: huyen
        emails: [vanthu@mien.example]
    tasks:
      - id: bao-cao-nam
        title: báo cáo kết quả năm {year}
        text: Tuyên truyền về học tập suốt đời.
        assign: {groups: [bao-chi, huyen]}
        exempt: [mien]
        indicators: [tin-bai]
        due: "05/12"
    policy:
      first_request_days_before: 30
      reminders: [{working_days_before: 10}, {working_days_before: 5}]
      urging: {working_days_before: 3, cc_head: true}
      escalation: {working_days_before: 1}
      overdue: {every_working_days: 5}
      compile_working_days_after: 15
    """)


@pytest.fixture
def mini_text() -> str:
    return MINI


@pytest.fixture
def mini():
    return parse_plan(MINI, "mini.yaml")


@pytest.fixture(scope="session")
def shipped():
    return parse_plan(SHIPPED.read_text(encoding="utf-8"), str(SHIPPED))
