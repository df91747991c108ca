"""Bad inputs to every command: missing files, files of the wrong kind, a corrupt or unusable
ledger, bad settings, servers that are down. Each ends with one line and exit code 1 (2 for a
command line argparse refuses), never a Python traceback; --debug shows it."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import ROOT, SHIPPED

TASK = "--task=truyen-thong-bao-chi"
COMMANDS = [   # every command, with arguments that would otherwise be fine
    ["validate"], ["plan", "--today", "05/11/2026"], ["status"], ["preview", "--out", "{tmp}/p"],
    ["triage", "show", "1"], ["record", "--unit", "bao-dak-nong", TASK], ["resend", "--failed"],
    ["web", "--web-port", "{port}"],
]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]   # nothing listens there once closed


def dondoc(args, env, tmp_path):
    port = str(closed_port())
    args = [a.replace("{tmp}", str(tmp_path)).replace("{port}", port) for a in args]
    return subprocess.run([sys.executable, "-m", "dondoc.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **env}, timeout=120, check=False)


def no_traceback(r, codes=(1,)):
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode in codes, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.strip(), "a failure says what happened"


@pytest.fixture
def base(tmp_path):
    return {"DONDOC_CONFIG": str(SHIPPED), "DONDOC_DB": str(tmp_path / "d.db"), "DONDOC_OUT": str(tmp_path / "out"),
            "DONDOC_DATA": str(tmp_path / "data"), "DONDOC_WEB_ACCOUNTS": str(tmp_path / "acc")}


def broken(tmp_path):
    """Environments that each break one thing a user controls."""
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a ledger " * 300)
    png = tmp_path / "plan.yaml"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    return {
        "no plan file": {"DONDOC_CONFIG": str(tmp_path / "khong-co.yaml")},
        "plan is binary": {"DONDOC_CONFIG": str(png)},
        "plan is a folder": {"DONDOC_CONFIG": str(tmp_path)},
        "corrupt ledger": {"DONDOC_DB": str(garbage)},
        "ledger is a folder": {"DONDOC_DB": str(tmp_path)},
        "bad setting": {"DONDOC_SMTP_PORT": "hai-mươi-lăm"},
    }


def test_every_command_on_every_broken_input_says_one_line(base, tmp_path):
    cases = [(name, cmd, env) for name, env in broken(tmp_path).items() for cmd in COMMANDS]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda c: (c, dondoc(c[1], {**base, **c[2]}, tmp_path)), cases))
    for (name, cmd, _), r in results:
        try:   # `triage show` reads no plan: a broken plan is no failure of its own
            no_traceback(r, (0, 1) if name.startswith("plan") and cmd[0] == "triage" else (1,))
        except AssertionError as e:
            raise AssertionError(f"{name}: dondoc {' '.join(cmd)}: {e}") from None
    said = {name: r.stderr for (name, cmd, _), r in results if cmd == ["status"]}
    assert "sổ cái" in said["corrupt ledger"] and "khôi phục" in said["corrupt ledger"]
    assert "DONDOC_SMTP_PORT" in said["bad setting"] or "smtp_port" in said["bad setting"]


def test_wrong_files_given_to_commands(base, tmp_path):
    pdf = tmp_path / "bao-cao.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%%EOF\n")
    cases = [
        (["record", "--unit", "bao-dak-nong", TASK, "--file", str(tmp_path / "khong-co.pdf")], (1,)),
        (["record", "--unit", "bao-dak-nong", TASK, "--file", str(tmp_path)], (1,)),
        (["record", "--unit", "khong-co", TASK], (1,)),
        (["check-format", str(pdf)], (1, 2)),
        (["check-format", str(tmp_path / "khong-co.docx")], (1, 2)),
        (["check-format", str(tmp_path)], (1, 2)),
        (["status", "--html", str(tmp_path / "khong-co" / "x.html")], (1,)),
        (["validate", str(pdf)], (1,)),
        (["triage", "assign", "7", "--yes", "--reason", "x"], (1,)),
        (["status", "--today", "31/02/2026"], (2,)),
        (["run", "nhap"], (2,)),
        (["web", "--web-host", "0.0.0.0"], (1,)),      # reachable from elsewhere with no account: refused
    ]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda c: dondoc(c[0], base, tmp_path), cases))
    for (cmd, codes), r in zip(cases, results, strict=True):
        try:
            no_traceback(r, codes)
        except AssertionError as e:
            raise AssertionError(f"dondoc {' '.join(cmd)}: {e}") from None
    assert "--add-account" in results[-1].stderr
    assert "cách dùng" in results[-2].stderr and "lựa chọn không hợp lệ" in results[-2].stderr


def test_a_busy_port_and_debug(base, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        r = dondoc(["web", "--web-port", str(busy.getsockname()[1])], base, tmp_path)
    no_traceback(r)
    assert "--web-port" in r.stderr
    r = dondoc(["--debug", "status"], {**base, "DONDOC_DB": str(tmp_path)}, tmp_path)
    assert "Traceback" in r.stderr and r.returncode == 1


def test_mail_servers_down(base, tmp_path, prefect_api):
    """A run against an SMTP port where nothing listens, and an IMAP one."""
    env = {**base, "PREFECT_API_URL": prefect_api, "DONDOC_SMTP_HOST": "127.0.0.1",
           "DONDOC_SMTP_PORT": str(closed_port()), "DONDOC_SMTP_SECURITY": "none", "DONDOC_SMTP_ATTEMPTS": "1",
           "DONDOC_IMAP_HOST": "127.0.0.1", "DONDOC_IMAP_PORT": str(closed_port()), "DONDOC_IMAP_SECURITY": "none",
           "DONDOC_IMAP_USERNAME": "vanthu", "DONDOC_IMAP_PASSWORD": "x"}
    runs = [["run", "dispatch", "--today", "05/11/2026"], ["run", "collect", "--today", "05/11/2026"]]
    envs = [env, env, {**env, "DONDOC_IMAP_HOST": "", "DONDOC_INBOX": "",   # the last: no mailbox set at all
                       "DONDOC_DB": str(tmp_path / "own.db"), "DONDOC_OUT": str(tmp_path / "own-out")}]
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda c, e: dondoc(c, e, tmp_path), [*runs, runs[1]], envs))
    for cmd, r in zip(runs, results, strict=False):
        try:
            no_traceback(r)
        except AssertionError as e:
            raise AssertionError(f"dondoc {' '.join(cmd)}: {e}") from None
    assert "lần chạy sau sẽ gửi" in results[0].stderr
    assert "không kết nối được máy chủ thư" in results[1].stderr
    no_traceback(results[2])
    assert "\ndondoc run: chưa đặt hộp thư để đọc thư trả lời: đặt DONDOC_INBOX" in results[2].stderr   # one line
    assert "ValueError" not in results[2].stderr and "no inbox" not in results[2].stderr
