"""The ledger: what dondoc decided, sent, received and recorded, in SQLite.

Side effect: one SQLite file (sqlite-utils). Schema changes go through MIGRATIONS, applied
in order and remembered in the `migrations` table. Decide, record, deliver: an action is
inserted as `pending` before anything is sent, claimed with a conditional update, and
marked `sent` only after the server accepted it.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import sqlite_utils

from models.rules import Action, LedgerState


def _m1(db: sqlite_utils.Database) -> None:
    db["cycles"].create({"key": str, "plan_id": str, "year": int, "task_id": str, "unit_id": str,
                         "deadline": str, "plan_hash": str, "created_at": str}, pk="key")
    db["outbound"].create({
        "key": str, "plan_id": str, "year": int, "task_id": str, "unit_id": str, "stage": str,
        "seq": int, "scheduled_on": str, "decided_on": str, "deadline": str, "to_addrs": str,
        "cc_addrs": str, "units": str, "plan_hash": str, "message_id": str, "thread_id": str,
        "status": str, "attempts": int, "last_error": str, "claimed_at": str, "sent_at": str,
        "created_at": str}, pk="key", not_null={"status", "message_id"}, defaults={"attempts": 0})
    db["outbound"].create_index(["plan_id", "status"])
    db["outbound"].create_index(["message_id"], unique=True)
    db["inbound"].create({
        "id": str, "message_id": str, "sha256": str, "raw_path": str, "received_at": str,
        "date_header": str, "from_addr": str, "subject": str, "kind": str, "status": str,
        "plan_id": str, "year": int, "task_id": str, "unit_id": str, "reason": str,
        "created_at": str}, pk="id")
    db["reports"].create({
        "key": str, "plan_id": str, "year": int, "task_id": str, "unit_id": str,
        "received_on": str, "source": str, "inbound_id": str, "files": str, "indicators": str,
        "note": str, "created_at": str}, pk="key")
    db["events"].create({"id": int, "at": str, "kind": str, "key": str, "detail": str}, pk="id")


MIGRATIONS = [("initial schema", _m1)]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class Ledger:
    """The SQLite ledger at `path`, migrated to the latest schema on open."""

    def __init__(self, path: str | Path):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite_utils.Database(path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA busy_timeout=10000")
        self.migrate()

    def migrate(self) -> None:
        """Apply the migrations this file has not seen, each in its own transaction."""
        if "migrations" not in self.db.table_names():
            self.db["migrations"].create({"version": int, "name": str, "applied_at": str}, pk="version")
        done = {r["version"] for r in self.db["migrations"].rows}
        for version, (name, step) in enumerate(MIGRATIONS, start=1):
            if version in done:
                continue
            with self.db.conn:
                step(self.db)
                self.db["migrations"].insert({"version": version, "name": name, "applied_at": _now()})

    @property
    def schema_version(self) -> int:
        return max((r["version"] for r in self.db["migrations"].rows), default=0)

    # -- events ----------------------------------------------------------------------
    def log(self, kind: str, key: str = "", **detail) -> None:
        """Append to the event log (never updated, never deleted)."""
        self.db["events"].insert({"at": _now(), "kind": kind, "key": key,
                                  "detail": json.dumps(detail, ensure_ascii=False, default=str)})

    def events(self, kind: str | None = None) -> list[dict]:
        where, args = ("kind = ?", [kind]) if kind else (None, None)
        return list(self.db["events"].rows_where(where, args, order_by="id"))

    # -- decisions -------------------------------------------------------------------
    def state(self, plan_id: str) -> LedgerState:
        decided = {r["key"]: dt.date.fromisoformat(r["decided_on"])
                   for r in self.db.query("select key, decided_on from outbound where plan_id = ?", [plan_id])}
        reported = {(r["task_id"], r["unit_id"], r["year"]): dt.date.fromisoformat(r["received_on"])
                    for r in self.db.query("select * from reports where plan_id = ?", [plan_id])}
        return LedgerState(decided, reported)

    def record_actions(self, actions: Iterable[Action], decided_on: dt.date, mail_domain: str) -> list[str]:
        """Insert each action as `pending` unless its key is already there; returns the keys
        inserted. Each gets a Message-ID now, once; follow-ups of a unit's cycle carry the
        first request's Message-ID as `thread_id`, so mail clients thread them."""
        inserted = []
        now = _now()
        with self.db.conn:
            for a in actions:
                thread = None
                if a.unit_id and a.stage != "request":
                    first = a.key.rsplit("/", 1)[0] + "/request"
                    row = next(self.db.query("select message_id from outbound where key = ?", [first]), None)
                    thread = row["message_id"] if row else None
                msg_id = f"<{uuid.uuid4().hex}.{a.stage}@{mail_domain}>"
                cur = self.db.execute(
                    "insert or ignore into outbound (key, plan_id, year, task_id, unit_id, stage, seq,"
                    " scheduled_on, decided_on, deadline, to_addrs, cc_addrs, units, plan_hash,"
                    " message_id, thread_id, status, attempts, created_at)"
                    " values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,'pending',0,?)",
                    [a.key, a.plan_id, a.year, a.task_id, a.unit_id, a.stage, a.seq,
                     a.scheduled_on.isoformat(), decided_on.isoformat(),
                     a.deadline.isoformat() if a.deadline else None, json.dumps(a.to),
                     json.dumps(a.cc), json.dumps(a.units), a.plan_hash, msg_id, thread, now])
                if cur.rowcount:
                    inserted.append(a.key)
                    if a.unit_id and a.task_id:
                        self.db.execute(
                            "insert or ignore into cycles values (?,?,?,?,?,?,?,?)",
                            [f"{a.plan_id}/{a.year}/{a.task_id}/{a.unit_id}", a.plan_id, a.year,
                             a.task_id, a.unit_id, a.deadline.isoformat(), a.plan_hash, now])
                    self.db["events"].insert({"at": now, "kind": "decided", "key": a.key, "detail": json.dumps(
                        {"stage": a.stage, "to": a.to, "cc": a.cc, "plan_hash": a.plan_hash})})
        return inserted

    def outbound(self, plan_id: str, status: str | None = None) -> list[dict]:
        sql, args = "select * from outbound where plan_id = ?", [plan_id]
        if status:
            sql, args = sql + " and status = ?", args + [status]
        return list(self.db.query(sql + " order by rowid", args))

    def sent_by_cycle(self, plan_id: str) -> dict[tuple[str, str, int], list[tuple[str, dt.date, str]]]:
        out: dict = defaultdict(list)
        for r in self.outbound(plan_id):
            if r["unit_id"]:
                out[(r["task_id"], r["unit_id"], r["year"])].append(
                    (r["stage"], dt.date.fromisoformat(r["decided_on"]), r["status"]))
        return dict(out)

    # -- reports ---------------------------------------------------------------------
    def record_report(self, plan_id: str, year: int, task_id: str, unit_id: str, received_on: dt.date,
                      source: str, inbound_id: str | None = None, files: list[str] = (),
                      indicators: dict | None = None, note: str = "") -> bool:
        """Record a unit's report for a cycle; the first one counts. Returns whether it was new."""
        key = f"{plan_id}/{year}/{task_id}/{unit_id}"
        with self.db.conn:
            cur = self.db.execute(
                "insert or ignore into reports values (?,?,?,?,?,?,?,?,?,?,?,?)",
                [key, plan_id, year, task_id, unit_id, received_on.isoformat(), source, inbound_id,
                 json.dumps(list(files), ensure_ascii=False), json.dumps(indicators or {}), note, _now()])
            if cur.rowcount:
                self.log("report", key, source=source, received_on=received_on, files=list(files))
        return bool(cur.rowcount)
