"""The daily digest to the secretariat, one a day for every plan, grouped by plan: what came
in, the drafts waiting to be signed, who is late (with whom to call), bounced addresses the
plan still lists, contacts still away, letters that failed, are stuck or were partly refused,
what waits in triage; and first, what went wrong with dondoc's own scheduled runs
(models/health). Also every problem as one line each, for `dondoc status` and the web desk.

Side effect: reads the ledger. `digest_actions` returns the digest and the alert emails as
actions to record (their text decided now); nothing is written here.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import replace

from dondoc.ledger import Ledger
from models.away import away_until
from models.calendar import BusinessCalendar
from models.health import Alert, Run, alerts, schedules
from models.keys import Key
from models.plan import Plan
from models.rules import STAGE_WORDS, Action
from models.status import letter_problems, status_rows

LATE_DRAFT = 2      # working days a draft may wait for its signature before it is a problem
AWAY_DAYS = 14      # an out-of-office naming no date is taken to last this long
ALERT_MISSES = 2    # a schedule missed this many times in a row: an email to the secretariat, once
ATTEMPTS = 4        # runs a letter may be deferred before it is stuck (DONDOC_SMTP_ATTEMPTS)


def recorded_runs(ledger: Ledger) -> list[Run]:
    """Every flow run the event log holds (`run-start`, `run-end`), in the order they started."""
    runs: dict[str, Run] = {}
    for e in ledger.db.query("select at, kind, key, detail from events where kind in ('run-start', 'run-end')"
                             " order by id"):
        d = json.loads(e["detail"])
        if e["kind"] == "run-start":
            runs[e["key"]] = Run(e["key"], d["flow"], tuple(d["plans"]), dt.datetime.fromisoformat(d["now"]),
                                 dt.datetime.fromisoformat(e["at"]))
        elif e["key"] in runs:
            runs[e["key"]] = replace(runs[e["key"]], state=d["state"], error=d.get("error", ""))
    return list(runs.values())


def run_alerts(plans: Sequence[Plan], ledger: Ledger, now: dt.datetime) -> list[Alert]:
    """What is wrong with the scheduled runs of `plans` at `now` (models.health.alerts)."""
    return alerts(schedules(plans), recorded_runs(ledger), now)


def _letter_problems(plan: Plan, ledger: Ledger, attempts: int) -> list[tuple[str, str]]:
    pid = plan.plan.id
    bounced_to = {r["key"]: r["a"] for r in ledger.db.query(
        "select key, json_extract(detail, '$.address') as a from events where kind = 'bounced' and key like ?"
        " order by id", [f"{pid}/%"])}
    rows = ledger.db.query("select * from outbound where plan_id = ? and last_error is not null"
                           " and status in ('failed', 'bounced', 'pending', 'sent') order by rowid", [pid])
    return letter_problems(plan, rows, bounced_to, attempts)


def waiting(ledger: Ledger, cals: dict[str, BusinessCalendar], today: dt.date,
            plan_ids: list[str] | None = None) -> list[tuple[dict, int]]:
    """Every draft still waiting to be signed, with the working days it has waited."""
    out = []
    for doc in ledger.documents(state="drafted"):
        if plan_ids is not None and doc["plan_id"] not in plan_ids:
            continue
        cal = cals.get(doc["plan_id"]) or BusinessCalendar()
        since = dt.date.fromisoformat(doc["day"])
        out.append((doc, sum(cal.is_working_day(since + dt.timedelta(days=i))
                             for i in range(1, (today - since).days + 1))))
    return out


def describe(doc: dict, days: int | None = None) -> str:
    """One line for a clerk: the draft's number, stage, day, units and how long it waited."""
    units = len(json.loads(doc["units"] or "[]"))
    line = (f"dự thảo số {doc['id']} ({doc['plan_id']}): công văn {STAGE_WORDS[doc['stage']]} ngày "
            f"{dt.date.fromisoformat(doc['day']):%d/%m/%Y}, {units} cơ quan, đơn vị")
    return line + (f", chờ ký {days} ngày làm việc" if days is not None else "")


