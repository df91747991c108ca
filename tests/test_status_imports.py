"""The read-only commands (`status`, `plan`, `validate`; a plan from the cache) import only what
they use: start-up is most of their time (bench/README.md, "status")."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NEVER = ("holidays.countries", "yaml", "docxtpl", "prefect", "sqlite_utils", "pydantic_settings", "docx", "click",
         "pluggy", "numpy", "asyncio")
ALSO = {"status --json": ("jinja2", "rich"), "plan": ("jinja2", "rich"), "validate": ("jinja2", "rich"),
        "status --html": ("rich",), "status": ("jinja2",)}


@pytest.mark.parametrize("command", list(ALSO))
def test_read_only_commands_import_only_what_they_use(tmp_path, command):
    argv = command.split() + ([str(tmp_path / "s.html")] if command.endswith("--html") else [])
    code = (f"import sys, dondoc.cli as c; c.main({argv!r}); "
            f"print('imported:', *[m for m in {NEVER + ALSO[command]!r} if sys.modules.get(m)], file=sys.stderr)")
    env = {"DONDOC_DB": str(tmp_path / "l.db"), "DONDOC_CONFIG": str(ROOT / "config" / "units.yaml"),
           "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    first = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr     # the plan's cache, and the ledger, made here
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stderr.splitlines()[-1:] == ["imported:"], out.stderr    # nothing of NEVER nor ALSO


def test_status_still_migrates_a_new_ledger_and_reads_an_old_one(tmp_path):
    """sqlite-utils is loaded when there is a migration to apply, and not after."""
    from dondoc.ledger import MIGRATIONS, Ledger
    code = ("import sys, dondoc.cli as c; c.main(['status', '--json']); "
            "print('sqlite_utils' in sys.modules, file=sys.stderr)")
    env = {"DONDOC_DB": str(tmp_path / "l.db"), "DONDOC_CONFIG": str(ROOT / "config" / "units.yaml"),
           "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    said = [subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
            for _ in range(2)]
    assert [r.stderr.split()[-1:] for r in said] == [["True"], ["False"]], [r.stderr for r in said]
    assert Ledger(tmp_path / "l.db").schema_version == len(MIGRATIONS)
