"""The ledger: what dondoc decided, sent, received and recorded, in SQLite.

Side effect: one SQLite file (sqlite3; sqlite-utils for the migrations and the writers that use
its table objects, imported on their first use, so the read-only commands never load it). Schema
changes go through MIGRATIONS, applied in order and remembered in the `migrations` table.
Decide, record, deliver: an action is inserted as `pending` before anything is sent, claimed
with a conditional update, and marked `sent` only after the server accepted it.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
import secrets
import socket
import sqlite3
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace as dc_replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.keys import Key
from models.rules import Action, LedgerState

if TYPE_CHECKING:
    import sqlite_utils


def _m1(db: sqlite_utils.Database) -> None:
    db.table("cycles").create({"key": str, "plan_id": str, "year": int, "task_id": str, "unit_id": str,
                         "deadline": str, "plan_hash": str, "created_at": str}, pk="key")
    db.table("outbound").create({
        "key": str, "plan_id": str, "year": int, "task_id": str, "unit_id": str, "stage": str,
        "seq": int, "scheduled_on": str, "decided_on": str, "deadline": str, "to_addrs": str,
        "cc_addrs": str, "units": str, "plan_hash": str, "message_id": str, "thread_id": str,
        "status": str, "attempts": int, "last_error": str, "claimed_at": str, "sent_at": str,
        "created_at": str}, pk="key", not_null={"status", "message_id"}, defaults={"attempts": 0})
    db.table("outbound").create_index(["plan_id", "status"])
    db.table("outbound").create_index(["message_id"], unique=True)
    db.table("inbound").create({
        "id": str, "message_id": str, "sha256": str, "raw_path": str, "received_at": str,
        "date_header": str, "from_addr": str, "subject": str, "kind": str, "status": str,
        "plan_id": str, "year": int, "task_id": str, "unit_id": str, "reason": str,
        "created_at": str}, pk="id")
    db.table("reports").create({
        "key": str, "plan_id": str, "year": int, "task_id": str, "unit_id": str,
        "received_on": str, "source": str, "inbound_id": str, "files": str, "indicators": str,
        "note": str, "created_at": str}, pk="key")
    db.table("events").create({"id": int, "at": str, "kind": str, "key": str, "detail": str}, pk="id")


def _m2(db: sqlite_utils.Database) -> None:
    # Who holds a claim (host:pid), so a rerun on the same machine can take over at once
    # the rows of a run that died, instead of waiting for the lease to run out.
    db.table("outbound").add_column("claimed_by", str)


def _m3(db: sqlite_utils.Database) -> None:
    # The collector: where each mailbox stopped, and what each reply held.
    db.table("inbox_state").create({"source": str, "uidvalidity": int, "last_uid": int, "updated_at": str}, pk="source")
    for col in ("source", "uid", "received_on", "attachments", "summary", "indicators"):
        db.table("inbound").add_column(col, str)
    db.table("inbound").create_index(["status"])


def _m4(db: sqlite_utils.Database) -> None:
    # Messages whose content is decided up front (the daily digest, the report's email):
    # {"subject", "text", "files"} as JSON, built into the message at delivery.
    db.table("outbound").add_column("body", str)


def _old_key(key: str) -> str:
    """A key of schema 4 (year keys whose unused parts were left out) in today's shape."""
    parts = key.split("/")
    if len(parts) == 3 and parts[1] == "digest":         # plan/digest/YYYY-MM-DD
        return f"{parts[0]}/{parts[2]}/-/-/digest"
    if len(parts) == 3:                                  # plan/year/compile[-n]
        return f"{parts[0]}/{parts[1]}/-/-/{parts[2]}"
    if len(parts) == 4 and parts[3] == "escalation":     # plan/year/task/escalation
        return f"{parts[0]}/{parts[1]}/{parts[2]}/-/escalation"
    return key


def _m5(db: sqlite_utils.Database) -> None:
    # Reporting periods: every cycle is keyed by a period label (2026, 2026-H1, 2026-Q3, …)
    # instead of a year, and every key has all five parts. A year key's period is its year.
    for table in ("outbound", "inbound", "reports", "cycles"):
        db.table(table).add_column("period", str)
        db.execute(f"update {table} set period = cast(year as text) where year is not null")
    renamed = {r["key"]: _old_key(r["key"]) for r in db.query("select key from outbound")}
    renamed = {old: new for old, new in renamed.items() if old != new}
    for old, new in renamed.items():
        db.execute("update outbound set key = ? where key = ?", [new, old])
        db.execute("update events set key = ? where key = ?", [new, old])
    db.table("outbound").create_index(["plan_id", "period", "task_id", "unit_id"])
    db.table("reports").create_index(["plan_id", "period"])


def _m6(db: sqlite_utils.Database) -> None:
    # A later report replaces the earlier one (the report quotes the latest); every earlier
    # version is kept here, and `updated_on` says when the latest came.
    db.table("reports").add_column("updated_on", str)
    db.table("reports").add_column("version", int, not_null_default=1)
    db.table("report_versions").create({"key": str, "version": int, "received_on": str, "source": str,
                                        "inbound_id": str, "files": str, "indicators": str, "note": str,
                                        "created_at": str}, pk=("key", "version"))


def _m7(db: sqlite_utils.Database) -> None:
    # Who this ledger is: the output folder remembers it, so a ledger deleted or replaced under
    # letters already sent is noticed before everything is sent again.
    db.table("meta").create({"name": str, "value": str}, pk="name")
    db.table("meta").insert({"name": "ledger_id", "value": uuid.uuid4().hex})


def _m8(db: sqlite_utils.Database) -> None:
    # What a report says, read once: the reply form's per-item texts, difficulties and proposals,
    # the report's own text and which numbers were estimates, as JSON (models/form.substance).
    db.table("reports").add_column("form", str)
    db.table("report_versions").add_column("form", str)


def _m9(db: sqlite_utils.Database) -> None:
    # The clerk's desk: a unit's deadline moved for one cycle (gia hạn; the latest counts, each
    # one is in the event log), and notes about a unit (a phone call, a promise).
    db.table("extensions").create({"key": str, "plan_id": str, "period": str, "task_id": str, "unit_id": str,
                                   "deadline": str, "reason": str, "who": str, "created_at": str}, pk="key")
    db.table("notes").create({"id": int, "plan_id": str, "unit_id": str, "text": str, "who": str,
                              "created_at": str}, pk="id")
    db.table("notes").create_index(["plan_id", "unit_id"])


