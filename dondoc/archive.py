"""Files kept under the data folder: raw messages (content-addressed) and attachments.

Side effect: the file system. A raw message is written once under its SHA-256, so keeping
the same message twice writes nothing new (a copy left short by a crash is written again);
an attachment never leaves its folder and never overwrites another.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from models.inbound import safe_filename


def store_raw(data_dir: Path, raw: bytes) -> tuple[str, Path]:
    """(sha256, path) of the raw message, written if it is not there yet. A new file is created
    and written in place (exclusively: half the file-system work of a temporary file renamed);
    a file found shorter than the message (a run killed while writing it, or another run
    writing it now) is replaced whole, atomically. The name is the content's hash, so a file
    of the message's length is the message."""
    digest = hashlib.sha256(raw).hexdigest()
    folder = os.path.join(data_dir, "mail", digest[:2])
    path = os.path.join(folder, f"{digest}.eml")
    if folder not in _MADE:   # 256 folders: each made (or found) once per process
        os.makedirs(folder, exist_ok=True)
        _MADE.add(folder)
    try:
        with open(path, "xb") as f:
            f.write(raw)
    except FileExistsError:
        if os.stat(path).st_size != len(raw):
            tmp = f"{path}.tmp{os.getpid()}"
            with open(tmp, "wb") as f:
                f.write(raw)
            os.replace(tmp, path)
    return digest, Path(path)


_MADE: set[str] = set()


def save_attachment(folder: Path | str, filename: str, data: bytes) -> Path:
    """Write under a safe name in `folder`; a name already taken gets ` (2)`, ` (3)`, …"""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = safe_filename(filename)
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    n = 1
    while True:
        candidate = folder / (name if n == 1 else f"{stem} ({n}){dot}{ext}")
        try:
            with open(candidate, "xb") as f:   # exclusive: never overwrite
                f.write(data)
            return candidate
        except FileExistsError:
            n += 1
