"""LibreOffice, headless: the one place dondoc runs it (letters and reports printed to PDF,
a .doc attachment read as text, the print check).

Side effects: runs soffice in a session of its own, one call at a time per process, with a
profile kept for the process's life (making one costs seconds); a call still at work after its
time-out is killed with every process it started, and its profile thrown away.
"""
from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

_PROFILE: list[str] = []
_LOCK = threading.Lock()


class OfficeTimeout(Exception):
    """LibreOffice was still at work after the time-out (it has been killed)."""


def soffice() -> str | None:
    """The LibreOffice command, or None when it is not installed."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def _profile() -> str:
    if not _PROFILE:
        _PROFILE.append(tempfile.mkdtemp(prefix="dondoc-lo-"))
        atexit.register(shutil.rmtree, _PROFILE[0], True)
    return _PROFILE[0]


def convert(files: Sequence[Path], to: str, timeout: float) -> dict[Path, Path | None]:
    """Convert `files` in ONE LibreOffice call (`to`: "pdf", or a filter such as
    "txt:Text (encoded):UTF8"), each result written beside its file under the file's stem;
    None for a file that did not convert, and for every file without LibreOffice. Raises
    OfficeTimeout after `timeout` seconds. Inputs are copied to a private folder first, so
    two files of the same name cannot collide."""
    command, ext = soffice(), "." + to.split(":", 1)[0]
    if not command or not files:
        return dict.fromkeys(files)
    with _LOCK, tempfile.TemporaryDirectory(prefix="dondoc-office-") as tmp:
        copies = {f: Path(tmp) / f"{i:04d}{Path(f).suffix}" for i, f in enumerate(files)}
        for f, c in copies.items():
            shutil.copyfile(f, c)
        proc = subprocess.Popen([command, f"-env:UserInstallation=file://{_profile()}", "--headless", "--norestore",
                                 "--nolockcheck", "--convert-to", to, "--outdir", tmp, *map(str, copies.values())],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)   # its own session: soffice.bin goes with the launcher
            proc.wait()
            shutil.rmtree(_PROFILE.pop(), ignore_errors=True)   # perhaps left locked or half written
            raise OfficeTimeout(f"LibreOffice chưa xong sau {timeout:.0f} giây") from None
        out: dict[Path, Path | None] = {}
        for f, c in copies.items():
            made = c.with_suffix(ext)
            out[f] = Path(shutil.move(made, Path(f).with_suffix(ext))) if made.exists() else None
    return out
