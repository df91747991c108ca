"""Acknowledgements sent while the replies are still being read, by a second process.

Reading a reply and acknowledging it cost about the same CPU; in one process they take turns
(the event loop's CPU is the reader's). When many replies wait (`DONDOC_ACK_AHEAD`), the
collect flow starts `python -m dondoc.acker` beside the reading (`beside`):
- the reader, inside each batch's transaction, folds in what the sender has journaled and
  claims for the sender (`claimed_by` its process) the acknowledgements recorded so far; after
  the commit it hands their keys over, a JSON line on the sender's stdin;
- the sender reads their rows (the ledger is in WAL mode: reading never waits for the writer)
  and sends them as `outbox.deliver` does, writing each outcome to its `Journal` where
  `deliver` writes the ledger, never the ledger itself, whose write lock the reader holds;
- when the reading is over, the reader closes the sender's stdin; the sender sends what it was
  handed and stops; the reader folds its journal, and the flow's `acknowledge` step sends
  whatever is left (the sender could not start, or the server refused some for now).
A kill of either process sends nothing twice beyond the message in flight on each connection:
acknowledgements claimed by a process that is gone are taken by the next run, which first
folds the journal it left (`Ledger.fold_journals`).
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

from dondoc.ledger import Journal, Ledger
from dondoc.outbox import LedgerMismatch, Summary, check_out, send
from dondoc.runtime import Runtime, open_runtimes
from dondoc.settings import Settings


class Acker:
    """The reader's side: the sender process, what it was handed and how far its journal is folded."""

    def __init__(self, rt: Runtime, plan_ids: list[str]):
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("DONDOC_")} | rt.settings.environ()
        self.proc = subprocess.Popen([sys.executable, "-m", "dondoc.acker", rt.now.isoformat(), *plan_ids],
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
        self.owner = f"{socket.gethostname()}:{self.proc.pid}"
        self.journal = Journal.of(rt.ledger.path, self.proc.pid)
        self.folded = 0       # bytes of the journal written into the ledger
        self.sent = 0         # acknowledgements it sent, as far as folded
        self.last = rt.ledger.last_outbound()
        self.now = rt.now
        self.ready: list[str] = []   # claimed for the sender, committed once the batch is

    def take(self, ledger: Ledger) -> None:
        """Inside the reader's transaction: fold the journal in, claim the new acknowledgements."""
        self.fold(ledger)
        rows = ledger.pending_after(self.last, "ack")
        if rows:
            self.last = rows[-1]["rowid"]
            self.ready += ledger.claim_many(rows, self.now, self.owner)

    def hand(self) -> None:
        """After the commit: give the sender what was claimed for it. A sender that is gone is
        left alone: what it was given is taken by the flow's `acknowledge` step."""
        if self.ready and self.proc.stdin is not None:
            try:
                self.proc.stdin.write(json.dumps(self.ready).encode() + b"\n")
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError):
                pass
            self.ready = []

    def close(self, ledger: Ledger) -> None:
        """No more to hand: wait for the sender to send what it has, fold its journal, remove it."""
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
        self.proc.wait()
        self.fold(ledger)
        self.journal.unlink(missing_ok=True)

    def fold(self, ledger: Ledger) -> None:
        self.folded, sent = ledger.fold(self.journal, self.folded)
        self.sent += sent


@contextmanager
def beside(runtimes: list[Runtime], waiting: int) -> Iterator[Acker | None]:
    """An `Acker` for reading `waiting` replies when they are at least `DONDOC_ACK_AHEAD`
    (else None: they are acknowledged after the reading, by the flow's `acknowledge` step)."""
    rt = runtimes[0]
    acker = None
    if waiting >= max(rt.settings.ack_ahead, 1):
        try:
            check_out(rt.ledger, rt.settings.out, rt.settings.accept_new_ledger)
            acker = Acker(rt, [r.plan.plan.id for r in runtimes])
        except LedgerMismatch:   # the replies are still read; the acknowledgement step says what is wrong
            pass
    try:
        yield acker
    finally:
        if acker is not None:
            acker.close(rt.ledger)


async def serve(runtimes: dict[str, Runtime], lines) -> None:
    """The sender: each line of `lines` (a thread reads them) is a JSON list of keys claimed for
    this process; send them, each plan over its own connections, until the lines end. What a
    plan's sending cannot take (it stopped on a refused session, or the plan is not read by
    this run) is given back."""
    loop = asyncio.get_running_loop()
    ledger = next(iter(runtimes.values())).ledger
    journal = Journal(ledger.path)
    queues: dict[str, asyncio.Queue] = {pid: asyncio.Queue() for pid in runtimes}

    async def batches(q: asyncio.Queue) -> AsyncIterator[list[dict]]:
        while (batch := await q.get()) is not None:
            yield batch
    tasks = {pid: asyncio.create_task(send(rt.plan, rt.ledger, journal, rt.cal, rt.templates, rt.settings.smtp(),
                                           rt.mail_from, rt.settings.out, rt.now, Summary(), batches(queues[pid]),
                                           False)) for pid, rt in runtimes.items()}

    ended = loop.create_future()   # the lines ended: nothing more will be handed

    def route(keys: list[str] | None) -> None:
        if keys is None:   # the end: each plan's sending finishes what it has
            ended.set_result(None)
            for q in queues.values():
                q.put_nowait(None)
            return
        by_plan: dict[str, list[dict]] = {}
        for row in ledger.rows(keys):
            by_plan.setdefault(row["plan_id"], []).append(row)
        for pid, rows in by_plan.items():
            if pid in tasks and not tasks[pid].done():
                queues[pid].put_nowait(rows)
            else:
                for row in rows:
                    journal.release(row["key"], "")

    def read() -> None:
        for line in lines:
            loop.call_soon_threadsafe(route, json.loads(line))
        loop.call_soon_threadsafe(route, None)

    threading.Thread(target=read, daemon=True).start()
    outcomes = await asyncio.gather(*tasks.values(), return_exceptions=True)
    await ended
    for q in queues.values():   # handed to a plan's sending after it stopped
        while not q.empty():
            for row in q.get_nowait() or []:
                journal.release(row["key"], "")
    journal.close()
    for e in outcomes:
        if isinstance(e, BaseException):
            print(f"dondoc acker: {e}", file=sys.stderr)


def main(argv: list[str]) -> None:
    now = dt.datetime.fromisoformat(argv[0])
    runtimes = open_runtimes(now.date(), Settings(_env_file=None), argv[1:] or None)
    asyncio.run(serve({rt.plan.plan.id: dataclasses.replace(rt, now=now) for rt in runtimes}, sys.stdin.buffer))


if __name__ == "__main__":
    main(sys.argv[1:])
