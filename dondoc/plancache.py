"""Read the plan file, reusing the plan validated last time when neither the file nor the code changed.

Side effects: reads the plan file; reads and writes `plan-*.pickle` under the cache folder
(`var/cache` by default, like the ledger under `var/`). The cache only ever holds plans that
validated, keyed by the sha256 of the file's bytes and of the code that validates them (the
loader's and the schema's source, pydantic's and Python's versions), so editing the plan or
that code invalidates it. A cache that cannot be read or written is ignored.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import pickle
import sys
import tempfile
from functools import cache
from pathlib import Path

import pydantic

from models.plan import Plan

CACHE = Path("var/cache")
KEEP = 16   # cached plans kept; older ones are removed when a new one is written


@cache
def code_version() -> str:
    """Hash of everything that decides what a plan file validates to."""
    h = hashlib.sha256(f"{sys.version}|{pydantic.VERSION}".encode())
    for module in ("models.loader", "models.plan", "models.period"):
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin is not None, module
        h.update(Path(spec.origin).read_bytes())
    return h.hexdigest()


def cache_file(data: bytes, folder: Path) -> Path:
    """Where the plan validated from these bytes by this code is kept."""
    return folder / f"plan-{hashlib.sha256(code_version().encode() + data).hexdigest()[:40]}.pickle"


def read_plan(path: Path, folder: Path | None = CACHE) -> Plan:
    """Load and validate the plan file, from the cache when it holds this file's plan
    (raises models.loader.PlanInvalid, OSError). `folder=None` bypasses the cache."""
    data = path.read_bytes()
    file = cache_file(data, folder) if folder is not None else None
    if file is not None:
        with contextlib.suppress(Exception):   # missing, truncated or stale: validate again
            plan = pickle.loads(file.read_bytes())   # our own folder, written below
            if isinstance(plan, Plan):
                return plan
    from models.loader import parse_plan_bytes
    plan = parse_plan_bytes(data, str(path))
    if file is not None:
        _store(file, pickle.dumps(plan, protocol=pickle.HIGHEST_PROTOCOL))
    return plan


def _store(file: Path, blob: bytes) -> None:
    """Write atomically (a reader never sees half a pickle) and keep the newest KEEP files."""
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=".plan-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
            os.replace(tmp, file)
        finally:
            Path(tmp).unlink(missing_ok=True)
        old = sorted(file.parent.glob("plan-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)[KEEP:]
        for p in old:
            p.unlink(missing_ok=True)
    except OSError:
        pass