def problems(plans: Sequence[Plan], ledger: Ledger, cals: dict[str, BusinessCalendar] | None, now: dt.datetime,
             attempts: int = ATTEMPTS) -> list[str]:
    """Every failure a clerk must see, one Vietnamese line each: the scheduled runs' alerts,
    then per plan the letters failed, bounced (to an address the plan still lists), stuck or
    partly refused, and the drafts waiting for a signature more than LATE_DRAFT working days."""
    cals = cals or {p.plan.id: BusinessCalendar(p.calendar) for p in plans}
    lines = [a.text for a in run_alerts(plans, ledger, now)]
    for plan in plans:
        lines += [line for _, line in _letter_problems(plan, ledger, attempts)]
    ids = [p.plan.id for p in plans]
    lines += [f"Chờ ký quá {LATE_DRAFT} ngày làm việc: {describe(d, n)}"
              for d, n in waiting(ledger, cals, now.date(), ids) if n > LATE_DRAFT]
    return lines


def _contact(plan: Plan, unit_id: str) -> str:
    unit = plan.unit(unit_id)
    who = ", ".join(filter(None, [unit.contact, f"ĐT {unit.phone}" if unit.phone else None]))
    return f" — liên hệ: {who}" if who else ""


def _away(plan: Plan, ledger: Ledger, today: dt.date) -> list[str]:
    """The units whose contact said they are away and are not back yet (per the reply's own
    dates, or AWAY_DAYS after it came when it names none)."""
    until: dict[str, dt.date] = {}
    for r in ledger.inbound("ooo"):
        if not r["unit_id"] or r["plan_id"] != plan.plan.id or not plan.has_unit(r["unit_id"]):
            continue
        came = dt.date.fromisoformat(r["received_on"] or r["received_at"][:10])
        end = away_until(f"{r['subject'] or ''}\n{r['summary'] or ''}", came) or came + dt.timedelta(days=AWAY_DAYS)
        if end >= today:
            until[r["unit_id"]] = max(end, until.get(r["unit_id"], end))
    return [f"- {plan.unit(u).name} (vắng đến {d:%d/%m/%Y}){_contact(plan, u)}"
            for u, d in sorted(until.items(), key=lambda ud: plan.unit(ud[0]).name)]


def _sections(plan: Plan, ledger: Ledger, cal: BusinessCalendar, today: dt.date, since: str,
              attempts: int) -> list[tuple[str, list]]:
    pid = plan.plan.id
    name = {u.id: u.name for u in plan.units}
    came = [f"- {name.get(r['unit_id'], r['unit_id'])} — {r['task_id']} ({r['period']}) — nhận ngày "
            f"{dt.date.fromisoformat(r['received_on']):%d/%m/%Y} ({'giấy' if r['source'] == 'paper' else 'thư'})"
            for r in ledger.db.query("select * from reports where plan_id = ? and created_at > ? order by created_at",
                                     [pid, since])]
    rows = status_rows(plan, ledger.state(pid), today, cal=cal)
    late = [f"- {r.unit_name} — {r.task_id} ({r.period}, hạn {r.deadline:%d/%m/%Y}){_contact(plan, r.unit_id)}"
            for r in rows if r.status == "overdue"]
    letters: dict[str, list[str]] = {}
    for kind, line in _letter_problems(plan, ledger, attempts):
        letters.setdefault(kind, []).append(f"- {line.split(': ', 1)[1]}")
    drafts = [f"- {describe(d, n)}" for d, n in waiting(ledger, {pid: cal}, today, [pid])]
    sections = [("Dự thảo công văn chờ ký (đơn vị chưa nhận được gì): dondoc issue", drafts),
                ("Báo cáo nhận được từ lần tổng hợp trước", came), ("Đơn vị quá hạn chưa báo cáo", late),
                ("Địa chỉ thư bị trả lại (cần sửa trong kế hoạch)", letters.get("bounced", [])),
                ("Thư không gửi được", letters.get("failed", [])),
                ("Thư đã thử gửi nhiều lần vẫn chưa được", letters.get("stuck", [])),
                ("Thư đã gửi nhưng có người nhận bị từ chối", letters.get("partial", [])),
                ("Đơn vị có người liên hệ vắng mặt", _away(plan, ledger, today))]
    return [(title, lines) for title, lines in sections if lines]