def _m10(db: sqlite_utils.Database) -> None:
    # Letters issued as a Sở issues them: one công văn per plan, stage and day (`documents`),
    # drafted, registered (number, date, the signed PDF) and only then sent; each unit gets
    # one email per stage and day: its rows share `mail_key`, the key of the row whose
    # Message-ID the email carries. Rows of a document waiting to be signed are `held`.
    db.table("documents").create({
        "id": int, "plan_id": str, "stage": str, "day": str, "state": str, "number": str, "issued_on": str,
        "signed_file": str, "signed_sha256": str, "docx_path": str, "pdf_path": str, "draft_key": str,
        "units": str, "tasks": str, "context": str, "created_at": str, "issued_at": str}, pk="id")
    db.table("documents").create_index(["plan_id", "stage", "day"])
    db.table("outbound").add_column("document_id", int)
    db.table("outbound").add_column("mail_key", str)
    db.table("outbound").create_index(["mail_key"])


def _m11(db: sqlite_utils.Database) -> None:
    # Raw messages appended to one file a day (dondoc/archive.Spool): where each one starts
    # and how long it is. NULL for a message kept in a file of its own, as before.
    db.table("inbound").add_column("raw_offset", int)
    db.table("inbound").add_column("raw_length", int)


MIGRATIONS = [("initial schema", _m1), ("outbound.claimed_by", _m2), ("collector", _m3), ("outbound.body", _m4),
              ("reporting periods", _m5), ("report versions", _m6), ("ledger identity", _m7),
              ("report form", _m8), ("extensions and notes", _m9), ("documents and one email per unit", _m10),
              ("raw mail in day files", _m11)]


def action_row(a: Action, decided_on: dt.date, message_id: str, thread_id: str | None) -> dict:
    """The outbound row of a decided action, as the letter builder reads it."""
    return {"key": a.key, "plan_id": a.plan_id, "period": a.period, "year": int(a.period[:4]),
            "task_id": a.task_id, "unit_id": a.unit_id,
            "stage": a.stage, "seq": a.seq, "scheduled_on": a.scheduled_on.isoformat(),
            "decided_on": decided_on.isoformat(), "deadline": a.deadline.isoformat() if a.deadline else None,
            "to_addrs": json.dumps(a.to), "cc_addrs": json.dumps(a.cc), "units": json.dumps(a.units),
            "plan_hash": a.plan_hash, "message_id": message_id, "thread_id": thread_id, "body": a.body,
            "status": "pending", "attempts": 0}


OWNER = f"{socket.gethostname()}:{os.getpid()}"


def _abandoned(row: dict, now: dt.datetime, lease: dt.timedelta) -> bool:
    if row["claimed_at"] is None or dt.datetime.fromisoformat(row["claimed_at"]) < now - lease:
        return True
    host, _, pid = (row["claimed_by"] or "").rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and _gone(int(pid))


def _gone(pid: int) -> bool:
    """Whether no process `pid` runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


_json = json.JSONEncoder(ensure_ascii=False, default=str).encode   # json.dumps with those options, made once


class Journal:
    """What a sending process that must not wait for the ledger's write lock (the acknowledgements
    sent beside the reading of replies, `dondoc.acker`) would write with `finish_many` and
    `release`: a JSON line per outcome, [key, status, error, when], appended to
    `<ledger>.sent.<pid>` with one write. A write survives a kill of the process as a commit
    does; the process holding the lock folds the lines into the ledger (`Ledger.fold`), and a
    journal left by a process that died is folded by the next run that sends (`fold_journals`)."""

    def __init__(self, ledger_path: Path):
        self.path = self.of(ledger_path, os.getpid())
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    @staticmethod
    def of(ledger_path: Path, pid: int) -> Path:
        """The journal the process `pid` writes beside the ledger at `ledger_path`."""
        return Path(f"{ledger_path}.sent.{pid}")

    def finish_many(self, outcomes: list[tuple[str, str, str]]) -> None:
        at = _now()
        os.write(self.fd, "".join(_json([key, status, error, at]) + "\n" for key, status, error in outcomes).encode())

    def finish(self, key: str, status: str, error: str = "") -> None:
        self.finish_many([(key, status, error)])

    def release(self, key: str, error: str) -> None:
        self.finish_many([(key, "release", error)])

    def close(self) -> None:
        os.close(self.fd)


_SELECT = re.compile(r"\s*select\b", re.IGNORECASE)


class Db:
    """The ledger's connection as sqlite-utils' Database, which is made (and sqlite-utils imported)
    only when something other than a read is asked of it: `query` of a SELECT and `conn` are
    answered with sqlite3 alone, giving the same dicts as sqlite-utils would."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    @functools.cached_property
    def utils(self) -> sqlite_utils.Database:
        """sqlite-utils' Database on the same connection (imports sqlite-utils)."""
        import sqlite_utils
        return sqlite_utils.Database(self.conn)

    def query(self, sql: str, params: Any = None) -> Iterator[dict]:
        """The rows of a SELECT as dicts (sqlite-utils' `query` for any other statement)."""
        if not _SELECT.match(sql):
            return self.utils.query(sql, params)
        cur = self.conn.execute(sql, () if params is None else params)
        keys = [d[0] for d in cur.description]
        if len(set(keys)) != len(keys):   # `select a.*, b.*`: a name twice, renamed as sqlite-utils does
            from sqlite_utils.utils import dedupe_keys
            keys = dedupe_keys(keys)
        return (dict(zip(keys, row, strict=True)) for row in cur)

    def close(self) -> None:
        self.conn.close()

    def __getitem__(self, table: str) -> Any:
        return self.utils[table]

    def __getattr__(self, name: str) -> Any:   # execute, table, table_names, …: sqlite-utils'
        return getattr(self.utils, name)


