"""`dondoc status` (a plan from the cache) imports only what it uses."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_status_imports_no_yaml_docxtpl_prefect_nor_every_countrys_holidays(tmp_path):
    code = ("import sys, dondoc.cli as c; c.main(['status', '--json']); "
            "print('holidays.countries' in sys.modules, 'yaml' in sys.modules, "
            "'docxtpl' in sys.modules, 'prefect' in sys.modules, file=sys.stderr)")
    env = {"DONDOC_DB": str(tmp_path / "l.db"), "DONDOC_CONFIG": str(ROOT / "config" / "units.yaml"),
           "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, check=True)   # the cache
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.stderr.split()[-4:] == ["False"] * 4, out.stderr
