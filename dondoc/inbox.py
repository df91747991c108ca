"""Where replies come from: an IMAP folder or a local Maildir.

Side effect: the mailbox. `fetch()` yields what is new since the last run (IMAP: UIDs above
the last one seen, while UIDVALIDITY is unchanged), in bulk; `done(uids)` marks messages
seen (or moves them) and is called only after the ledger has committed them. Nothing is
ever deleted.
"""
from __future__ import annotations

import datetime as dt
import email.utils
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Fetched:
    uid: str
    raw: bytes
    received_at: dt.datetime | None   # when our server received it


def head_of(raw: bytes) -> bytes:
    """The header block of a raw message: what comes before its first empty line (CRLF or LF
    line ends). Cheap: no parsing, and no copy of the body."""
    lf = raw.find(b"\n\n")
    crlf = raw.find(b"\r\n\r\n", 0, len(raw) if lf < 0 else lf + 4)   # one starting before `lf`
    end = crlf if crlf >= 0 else lf
    return raw if end < 0 else raw[:end]


_RECEIVED = re.compile(rb"^Received:[^\n]*(?:\n[ \t][^\n]*)*", re.M | re.I)


def _received_header(raw: bytes) -> dt.datetime | None:
    head = head_of(raw)
    m = _RECEIVED.search(head)
    if not m or b";" not in m[0]:
        return None
    try:
        return email.utils.parsedate_to_datetime(m[0].rsplit(b";", 1)[1].decode("ascii", "replace").strip())
    except (TypeError, ValueError):
        return None


class MaildirSource:
    """A Maildir (on-premise delivery, the offline demo). New mail is in `new/`; once kept it is
    renamed into `cur/` with the Seen flag, as a mail client would: the file itself is never
    rewritten, and the folder is listed once per run (never rescanned per message)."""

    def __init__(self, path: Path):
        self.path = path
        for sub in ("new", "cur", "tmp"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        self.name = f"maildir:{path}"

    def fetch(self, uidvalidity: int | None, last_uid: int) -> tuple[int, Iterator[Fetched]]:
        def items():
            new = os.path.join(self.path, "new")
            names = sorted(e.name for e in os.scandir(new) if e.is_file() and not e.name.startswith("."))
            for name in names:
                file = os.path.join(new, name)
                with open(file, "rb") as f:
                    raw = f.read()
                received = _received_header(raw) or dt.datetime.fromtimestamp(os.stat(file).st_mtime, dt.UTC)
                yield Fetched(name, raw, received)
        return 0, items()

    def done(self, uids: list[str]) -> None:
        new, cur = os.path.join(self.path, "new"), os.path.join(self.path, "cur")
        for name in uids:   # a rename: the message's bytes stay as they came
            os.replace(os.path.join(new, name), os.path.join(cur, f"{name.split(':')[0]}:2,S"))


class ImapSource:
    """An IMAP folder. Remembers nothing itself: the ledger keeps UIDVALIDITY and the last UID."""

    def __init__(self, host: str, port: int, username: str, password: str, security: str = "tls",
                 folder: str = "INBOX", move_to: str | None = None, chunk: int = 500):
        from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted
        cls = {"tls": MailBox, "starttls": MailBoxStartTls, "none": MailBoxUnencrypted}[security]
        self.box = cls(host, port).login(username, password, initial_folder=folder)
        self.folder, self.move_to, self.chunk = folder, move_to, chunk
        self.name = f"imap://{username}@{host}:{port}/{folder}"

    def fetch(self, uidvalidity: int | None, last_uid: int) -> tuple[int, Iterator[Fetched]]:
        status = self.box.folder.status(self.folder, ["UIDVALIDITY", "UIDNEXT"])
        valid = status["UIDVALIDITY"]
        if valid != uidvalidity:
            last_uid = 0   # the folder was recreated: read it all again (keeping is idempotent)
        client = self.box.client
        if last_uid:   # kept by a run that died before marking them: mark them now
            typ, data = client.uid("SEARCH", None, f"UID 1:{last_uid}" + ("" if self.move_to else " UNSEEN"))
            self.done([u.decode() for u in (data[0] or b"").split() if int(u) <= last_uid])
        typ, data = client.uid("SEARCH", None, f"UID {last_uid + 1}:*")
        uids = [int(u) for u in (data[0] or b"").split() if int(u) > last_uid]

        def items():
            for i in range(0, len(uids), self.chunk):
                part = ",".join(map(str, uids[i:i + self.chunk]))
                typ, resp = client.uid("FETCH", part, "(UID INTERNALDATE BODY.PEEK[])")
                for item in resp:
                    if not isinstance(item, tuple):
                        continue
                    head, raw = item
                    found = re.search(rb"UID (\d+)", head)
                    if found is None:   # never skip silently: a reply must not be lost
                        raise ValueError(f"IMAP FETCH answer without a UID: {head[:80]!r}")
                    uid = int(found[1])
                    stamp = re.search(rb'INTERNALDATE "([^"]+)"', head)
                    received = dt.datetime.strptime(stamp[1].decode().strip(), "%d-%b-%Y %H:%M:%S %z") \
                        if stamp else None
                    yield Fetched(str(uid), raw, received)
        return valid, items()

    def done(self, uids: list[str]) -> None:
        if not uids:
            return
        if self.move_to:
            self.box.move(uids, self.move_to)
        else:
            self.box.flag(uids, r"\Seen", True)

    def close(self) -> None:
        self.box.logout()

