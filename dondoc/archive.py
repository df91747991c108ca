"""Files kept under the data folder: raw messages (content-addressed) and attachments.

Side effect: the file system. A raw message is written once under its SHA-256, so keeping
the same message twice writes nothing new (a copy left short by a crash is written again);
an attachment never leaves its folder and never overwrites another.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
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
    try:
        _create(folder, path, raw)
    except FileExistsError:
        if os.stat(path).st_size != len(raw):
            tmp = f"{path}.tmp{os.getpid()}"
            with open(tmp, "wb") as f:
                f.write(raw)
            os.replace(tmp, path)
    return digest, Path(path)


def _create(folder: str, path: str, raw: bytes) -> None:
    """Create `path` in `folder` (made when missing) and write `raw`; FileExistsError if it is there."""
    try:
        f = open(path, "xb")
    except FileNotFoundError:   # the first message of this one of 256 folders
        os.makedirs(folder, exist_ok=True)
        f = open(path, "xb")
    with f:
        f.write(raw)


def read_kept(paths: list[str], own_domain: str, ours: frozenset[str]) -> Iterator:
    """Each kept raw message of `paths` parsed (`models.mailparse.parse_reply(raw, own_domain,
    ours)`), in order: a Reply, or the exception raised reading it (the caller quarantines that
    message alone). Parsing in worker processes was measured and did not pay on 2 shared cores
    (bench/README.md, collect)."""
    from models.mailparse import parse_reply
    for path in paths:
        try:
            with open(path, "rb") as f:
                yield parse_reply(f.read(), own_domain, ours=ours)
        except Exception as e:   # noqa: BLE001 — handed back in its place
            yield e


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
