"""A ledger deleted or replaced under letters already sent is noticed before anything is sent
again (finding 9 of the hardening issue: the rerun sent all 509 letters again)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, issue_drafts
from tests.test_dispatch import DAY1


def run(env: dict, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dondoc.cli", "run", "dispatch", "--today", DAY1.isoformat(), *extra],
                          cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=300)


@pytest.fixture
def served(env, prefect_api):
    """The test's settings, with the session's Prefect server (no temporary server per run)."""
    return {**env, "PREFECT_API_URL": prefect_api}


def dispatched_and_issued(env: dict, *extra: str) -> None:
    """A day's run (the draft to the secretariat), the văn thư's issue, a second run (the units)."""
    first = run(env, *extra)
    assert first.returncode == 0, first.stderr
    assert issue_drafts(env, DAY1) == [1]
    second = run(env)
    assert second.returncode == 0, second.stderr


def test_a_deleted_ledger_sends_nothing_again_until_a_person_says_so(served, smtp_server):
    env = served
    dispatched_and_issued(env)
    sent = len(smtp_server.accepted)
    assert sent == 1 + 25                                 # the draft, then one email per unit
    Path(env["DONDOC_DB"]).unlink()                       # the ledger is gone; the letters are still in out/
    again = run(env)
    assert again.returncode == 1
    assert "đã có thư của một sổ cái khác" in again.stderr.strip().splitlines()[-1]
    assert len(smtp_server.accepted) == sent              # nothing sent twice, not even a new draft
    dispatched_and_issued(env, "--i-know-the-ledger-is-new")   # a person decided: it is a new ledger
    assert len(smtp_server.accepted) == 2 * sent
    assert run(env).returncode == 0                        # the folder now belongs to the new ledger


def test_processes_opening_a_new_ledger_at_once_migrate_it_once(tmp_path):
    """Two scheduled runs (or a run and the web page) starting on a brand-new ledger, or on one
    a new version must migrate: each process waits for the one migrating, none fails."""
    import sqlite3
    opening = "import sys; from dondoc.ledger import Ledger; Ledger(sys.argv[1])"
    for attempt in range(4):
        db = tmp_path / f"l{attempt}.db"
        procs = [subprocess.Popen([sys.executable, "-c", opening, str(db)], cwd=ROOT, stderr=subprocess.PIPE,
                                  text=True) for _ in range(4)]
        errors = [p.communicate(timeout=120)[1] for p in procs]
        assert [p.returncode for p in procs] == [0] * 4, "\n".join(errors)
        versions = [v for (v,) in sqlite3.connect(db).execute("select version from migrations")]
        assert sorted(versions) == list(range(1, len(versions) + 1)) and len(versions) > 5   # each once