class Ledger:
    """The SQLite ledger at `path`, migrated to the latest schema on open."""

    def __init__(self, path: str | Path):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.conn = sqlite3.connect(str(path))
        self.db = Db(self.conn)
        self.conn.execute("PRAGMA busy_timeout=10000")   # first: switching to WAL may wait for another process
        self.conn.execute("PRAGMA journal_mode=WAL")
        # WAL with synchronous=NORMAL: a commit survives a crash of the process (what the
        # decide-record-deliver order relies on); only a power cut may lose the last ones.
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.migrate()

    @contextmanager
    def _tx(self) -> Iterator[None]:
        """One SQLite transaction, BEGIN IMMEDIATE … COMMIT, rolled back on any error. (sqlite-utils
        commits each write on its own unless a transaction is already open, and `with conn:`
        opens none before the first write: every step of a decision would stand alone.) Inside,
        plain SQL only: sqlite-utils' table methods commit on their own."""
        conn = self.conn
        if conn.in_transaction:   # already inside one: part of it
            yield
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.rollback()
            raise
        conn.commit()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction for many writes (a batch of replies): every write method called
        inside joins it, and nothing of it is on disk until the block ends without an error."""
        with self._tx():
            yield

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside `batch`: when the block raises, undo its writes alone (the rest of the batch
        stays) and re-raise."""
        conn = self.conn
        assert conn.in_transaction, "savepoint() belongs inside batch()"
        conn.execute("SAVEPOINT one")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK TO one")
            conn.execute("RELEASE one")
            raise
        conn.execute("RELEASE one")

    def migrate(self) -> None:
        """Apply the migrations this file has not seen, each in its own transaction (sqlite-utils is
        imported only when there is one to apply), one process at a time: two runs opening a new
        ledger at once (a lock file `<ledger>.migrating` beside it)."""
        if next(self.conn.execute("select 1 from sqlite_master where type = 'table' and name = 'migrations'"), None):
            done = {v for (v,) in self.conn.execute("select version from migrations")}
            if done >= set(range(1, len(MIGRATIONS) + 1)):
                return
        import fcntl
        with open(f"{self.path}.migrating", "a") as lock:   # one process migrates; the others wait, then see it done
            fcntl.flock(lock, fcntl.LOCK_EX)
            if "migrations" not in self.db.table_names():
                self.db.table("migrations").create({"version": int, "name": str, "applied_at": str}, pk="version")
            done = {r["version"] for r in self.db.table("migrations").rows}
            for version, (name, step) in enumerate(MIGRATIONS, start=1):
                if version in done:
                    continue
                with self.conn:
                    step(self.db.utils)
                    self.db.table("migrations").insert({"version": version, "name": name, "applied_at": _now()})

    @property
    def ledger_id(self) -> str:
        return next(self.db.query("select value from meta where name = 'ledger_id'"))["value"]

    def bounce_secret(self) -> bytes:
        """The key that signs this ledger's bounce addresses (models/verp.py): made once, on first
        use, with `secrets`, and kept in `meta`. Never logged, never in an event."""
        row = next(self.db.query("select value from meta where name = 'bounce_secret'"), None)
        if row is None:   # (read first: a sender beside the reader must not wait for the write lock)
            with self._tx():
                self.conn.execute("insert or ignore into meta (name, value) values ('bounce_secret', ?)",
                                  [secrets.token_hex(32)])
                row = next(self.db.query("select value from meta where name = 'bounce_secret'"))
        return bytes.fromhex(row["value"])

    def message_id_at(self, number: int) -> str | None:
        """The Message-ID of outbound row `number` (its rowid: what a bounce address names)."""
        row = next(self.db.query("select message_id from outbound where rowid = ?", [number]), None)
        return row["message_id"] if row else None

    @property
    def schema_version(self) -> int:
        return max((r["version"] for r in self.db.table("migrations").rows), default=0)

    # -- events ----------------------------------------------------------------------
    def log(self, kind: str, key: str = "", **detail) -> None:
        """Append to the event log (never updated, never deleted), in a transaction of its own."""
        with self._tx():
            self._event(kind, key, **detail)

    def _event(self, kind: str, key: str = "", **detail) -> None:
        """`log` inside the caller's transaction. (sqlite-utils' insert commits on its own, which
        would split a decision in two: plain SQL here.)"""
        self.conn.execute("insert into events (at, kind, key, detail) values (?, ?, ?, ?)",
                          [_now(), kind, key, _json(detail)])

    def events(self, kind: str | None = None) -> list[dict]:
        where, args = ("kind = ?", [kind]) if kind else (None, None)
        return list(self.db.query(f"select * from events{' where ' + where if where else ''} order by id", args))

    # -- decisions -------------------------------------------------------------------
    def state(self, plan_id: str) -> LedgerState:
        day = functools.cache(dt.date.fromisoformat)   # tuples, not dicts, and each day parsed once: 10,000s of rows
        decided = {key: day(on) for key, on in self.conn.execute(
            "select key, decided_on from outbound where plan_id = ?", [plan_id])}
        reported, updated = {}, {}
        for task, unit, period, received, changed in self.conn.execute(
                "select task_id, unit_id, period, received_on, updated_on from reports where plan_id = ?", [plan_id]):
            reported[(task, unit, period)] = day(received)
            if changed:
                updated[(task, unit, period)] = day(changed)
        away = {r["unit_id"] for r in self.db.query(
            "select unit_id from inbound where plan_id = ? and kind = 'ooo' and unit_id is not null", [plan_id])}
        bounced = {r["a"] for r in self.db.query(
            "select json_extract(detail, '$.address') as a from events where kind = 'bounced' and key like ?",
            [f"{plan_id}/%"])}
        extended = {(r["task_id"], r["unit_id"], r["period"]): dt.date.fromisoformat(r["deadline"])
                    for r in self.db.query("select * from extensions where plan_id = ?", [plan_id])}
        return LedgerState(decided, reported, frozenset(away), frozenset(bounced), updated, extended)

    def record_actions(self, actions: Iterable[Action], decided_on: dt.date, mail_domain: str) -> list[str]:
        """Insert each action as `pending` unless its key is already there; returns the keys
        inserted. Each gets a Message-ID now, once; follow-ups of a unit's cycle carry the
        first request's Message-ID as `thread_id`, so mail clients thread them."""
        with self._tx():
            return self._insert_actions(actions, decided_on, mail_domain)

    def _insert_actions(self, actions: Iterable[Action], decided_on: dt.date, mail_domain: str) -> list[str]:
        """record_actions without its transaction: the caller holds one (so the keys found
        already there cannot change before the inserts). One `executemany` per table."""
        actions = list(actions)
        conn, now = self.conn, _now()
        known: set[str] = set()
        for i in range(0, len(actions), 500):
            part = [a.key for a in actions[i:i + 500]]
            known.update(k for (k,) in conn.execute(
                f"select key from outbound where key in ({','.join('?' * len(part))})", part))
        new: dict[str, Action] = {}
        for a in actions:
            if a.key not in known:
                new.setdefault(a.key, a)
        rows = [action_row(a, decided_on, f"<{uuid.uuid4().hex}.{a.stage}@{mail_domain}>",
                           a.thread or (self.thread_of(a.key) if a.unit_id and a.stage not in ("request", "ack")
                                        else None))
                for a in new.values()]
        if not rows:
            return []
        cols = [*rows[0], "created_at"]
        conn.executemany(f"insert into outbound ({', '.join(cols)}) values ({', '.join('?' * len(cols))})",
                         [[*r.values(), now] for r in rows])
        cycles = [[str(Key.parse(a.key).cycle), a.plan_id, a.period, int(a.period[:4]), a.task_id, a.unit_id,
                   a.deadline.isoformat(), a.plan_hash, now]
                  for a in new.values() if a.unit_id and a.task_id and a.deadline and a.stage != "ack"]
        if cycles:   # an acknowledgement opens no cycle
            conn.executemany("insert or ignore into cycles (key, plan_id, period, year, task_id, unit_id, deadline,"
                             " plan_hash, created_at) values (?,?,?,?,?,?,?,?,?)", cycles)
        conn.executemany("insert into events (at, kind, key, detail) values (?, 'decided', ?, ?)",
                         [[now, a.key, _json({"stage": a.stage, "to": a.to, "cc": a.cc, "plan_hash": a.plan_hash})]
                          for a in new.values()])
        return list(new)

    def thread_of(self, key: str) -> str | None:
        """The Message-ID of the first request of the cycle `key` belongs to."""
        first = str(Key.parse(key).cycle.at("request"))
        row = next(self.db.query("select coalesce(l.message_id, r.message_id) as m from outbound r left join outbound l"
                                 " on l.key = r.mail_key where r.key = ?", [first]), None)
        return row["m"] if row else None

    def outbound(self, plan_id: str, status: str | None = None) -> list[dict]:
        sql, args = "select * from outbound where plan_id = ?", [plan_id]
        if status:
            sql, args = sql + " and status = ?", args + [status]
        return list(self.db.query(sql + " order by rowid", args))

    def sendable(self, plan_id: str, stages, now: dt.datetime, lease: dt.timedelta) -> list[dict]:
        """Rows not yet sent: pending, or claimed by a run that died (its process is gone
        from this machine, or its lease has run out). Failed rows are not retried: a person
        looks at them first."""
        marks = ",".join("?" * len(stages))
        rows = self.db.query(
            f"select rowid, * from outbound where plan_id = ? and stage in ({marks})"
            " and status in ('pending', 'sending') and (mail_key is null or mail_key = key) order by rowid",
            [plan_id, *stages])
        return [r for r in rows if r["status"] == "pending" or _abandoned(r, now, lease)]

    def last_outbound(self) -> int:
        """The rowid of the last outbound row decided so far (0 when none)."""
        return next(self.conn.execute("select coalesce(max(rowid), 0) from outbound"))[0]

    def pending_after(self, rowid: int, stage: str) -> list[dict]:
        """The `stage` rows still pending that were decided after outbound row `rowid` (their
        rowid, key and status), in that order: what a sender beside the decider takes as they come."""
        return list(self.db.query("select rowid, key, status from outbound where rowid > ? and stage = ?"
                                  " and status = 'pending' order by rowid", [rowid, stage]))

    def claim(self, row: dict, now: dt.datetime) -> bool:
        """Take a row for sending: a conditional update on the state it was read in, so two
        runs at once can never both send one message. False when someone else took it."""
        return bool(self.claim_many([row], now))

    def claim_many(self, rows: list[dict], now: dt.datetime, owner: str = OWNER) -> list[str]:
        """`claim` for a batch, in one transaction: the pending rows in one conditional UPDATE
        (`status = 'pending'`: a row another run took, or sent, is left out), rows of a run that
        died one by one on the state they were read in. Returns the keys taken. A row taken
        but never tried stays `sending` under its `owner` process (this one, or the sender it
        started) until `release` (or, if that process dies, until a rerun sees it gone): it
        was not sent, so sending it then is no duplicate."""
        stamp, taken = now.isoformat(), []
        conn = self.conn
        with self._tx():
            pending = [r["key"] for r in rows if r["status"] == "pending"]
            for i in range(0, len(pending), 500):
                part = pending[i:i + 500]
                taken += [k for (k,) in conn.execute(
                    "update outbound set status = 'sending', claimed_at = ?, claimed_by = ?, attempts = attempts + 1"
                    f" where status = 'pending' and key in ({','.join('?' * len(part))}) returning key",
                    [stamp, owner, *part]).fetchall()]
            for r in rows:
                if r["status"] != "pending" and conn.execute(
                        "update outbound set status = 'sending', claimed_at = ?, claimed_by = ?,"
                        " attempts = attempts + 1 where key = ? and status = ? and claimed_at is ? and claimed_by is ?",
                        [stamp, owner, r["key"], r["status"], r["claimed_at"], r["claimed_by"]]).rowcount:
                    taken.append(r["key"])
        return taken

    def finish(self, key: str, status: str, error: str = "") -> None:
        """After a send: `sent` (accepted), `failed` (refused for good) or back to `pending`."""
        self.finish_many([(key, status, error)])

    def finish_many(self, outcomes: list[tuple[str, str, str]]) -> None:
        """`finish` for each (key, status, error), in one transaction. When the disk refuses
        the write-ahead log more room, the log is folded into the ledger (a checkpoint frees
        its space) and the write tried once more: a letter the server took and the ledger
        forgot would be sent again."""
        try:
            self._finish(outcomes)
        except sqlite3.OperationalError as e:
            if "full" not in str(e) and "disk I/O" not in str(e):
                raise
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._finish(outcomes)

    def _finish(self, outcomes: list[tuple[str, str, str]], at: list[str] | None = None) -> None:
        """`finish_many`, each outcome stamped now or at its time in `at`."""
        at = at or [_now()] * len(outcomes)
        with self._tx():
            self.conn.executemany("update outbound set status = ?, last_error = ?, sent_at = ?"
                                  " where key = ? or mail_key = ?",
                                  [[status, error or None, when if status == "sent" else None, key, key]
                                   for (key, status, error), when in zip(outcomes, at, strict=True)])
            self.conn.executemany("insert into events (at, kind, key, detail) values (?, ?, ?, ?)",
                                  [[when, status, key, _json({"error": error} if error else {})]
                                   for (key, status, error), when in zip(outcomes, at, strict=True)])

    def fold(self, path: Path, offset: int = 0) -> tuple[int, int]:
        """Write into the ledger, in one transaction, the outcomes a `Journal` at `path` holds from
        byte `offset` on; returns where it stopped (a line still being written is left for the
        next call) and how many of them were sent."""
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:   # its process has not written yet
            return offset, 0
        end = data.rfind(b"\n") + 1
        lines = [json.loads(line) for line in data[:end].splitlines()]
        done = [line for line in lines if line[1] != "release"]
        with self._tx():
            if done:
                self._finish([(key, status, error) for key, status, error, _ in done], [line[3] for line in done])
            for key, status, error, _ in lines:
                if status == "release":
                    self.release(key, error)
        return offset + end, sum(line[1] == "sent" for line in done)

    def fold_journals(self) -> None:
        """Fold every journal a sender left beside the ledger when it died (its process is gone),
        then remove it: before deciding what to send, so nothing it sent is sent again."""
        for path in self.path.parent.glob(f"{self.path.name}.sent.*"):
            pid = path.name.rpartition(".")[2]
            if pid.isdigit() and _gone(int(pid)):
                self.fold(path)
                path.unlink(missing_ok=True)

    def sent_by_cycle(self, plan_id: str) -> dict[tuple[str, str, str], list[tuple[str, dt.date, str]]]:
        """(task, unit, period) -> what was decided for that cycle: (stage, day, delivery status)."""
        out: dict = defaultdict(list)
        day = functools.cache(dt.date.fromisoformat)
        for task, unit, period, stage, on, status in self.conn.execute(
                "select task_id, unit_id, period, stage, decided_on, status from outbound"
                " where plan_id = ? and unit_id is not null order by rowid", [plan_id]):
            out[(task, unit, period)].append((stage, day(on), status))
        return dict(out)

    def count_inbound(self, status: str) -> int:
        """How many kept messages have this status (`triage`: waiting for a person)."""
        return next(self.conn.execute("select count(*) from inbound where status = ?", [status]))[0]

    # -- inbound ---------------------------------------------------------------------
    def inbox_position(self, source: str) -> tuple[int | None, int]:
        row = next(self.db.query("select * from inbox_state where source = ?", [source]), None)
        return (row["uidvalidity"], row["last_uid"]) if row else (None, 0)

    def known_inbound(self, ids: Iterable[str]) -> set[str]:
        """Those of `ids` already kept."""
        ids, known = list(ids), set[str]()
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            known.update(k for (k,) in self.conn.execute(
                f"select id from inbound where id in ({','.join('?' * len(part))})", part))
        return known

    def keep_inbound(self, rows: list[dict], source: str, uidvalidity: int, last_uid: int) -> int:
        """Record fetched messages (status `new`) and where the mailbox stopped, in one
        transaction; a message already kept (same Message-ID, or same content) changes
        nothing. Returns how many were new."""
        now = _now()
        with self._tx():
            new = self.conn.executemany(
                "insert or ignore into inbound (id, message_id, sha256, raw_path, raw_offset, raw_length, received_at,"
                " source, uid, status, created_at) values (?,?,?,?,?,?,?,?,?,'new',?)",
                [[r["id"], r["message_id"], r["sha256"], r["raw_path"], r.get("raw_offset"), r.get("raw_length"),
                  r["received_at"], source, r["uid"], now] for r in rows]).rowcount
            self.conn.execute("insert or replace into inbox_state values (?,?,?,?)",
                              [source, uidvalidity, last_uid, now])
        return new

    def inbound(self, status: str | None = None) -> list[dict]:
        """Kept messages (with their `rowid`, the number a person uses for them)."""
        where, args = ("status = ?", [status]) if status else (None, None)
        return list(self.db.query(f"select rowid, * from inbound{' where ' + where if where else ''}"
                                  " order by received_at, rowid", args))

    def inbound_row(self, number: int) -> dict | None:
        """The kept message a person knows as #number."""
        return next(self.db.query("select rowid, * from inbound where rowid = ?", [number]), None)

    def undo_triage(self, number: int, why: str) -> str:
        """Take back the last assign or dismiss of message #number: it waits in triage again,
        and a report recorded from it is withdrawn (the version before it counts again).
        Logged. Returns what was done, in words."""
        row = self.inbound_row(number)
        last = row and next(self.db.query(
            "select * from events where key = ? and kind in ('triage-assign', 'triage-dismiss', 'triage-undo')"
            " order by id desc limit 1", [row["id"]]), None)
        if not row or not last or last["kind"] == "triage-undo":
            return f"#{number}: không có việc phân loại nào để hoàn tác."
        detail = json.loads(last["detail"])
        with self._tx():
            if last["kind"] == "triage-assign":
                key = str(Key(detail["plan"], detail["period"], detail["task"], detail["unit"]))
                self._withdraw(key, row["id"])
            self.conn.execute("update inbound set status = 'triage', reason = ? where id = ?",
                              [detail.get("previous_reason") or row["reason"], row["id"]])
            self._event("triage-undo", row["id"], undid=last["kind"], reason=why)
        what = "ghi nhận" if last["kind"] == "triage-assign" else "bỏ qua"
        return f"#{number}: đã hoàn tác ({what}); thư chờ phân loại lại."

    def _withdraw(self, key: str, inbound_id: str) -> None:
        """Remove the report version that came from `inbound_id`: the previous version (if
        any) becomes the report again; its unsent acknowledgement is cancelled."""
        cur = next(self.db.query("select * from reports where key = ?", [key]), None)
        if not cur or cur["inbound_id"] != inbound_id:
            return
        prev = next(self.db.query("select * from report_versions where key = ? order by version desc limit 1",
                                  [key]), None)
        if prev is None:
            self.conn.execute("delete from reports where key = ?", [key])
        else:
            self.conn.execute("update reports set updated_on = ?, source = ?, inbound_id = ?, files = ?,"
                              " indicators = ?, note = ?, form = ?, version = ? where key = ?",
                              [prev["received_on"] if prev["version"] > 1 else None, prev["source"],
                               prev["inbound_id"], prev["files"], prev["indicators"], prev["note"], prev["form"],
                               prev["version"], key])
            self.conn.execute("delete from report_versions where key = ? and version = ?", [key, prev["version"]])
        ack = str(Key.parse(key).at("ack", cur["version"] - 1))
        self.conn.execute("update outbound set status = 'cancelled' where key = ? and status = 'pending'", [ack])

    def update_inbound(self, inbound_id: str, **fields) -> None:
        """Set `fields` (column names from code; dicts and lists stored as JSON) of one kept
        message, in the caller's transaction when there is one (`batch`), else in its own."""
        if not fields:
            return
        assert all(k.isidentifier() for k in fields), fields
        values = [_json(v) if isinstance(v, (dict, list)) else v
                  for v in fields.values()]
        with self._tx():
            self.conn.execute(f"update inbound set {', '.join(f'{k} = ?' for k in fields)} where id = ?",
                              [*values, inbound_id])

    def sent_index(self) -> dict[str, Key]:
        """Message-ID of every letter to a unit, of every plan -> its cycle: what replies refer to.
        An email covering several tasks is known by its Message-ID under its first task (the one
        its subject tag names); `mail_cycles` lists all of them."""
        return {r["message_id"]: Key(r["plan_id"], r["period"], r["task_id"], r["unit_id"]) for r in self.db.query(
            "select message_id, plan_id, period, task_id, unit_id from outbound where unit_id is not null"
            " and (mail_key is null or mail_key = key)")}

    def mail_cycles(self) -> dict[str, tuple[Key, ...]]:
        """Message-ID of every email to a unit that covers more than one cycle -> those cycles,
        in the email's order (its first is the one `sent_index` and the subject tag name)."""
        out: dict[str, list[Key]] = defaultdict(list)
        for r in self.db.query("select l.message_id as m, o.plan_id, o.period, o.task_id, o.unit_id from outbound o"
                               " join outbound l on l.key = o.mail_key where o.unit_id is not null"
                               " order by (o.key != o.mail_key), o.rowid"):
            out[r["m"]].append(Key(r["plan_id"], r["period"], r["task_id"], r["unit_id"]))
        return {m: tuple(keys) for m, keys in out.items() if len(keys) > 1}

    # -- documents ---------------------------------------------------------------------
    def group(self, mails: dict[str, list[str]], documents: list[tuple[dict, list[str]]]) -> list[int]:
        """Link recorded rows to the email that carries them (`mails`: lead key -> every key of
        that email, lead included) and to the công văn they go out with (`documents`: the
        document's row, the keys it covers), in one transaction. A document's rows are `held`
        until it is issued. Returns the new documents' ids."""
        with self._tx():
            return self._group(mails, documents)

    def record_letters(self, actions: list[Action], decided_on: dt.date, mail_domain: str,
                       mails: dict[str, list[str]], documents: list[tuple[dict, list[str]]]) -> list[str]:
        """record_actions and group in one transaction, for the rows this call inserted only
        (another run that recorded them first grouped them already). Returns the keys inserted."""
        with self._tx():
            inserted = set(self._insert_actions(actions, decided_on, mail_domain))
            kept = [[k for k in keys if k in inserted] for keys in mails.values()]
            self._group({keys[0]: keys for keys in kept if keys},
                        [(d, ks) for d, keys in documents if (ks := [k for k in keys if k in inserted])])
        return [a.key for a in actions if a.key in inserted]

    def _group(self, mails: dict[str, list[str]], documents: list[tuple[dict, list[str]]]) -> list[int]:
        """group without its transaction: the caller holds one."""
        def each(keys: list[str], sql: str, *args) -> None:
            for i in range(0, len(keys), 500):
                part = keys[i:i + 500]
                self.conn.execute(sql.format(marks=",".join("?" * len(part))), [*args, *part])

        ids = []
        self.conn.executemany("update outbound set mail_key = ? where key = ?",
                              [(lead, k) for lead, keys in mails.items() for k in keys])
        for doc, keys in documents:
            cols = {**doc, "state": "drafted", "created_at": _now()}
            cur = self.conn.execute(f"insert into documents ({', '.join(cols)}) values ({', '.join('?' * len(cols))})",
                                    list(cols.values()))
            ids.append(int(cur.lastrowid or 0))
            each(keys, "update outbound set document_id = ?, status = 'held' where status = 'pending'"
                       " and key in ({marks})", cur.lastrowid)
            self._event("drafted", str(cur.lastrowid), plan=doc["plan_id"], stage=doc["stage"], day=doc["day"],
                        rows=len(keys))
        return ids

    def record_draft(self, doc_id: int, action: Action, mail_domain: str, context: dict, docx: Path,
                     pdf: Path | None) -> None:
        """Keep a drafted document's context and files, and record its email to the secretariat
        (`action`), in one transaction."""
        with self._tx():
            self._insert_actions([action], action.scheduled_on, mail_domain)
            self.conn.execute("update documents set draft_key = ?, context = ?, docx_path = ?, pdf_path = ?"
                              " where id = ?", [action.key, _json(context), str(docx),
                                                str(pdf) if pdf else None, doc_id])

    def document(self, doc_id: int) -> dict | None:
        return next(self.db.query("select * from documents where id = ?", [doc_id]), None)

    def documents(self, plan_id: str | None = None, state: str | None = None) -> list[dict]:
        sql, args = "select * from documents where 1", list[str]()
        if plan_id:
            sql, args = sql + " and plan_id = ?", args + [plan_id]
        if state:
            sql, args = sql + " and state = ?", args + [state]
        return list(self.db.query(sql + " order by id", args))

    def update_document(self, doc_id: int, **fields) -> None:
        with self.conn:
            self.db.table("documents").update(doc_id, fields)

    def issue(self, doc_id: int, number: str, issued_on: dt.date, pdf_path: str, signed_file: str | None,
              signed_sha256: str | None, docx_path: str | None) -> int:
        """Register a drafted document as issued (its number, date and the PDF units receive)
        and release its rows for sending, in one transaction. Returns how many rows; 0 when
        the document is not (or no longer) a draft."""
        with self._tx():
            cur = self.conn.execute(
                "update documents set state = 'issued', number = ?, issued_on = ?, pdf_path = ?, signed_file = ?,"
                " signed_sha256 = ?, docx_path = coalesce(?, docx_path), issued_at = ?"
                " where id = ? and state = 'drafted'",
                [number, issued_on.isoformat(), pdf_path, signed_file, signed_sha256, docx_path, _now(), doc_id])
            if not cur.rowcount:
                return 0
            n = self.conn.execute("update outbound set status = 'pending' where document_id = ? and status = 'held'",
                                  [doc_id]).rowcount
            self._event("issued", str(doc_id), number=number, issued_on=issued_on, signed=bool(signed_file), rows=n)
        return n

    def mail_rows(self, lead: str) -> list[dict]:
        """Every row an email carries, its lead first."""
        return self.mail_groups([lead]).get(lead, [])

    def rows(self, keys: list[str]) -> list[dict]:
        """The outbound rows (with their rowid) of `keys`, in the order they were decided."""
        marks = ",".join("?" * len(keys))
        return list(self.db.query(f"select rowid, * from outbound where key in ({marks}) order by rowid", keys))

    def mail_groups(self, leads: list[str]) -> dict[str, list[dict]]:
        """`mail_rows` of many emails in one query each 500: lead key -> its rows, lead first."""
        out: dict[str, list[dict]] = defaultdict(list)
        for i in range(0, len(leads), 500):
            part = leads[i:i + 500]
            for r in self.db.query(f"select * from outbound where mail_key in ({','.join('?' * len(part))})"
                                   " order by mail_key, (key != mail_key), rowid", part):
                out[r["mail_key"]].append(r)
        return dict(out)

    def request_document(self, key: str) -> dict | None:
        """The issued document that carried the first request of the cycle `key` belongs to."""
        first = str(Key.parse(key).cycle.at("request"))
        return next(self.db.query("select d.* from outbound o join documents d on d.id = o.document_id"
                                  " where o.key = ? and d.state = 'issued'", [first]), None)

    def bounced(self, message_id: str, address: str, why: str, anywhere: bool = False) -> list[str]:
        """Mark as bounced the letter with that Message-ID, when `address` is one it was sent
        to (a bounce proves itself by our Message-ID), or whatever it is when `anywhere` (the
        bounce came to the letter's own signed bounce address: a forward of it failed). Returns
        its key, or nothing."""
        rows = [r for r in self.db.query("select key, to_addrs, cc_addrs from outbound where message_id = ?",
                                         [message_id])
                if anywhere or address.lower() in {a.lower()
                                       for a in json.loads(r["to_addrs"]) + json.loads(r["cc_addrs"] or "[]")}]
        with self._tx():
            for r in rows:
                self.conn.execute("update outbound set status = 'bounced', last_error = ?"
                                  " where key = ? or mail_key = ?", [why, r["key"], r["key"]])
                self._event("bounced", r["key"], address=address, why=why)
        return [r["key"] for r in rows]

    # -- reports ---------------------------------------------------------------------
    def record_report(self, plan_id: str, period: str, task_id: str, unit_id: str, received_on: dt.date,
                      source: str, inbound_id: str | None = None, files: Iterable[str] = (),
                      indicators: dict | None = None, note: str = "", replace: bool = False,
                      ack: Action | None = None, mail_domain: str = "", form: dict | None = None) -> str:
        """Record a unit's report for a cycle: `new`, or with `replace` a later version that
        becomes the one counted and quoted (`updated`; the earlier one is kept in
        report_versions, the cycle keeps its first arrival day), else `exists` and nothing
        changes. The same message recorded twice is `exists`. `ack`: its acknowledgement,
        recorded in the same transaction (as version N, `ack-N`), so no report is ever left
        without one, whatever moment a run dies at. `form`: what the report says (per-item texts,
        difficulties, proposals, its text, estimates; see models/form.substance), kept as JSON."""
        key = str(Key(plan_id, period, task_id, unit_id))
        values = [received_on.isoformat(), source, inbound_id, _json(list(files)), _json(indicators or {}), note,
                  _json(form) if form else None]
        with self._tx():
            old = self.conn.execute("select version, inbound_id from reports where key = ?", [key]).fetchone()
            if old is None:
                self.conn.execute(
                    "insert into reports (key, plan_id, period, year, task_id, unit_id, received_on, source,"
                    " inbound_id, files, indicators, note, form, created_at, version)"
                    " values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,1)",
                    [key, plan_id, period, int(period[:4]), task_id, unit_id, *values, _now()])
                outcome, version = "new", 1
            elif not replace or (inbound_id and old[1] == inbound_id):
                return "exists"
            else:
                version = old[0] + 1
                self.conn.execute(
                    "insert into report_versions (key, version, received_on, source, inbound_id, files, indicators,"
                    " note, created_at, form) select key, version, coalesce(updated_on, received_on), source,"
                    " inbound_id, files, indicators, note, created_at, form from reports where key = ?", [key])
                self.conn.execute("update reports set updated_on = ?, source = ?, inbound_id = ?, files = ?,"
                                  " indicators = ?, note = ?, form = ?, created_at = ?, version = ? where key = ?",
                                  [*values, _now(), version, key])
                outcome = "updated"
            self._event("report" if outcome == "new" else "report-updated", key, source=source, received_on=received_on,
                     files=list(files), version=version)
            if ack is not None:
                self._insert_actions([dc_replace(ack, key=str(Key.parse(ack.key).cycle.at("ack", version - 1)),
                                                 seq=version - 1)], received_on, mail_domain)
        return outcome

    def reports(self, plan_id: str) -> list[dict]:
        return list(self.db.query("select * from reports where plan_id = ?", [plan_id]))

    def report_rows(self, plan_id: str) -> Iterator[dict]:
        """The plan's report rows with only what a compiled report reads (task_id, unit_id,
        period, indicators, files, form), one at a time as the database gives them."""
        yield from self.db.query("select task_id, unit_id, period, indicators, files, form from reports"
                                 " where plan_id = ?", [plan_id])

    # -- renames ---------------------------------------------------------------------
    def history(self) -> dict[tuple[str, str], int]:
        """(plan, task) -> how many cycles the ledger holds for it (asked or reported), leaving
        out the tasks a person declared retired."""
        retired = {tuple(r["key"].split("/", 1))
                   for r in self.db.query("select key from events where kind = 'retired'")}
        out: dict[tuple[str, str], int] = {}
        for r in self.db.query("select plan_id, task_id, count(distinct key) as n from (select key, plan_id, task_id"
                               " from cycles union select key, plan_id, task_id from reports) group by 1, 2"):
            if (r["plan_id"], r["task_id"]) not in retired:
                out[(r["plan_id"], r["task_id"])] = r["n"]
        return out

    def rename(self, plan_id: str, new_plan: str | None = None, task_id: str | None = None,
               new_task: str | None = None) -> int:
        """Move the history of a plan (or of one of its tasks) to its new id, in every table and
        key, in one transaction; returns how many rows moved. Logged."""
        def moved(key: str) -> str:
            k = Key.parse(key)
            if k.plan != plan_id or (task_id and k.task != task_id):
                return key
            return str(type(k)(new_plan or k.plan, k.period, new_task if task_id else k.task, k.unit, k.stage, k.seq))

        n = 0
        where = "plan_id = ?" + (" and task_id = ?" if task_id else "")
        args = [plan_id, *([task_id] if task_id else [])]
        with self._tx():
            for table in ("outbound", "cycles", "reports"):
                for r in list(self.db.query(f"select key from {table} where {where}", args)):
                    new = moved(r["key"])
                    self.conn.execute(f"update {table} set key = ?, plan_id = ?, task_id = ? where key = ?",
                                      [new, Key.parse(new).plan, Key.parse(new).task, r["key"]])
                    if table == "outbound":
                        self.conn.execute("update events set key = ? where key = ?", [new, r["key"]])
                    n += 1
            self.conn.execute(f"update inbound set plan_id = ?, task_id = coalesce(?, task_id) where {where}",
                              [new_plan or plan_id, new_task if task_id else None, *args])
            self._event("renamed", f"{plan_id}/{task_id or '-'}", plan=new_plan or plan_id, task=new_task, rows=n)
        return n

    def retire(self, plan_id: str, task_id: str) -> None:
        """A task the plans no longer define, on purpose: its history stays, and it is no longer
        taken for a rename."""
        self.log("retired", f"{plan_id}/{task_id}")
    # -- delivery repair ---------------------------------------------------------------
    def release(self, key: str, error: str) -> None:
        """Put a claimed row back to `pending` without counting the attempt: the session
        failed (login, sender, connection) before the letter itself was tried."""
        with self._tx():
            self.conn.execute("update outbound set status = 'pending', last_error = ?, attempts = max(attempts - 1, 0)"
                              " where key = ? and status = 'sending'", [error or None, key])
            self.conn.execute("update outbound set last_error = ? where mail_key = ? and key != ?",
                              [error or None, key, key])
            self._event("released", key, error=error)

    def resend_failed(self, plan_id: str, unit_id: str | None = None) -> list[str]:
        """Put the `failed` letters of a plan (of one unit) back to `pending` with their
        attempts reset, so the next run sends them under the same Message-ID; each is
        logged as a `resend` event with the error it had. Returns their keys."""
        sql, args = "select key, last_error from outbound where plan_id = ? and status = 'failed'", [plan_id]
        if unit_id:
            sql, args = sql + " and unit_id = ?", args + [unit_id]
        with self._tx():
            rows = list(self.db.query(sql + " order by rowid", args))
            for r in rows:
                self.conn.execute("update outbound set status = 'pending', attempts = 0, claimed_at = null,"
                                  " claimed_by = null where key = ? and status = 'failed'", [r["key"]])
                self._event("resend", r["key"], previous_error=r["last_error"])
        return [r["key"] for r in rows]

    # -- the clerk's desk --------------------------------------------------------------
    def extend(self, plan_id: str, period: str, task_id: str, unit_id: str, deadline: dt.date, reason: str,
               by: str) -> None:
        """Give one unit a new deadline for one cycle (replacing an earlier extension); logged
        with the reason and who gave it. The rules count the unit's follow-ups and lateness
        from the new deadline."""
        key = str(Key(plan_id, period, task_id, unit_id))
        with self._tx():
            self.conn.execute("insert or replace into extensions values (?,?,?,?,?,?,?,?,?)",
                              [key, plan_id, period, task_id, unit_id, deadline.isoformat(), reason, by, _now()])
            self._event("extension", key, deadline=deadline, reason=reason, by=by)

    def extensions(self, plan_id: str, unit_id: str | None = None) -> list[dict]:
        sql, args = "select * from extensions where plan_id = ?", [plan_id]
        if unit_id:
            sql, args = sql + " and unit_id = ?", args + [unit_id]
        return list(self.db.query(sql + " order by period, task_id", args))

    def add_note(self, plan_id: str, unit_id: str, text: str, by: str) -> None:
        """A note about a unit (a phone call, a promise), logged with who wrote it."""
        with self._tx():
            self.conn.execute("insert into notes (plan_id, unit_id, text, who, created_at) values (?,?,?,?,?)",
                              [plan_id, unit_id, text, by, _now()])
            self._event("note", f"{plan_id}/-/-/{unit_id}", text=text, by=by)

    def notes(self, plan_id: str, unit_id: str) -> list[dict]:
        return list(self.db.query("select * from notes where plan_id = ? and unit_id = ? order by id desc",
                                  [plan_id, unit_id]))

    def unit_outbound(self, plan_id: str, unit_id: str) -> list[dict]:
        """Every letter decided for one unit, oldest first."""
        return list(self.db.query("select * from outbound where plan_id = ? and unit_id = ? order by rowid",
                                  [plan_id, unit_id]))

    def unit_inbound(self, plan_id: str, unit_id: str) -> list[dict]:
        """Every kept message matched (or guessed) to one unit, with its `rowid`."""
        return list(self.db.query("select rowid, * from inbound where plan_id = ? and unit_id = ?"
                                  " order by received_at, rowid", [plan_id, unit_id]))

    def unit_reports(self, plan_id: str, unit_id: str) -> list[dict]:
        return list(self.db.query("select * from reports where plan_id = ? and unit_id = ? order by period, task_id",
                                  [plan_id, unit_id]))