def _secretariat(plan: Plan) -> str:
    return plan.issuer.secretariat_email or plan.issuer.email


def digest_actions(plans: list[Plan], ledger: Ledger, cals: dict[str, BusinessCalendar], today: dt.date,
                   now: dt.datetime | None = None, attempts: int = ATTEMPTS) -> list[Action]:
    """The digests for `today`: one per secretariat address, covering the plans it serves (the
    first of them keys it and sends it; replies waiting in triage go in the default plan's),
    when there is something to say; and one email to a plan's secretariat for each schedule
    missed ALERT_MISSES times or more in a row, keyed by the first time missed, so recording
    it again changes nothing. `now`: the clock the runs' alerts are judged at (default: noon
    of `today`)."""
    now = now or dt.datetime.combine(today, dt.time(12), cals[plans[0].plan.id].tz)
    health = run_alerts(plans, ledger, now)
    served: dict[str, list[Plan]] = {}
    for plan in plans:
        served.setdefault(_secretariat(plan), []).append(plan)
    out = []
    for n, mine in enumerate(served.values()):
        ids = {p.plan.id for p in mine}
        out += _digest(mine, ledger, cals, today, [a for a in health if a.schedule.plan_id in ids], attempts, n == 0)
    return out


def _digest(plans: list[Plan], ledger: Ledger, cals: dict[str, BusinessCalendar], today: dt.date,
            health: list[Alert], attempts: int, with_triage: bool) -> list[Action]:
    """digest_actions for the plans of one secretariat."""
    first = plans[0]
    pid = first.plan.id
    last = next(ledger.db.query("select created_at from outbound where stage = 'digest' and plan_id = ?"
                                " and period not like '%T%' order by created_at desc limit 1", [pid]),
                {"created_at": ""})["created_at"]
    parts = []
    if health:
        parts.append(f"CẢNH BÁO: LƯỢT CHẠY TỰ ĐỘNG CÓ VẤN ĐỀ ({len(health)}):\n" + "\n".join(
            f"- {a.text}" for a in health))
    for plan in plans:
        sections = _sections(plan, ledger, cals[plan.plan.id], today, last, attempts)
        if sections:
            parts.append(f"KẾ HOẠCH {plan.plan.id}: {plan.plan.title}\n\n" + "\n\n".join(
                f"{title} ({len(lines)}):\n" + "\n".join(lines) for title, lines in sections))
    triage = ledger.inbound("triage") if with_triage else []
    if triage:
        parts.append(f"Thư chờ phân loại (dondoc triage) ({len(triage)}):\n" + "\n".join(
            f"- #{r['rowid']} {r['from_addr']}: {r['reason']}" for r in triage))
    out = [_notice(first, Key(pid, today.isoformat(), stage="digest"), today,
                   f"Tình hình báo cáo ngày {today:%d/%m/%Y}",
                   f"Tình hình thực hiện các kế hoạch, ngày {today:%d/%m/%Y}.\n\n" + "\n\n".join(parts) + "\n")
           ] if parts else []
    for a in health:
        if a.kind == "missed" and a.misses >= ALERT_MISSES:
            period = f"{a.since:%Y-%m-%dT%H%M}.{a.schedule.plan_id}.{a.schedule.flow}"
            out.append(_notice(first, Key(pid, period, stage="digest"), today,
                               f"Cảnh báo: lượt chạy “{a.schedule.flow}” của kế hoạch {a.schedule.plan_id} "
                               "không chạy theo lịch",
                               f"{a.text}.\n\nThư này chỉ gửi một lần cho mỗi đợt lỡ lịch; tình hình tiếp theo "
                               "có trong thư tổng hợp hằng ngày và `dondoc status`.\n"))
    return out


def _notice(plan: Plan, key: Key, today: dt.date, subject: str, text: str) -> Action:
    return Action(str(key), "digest", plan.plan.id, key.period, None, None, 0, today, None, (_secretariat(plan),),
                  plan_hash=plan.digest, body=json.dumps({"subject": subject, "text": text}, ensure_ascii=False))
