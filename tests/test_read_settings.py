"""The read-only commands find the plan file and the ledger where `Settings` finds them, without
pydantic-settings."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dondoc.cli import read_settings
from dondoc.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("environ, dotenv", [
    ({}, ""),
    ({"DONDOC_DB": "/x/a.db"}, ""),
    ({"dondoc_config": "p/k.yaml"}, "DONDOC_DB=/y/b.db\n"),
    ({"DONDOC_DB": "/x/a.db"}, "# ghi chú\nexport DONDOC_DB='/y/b.db'\nDONDOC_CONFIG=\"c d/k.yaml\"\n"),
])
def test_the_same_paths_as_settings(tmp_path, monkeypatch, environ, dotenv):
    monkeypatch.chdir(tmp_path)
    for k in ("DONDOC_DB", "DONDOC_CONFIG"):
        monkeypatch.delenv(k, raising=False)
    for k, v in environ.items():
        monkeypatch.setenv(k, v)
    if dotenv:
        (tmp_path / ".env").write_text(dotenv, encoding="utf-8")
    light, full = read_settings(), Settings()
    assert (light.config, light.db) == (full.config, full.db)


def test_status_imports_neither_pydantic_settings_nor_every_countrys_holidays(tmp_path):
    code = ("import sys, dondoc.cli as c; c.main(['status', '--json']); "
            "print('pydantic_settings' in sys.modules, 'holidays.countries' in sys.modules, 'yaml' in sys.modules, "
            "'docxtpl' in sys.modules, 'prefect' in sys.modules, file=sys.stderr)")
    env = {"DONDOC_DB": str(tmp_path / "l.db"), "DONDOC_CONFIG": str(ROOT / "config" / "units.yaml"),
           "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, check=True)   # the cache
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.stderr.split()[-5:] == ["False"] * 5, out.stderr
