"""Shared fixtures: a small plan written out literally, and the shipped plan."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from models.loader import parse_plan

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "config" / "units.yaml"

# The files that take a minute or more (the demo's year, Prefect servers, LibreOffice), run
# first: `make test` hands whole files to two workers in collection order (--dist loadfile), and
# one of these last kept one worker busy for a minute after the other had finished.
LONGEST_FIRST = ("test_demo.py", "test_smtp_faults.py", "test_dispatch.py", "test_serve.py", "test_workpool.py",
                 "test_ledger_guard.py", "test_dispatch_hostile.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """LONGEST_FIRST's files ahead of the others, each file's tests in their own order."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


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
      division_head: {title: Trưởng phòng, name: Nguyễn Thị Thu Hà}
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


# -- real servers -----------------------------------------------------------------------
import asyncio  # noqa: E402
import os  # noqa: E402
import threading  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from email import message_from_bytes, policy  # noqa: E402

from tests.servers import free_port  # noqa: E402,F401

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


class Mailbox:
    """An aiosmtpd handler that keeps what it accepted and can misbehave on request:
    `refuse` maps an address to an RCPT answer (e.g. 550), `busy_once` answers 451 to the
    first DATA for those addresses, `hold_at` blocks the n-th DATA until `release` is set."""

    def __init__(self):
        self.accepted: list = []          # parsed messages, in order
        self.raw: list[bytes] = []
        self.refuse: dict[str, str] = {}
        self.busy_once: set[str] = set()
        self.hold_at: int | None = None
        self.holding = threading.Event()
        self.release = threading.Event()
        self.data_seen = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_seen += 1
        if self.hold_at is not None and self.data_seen == self.hold_at:
            self.holding.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 30)
            return "451 4.3.0 held by the test"
        hit = self.busy_once & set(envelope.rcpt_tos)
        if hit:
            self.busy_once -= hit
            return "451 4.7.1 try again later"
        self.raw.append(envelope.content)
        self.accepted.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 2.0.0 accepted"

    def to(self, address: str) -> list:
        return [m for m in self.accepted if address in str(m["To"]) + str(m.get("Cc", ""))]


@contextmanager
def smtp_sink(box: Mailbox) -> Iterator[Mailbox]:
    """`box` served by aiosmtpd on a free loopback port (`box.port`), for the block."""
    from aiosmtpd.controller import Controller
    ctl = Controller(box, hostname="127.0.0.1", port=free_port())
    ctl.start()
    box.port = ctl.port
    try:
        yield box
    finally:
        box.release.set()
        ctl.stop()


@pytest.fixture
def smtp_server():
    with smtp_sink(Mailbox()) as box:
        yield box


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory):
    """A real Prefect API server for the whole session (prefect_test_harness)."""
    os.environ["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect-home"))
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness
    with prefect_test_harness(server_startup_timeout=120):
        yield PREFECT_API_URL.value()


@pytest.fixture
def env(tmp_path, monkeypatch, smtp_server):
    """DONDOC_* settings for one test: its own ledger and output folder, the test SMTP server."""
    values = {"DONDOC_CONFIG": str(SHIPPED), "DONDOC_DB": str(tmp_path / "dondoc.db"),
              "DONDOC_OUT": str(tmp_path / "out"), "DONDOC_SMTP_HOST": "127.0.0.1",
              "DONDOC_SMTP_PORT": str(smtp_server.port), "DONDOC_SMTP_SECURITY": "none",
              "DONDOC_SMTP_BACKOFF": "0.05", "DONDOC_SMTP_ATTEMPTS": "3"}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


@pytest.fixture(scope="session")
def dovecot():
    """A real Dovecot IMAP server on 127.0.0.1 for the whole session (started by the tests;
    `make test` installs dovecot-imapd when it is missing)."""
    from tests.servers import DovecotMissing, run_dovecot
    try:
        with run_dovecot() as server:
            yield server
    except DovecotMissing as e:
        pytest.fail(str(e))


def issue_drafts(env: dict, day, number: int = 1) -> list[int]:
    """The văn thư's step, through the Python API: register every draft waiting in the test's
    ledger as issued on `day` (numbers `number`, `number`+1, …/STTTT-TTBCXB), each with the
    PDF of its draft as the signed file (units then receive exactly that file; no second
    LibreOffice call). Returns the issued documents' ids."""
    from pathlib import Path as _Path

    from dondoc.issuing import issue
    from dondoc.ledger import Ledger
    ledger = Ledger(env["DONDOC_DB"])
    ids = []
    try:
        for i, doc in enumerate(ledger.documents(state="drafted")):
            assert doc["pdf_path"], f"draft {doc['id']} has no PDF (LibreOffice missing?)"
            issue(ledger, {}, None, _Path(env["DONDOC_OUT"]), doc["id"], f"{number + i}/STTTT-TTBCXB", day,
                  _Path(doc["pdf_path"]))
            ids.append(doc["id"])
    finally:
        ledger.db.close()   # as the văn thư's command ends: no connection left on the file
    return ids


def killed_while_held(cmd: list[str], environ: dict, smtp_server: Mailbox, at: int) -> None:
    """Run the command `cmd` and `kill -9` it while the test SMTP server holds its `at`-th
    message at DATA (a real crash mid-delivery: nothing in the process gets to clean up)."""
    import signal
    import subprocess
    smtp_server.hold_at = at
    proc = subprocess.Popen(cmd, cwd=ROOT, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert smtp_server.holding.wait(120), f"the run never reached its message {at}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        smtp_server.release.set()
