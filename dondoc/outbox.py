"""The outbox: decide, record, deliver. Shared by the flows that send and by `preview`.

1. decide: ask the rules what is due today, keep the stages asked for;
2. record: write each as `pending` in the ledger, with its Message-ID, before any sending;
3. deliver: build each unsent letter, keep its .docx under the output folder, claim the
   row, send, and mark it `sent` (or `failed`, or back to `pending`) once the server answered.
A rerun sends only what is not marked sent, under the same Message-ID.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from dondoc.ledger import Ledger
from dondoc.letters import Letter, build_letter, notice
from dondoc.render import Templates
from dondoc.smtp import DeliveryError, Outgoing, SmtpConfig, send_all
from models.calendar import BusinessCalendar
from models.plan import Plan
from models.rules import due_actions

LEASE = dt.timedelta(minutes=10)   # a claim older than this belongs to a run that died


@dataclass
class Summary:
    decided: int = 0
    sent: int = 0
    failed: int = 0
    retry: int = 0
    skipped: int = 0      # claimed by another run meanwhile
    failures: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"decided": self.decided, "sent": self.sent, "failed": self.failed, "retry": self.retry,
                "skipped": self.skipped, "failures": [list(f) for f in self.failures]}


def mail_domain(plan: Plan) -> str:
    return plan.issuer.email.rsplit("@", 1)[1]


def decide(plan: Plan, ledger: Ledger, cal: BusinessCalendar, today: dt.date, stages,
           held: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Record as pending every action of `stages` due today, except first requests of the
    tasks `held` back; returns the keys recorded."""
    actions = [a for a in due_actions(plan, ledger.state(plan.plan.id), today, cal)
               if a.stage in stages and not (a.stage == "request" and a.task_id in held)]
    return ledger.record_actions(actions, today, mail_domain(plan))


def letters(plan: Plan, ledger: Ledger, rows: list[dict], templates: Templates, cal: BusinessCalendar,
            mail_from: str, now: dt.datetime):
    """Build the letter of each row, lazily (10,000 letters do not sit in memory at once)."""
    history = ledger.sent_by_cycle(plan.plan.id)
    for row in rows:
        if row["body"]:
            yield notice(plan, row, mail_from, now)
        else:
            yield build_letter(plan, row, templates, cal, mail_from, now, history)


def keep(letter: Letter, out: Path) -> Path | None:
    if letter.docx is None:
        return None
    path = out / letter.relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(letter.docx)
    return path


async def deliver(plan: Plan, ledger: Ledger, cal: BusinessCalendar, templates: Templates, smtp: SmtpConfig,
                  mail_from: str, out: Path, stages, now: dt.datetime, summary: Summary | None = None) -> Summary:
    """Send every unsent letter of `stages`. Raises DeliveryError when the server could not
    be reached; what was not sent stays pending for the next run."""
    summary = summary or Summary()
    rows = ledger.sendable(plan.plan.id, stages, now, LEASE)
    by_key = {r["key"]: r for r in rows}

    async def produce() -> AsyncIterator[Outgoing]:
        for letter in letters(plan, ledger, rows, templates, cal, mail_from, now):
            keep(letter, out)
            yield Outgoing(letter.key, mail_from, letter.recipients, letter.data)

    def claim(item: Outgoing) -> bool:
        ok = ledger.claim(by_key[item.key], now)
        summary.skipped += not ok
        return ok

    def done(item: Outgoing, error: DeliveryError | None, detail: str) -> None:
        if error is None:
            ledger.finish(item.key, "sent", detail)
            summary.sent += 1
        elif error.permanent:
            ledger.finish(item.key, "failed", str(error))
            summary.failed += 1
            summary.failures.append((item.key, str(error)))
        else:
            ledger.finish(item.key, "pending", str(error))
            summary.retry += 1

    await send_all(produce(), smtp, claim, done)
    return summary
