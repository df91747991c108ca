"""The `dondoc` command. Reads the clock and the settings once, here, and passes them down.

Read-only commands (validate, plan, status) never import Prefect, so they answer fast."""
from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def _date(text: str) -> dt.date:
    import re
    try:
        if m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text.strip()):
            day = dt.date(int(m[3]), int(m[2]), int(m[1]))
        else:
            day = dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} không phải ngày (DD/MM/YYYY hoặc YYYY-MM-DD)") from None
    _near(day.year, text)
    return day


def _near(year: int, text: str) -> None:
    """A date or period a clerk types is within five years of today (a typo is not 9999)."""
    this = dt.datetime.now(TZ).year
    if abs(year - this) > 5:
        raise argparse.ArgumentTypeError(f"{text!r}: năm {year} cách năm nay quá 5 năm")


def _read_only() -> None:
    """For the commands that only read (validate, plan, status) and then exit: no numpy
    (sqlite-utils, when something loads it, imports numpy for column types these commands never
    write), and no cyclic garbage collection: it would scan the 10,000s of rows they make again
    and again for cycles they do not form (a third of the rows' time); reference counting still
    frees them, and the process ends."""
    import gc
    gc.disable()
    sys.modules.setdefault("numpy", None)  # type: ignore[arg-type]


def _indent() -> int | None:
    """JSON indented for a person at a terminal; compact in a pipe (json.dumps without indent
    runs the C encoder: several times faster at 10,000 units)."""
    return 2 if sys.stdout.isatty() else None


def _today(args) -> dt.date:
    return args.today or dt.datetime.now(TZ).date()


def _files(settings, only: list[str] | None = None, one: Path | None = None):
    """(path, plan) of every plan file (or `only` those ids, or the one file `one`); a bad
    plan exits here with every error located."""
    from dondoc.plans import plan_files, read_plan
    from models.loader import PlanInvalid
    try:
        return [(one, read_plan(one))] if one else plan_files(settings.config, only)
    except OSError as e:
        sys.exit(f"{one}: không đọc được tệp kế hoạch: {e.strerror}")
    except PlanInvalid as e:
        print(e, file=sys.stderr)
        print(f"{len(e.errors)} lỗi", file=sys.stderr)
        sys.exit(1)


def _plans(args, settings):
    return [plan for _, plan in _files(settings, getattr(args, "plan", None))]


def _one_plan(args, settings, task: str | None = None):
    """The plan a command about one report means: `--plan`, else the one plan that has the task."""
    plans = _plans(args, settings)
    if len(plans) > 1 and task:
        plans = [p for p in plans if task in {t.id for t in p.tasks}] or plans
    if len(plans) != 1:
        sys.exit(f"chọn kế hoạch bằng --plan (một trong: {', '.join(p.plan.id for p in plans)})")
    return plans[0]


def _runtimes(args, settings):
    from dondoc.runtime import open_runtimes
    _files(settings, getattr(args, "plan", None))   # a bad plan exits here with its errors
    return open_runtimes(args.today, settings, getattr(args, "plan", None))


def _ledger(settings):
    from dondoc.ledger import Ledger
    return Ledger(settings.db)


def cmd_validate(args, settings) -> int:
    _read_only()
    from dondoc.plans import rename_warnings
    from models.calendar import BusinessCalendar
    from models.renames import orphans
    from models.rules import task_cycles
    files = _files(settings, one=args.file)
    year = _today(args).year
    for path, plan in files:
        cal = BusinessCalendar(plan.calendar)
        print(f"{path}: OK ({plan.plan.id}, mã băm {plan.digest})")
        print(f"  {len(plan.units)} đơn vị trong {len(plan.groups)} nhóm, {len(plan.tasks)} nhiệm vụ, "
              f"{len(plan.indicators)} chỉ tiêu; báo cáo: {', '.join(r.period for r in plan.reports)}")
        for t in plan.tasks:
            cycles = [c for c, _ in task_cycles(plan, cal, t, (year,))]
            when = ", ".join(f"{c.period.label} hạn {c.deadline:%d/%m/%Y}" for c in dict(
                (c.period, c) for c in cycles).values()) or f"không có hạn trong năm {year}"
            print(f"  nhiệm vụ {t.id}: {len(plan.units_of(t))} đơn vị, {len(t.exempt)} miễn; {when}")
    if args.file is None and settings.db.exists():
        warnings = rename_warnings(files, orphans([p for _, p in files], _ledger(settings).history()))
        for w in warnings:
            print(f"{w} (cảnh báo)", file=sys.stderr)
    return 0


def cmd_plan(args, settings) -> int:
    _read_only()
    if args.action:
        return _plan_history(args, settings)
    from models.calendar import BusinessCalendar
    from models.rules import STAGE_WORDS, due_actions, untracked
    ledger = _ledger(settings)
    today = _today(args)
    actions, gaps = [], []
    for plan in _plans(args, settings):
        cal = BusinessCalendar(plan.calendar)
        state = ledger.state(plan.plan.id)
        actions += due_actions(plan, state, today, cal)
        gaps += [(plan.plan.id, u) for u in untracked(plan, state, today, cal)]
    if args.json:
        sys.stdout.write(json.dumps({"actions": [{"key": a.key, "plan": a.plan_id, "stage": a.stage, "task": a.task_id,
                                "unit": a.unit_id, "period": a.period, "seq": a.seq,
                                "scheduled_on": a.scheduled_on.isoformat(),
                                "deadline": a.deadline.isoformat() if a.deadline else None,
                                "to": list(a.to), "cc": list(a.cc), "units": list(a.units),
                                "plan_hash": a.plan_hash} for a in actions],
                   "untracked": [{"plan": pid, "task": u.task_id, "period": u.period,
                                  "deadline": u.deadline.isoformat(), "units": list(u.units)} for pid, u in gaps]},
                  ensure_ascii=False, indent=_indent()))
        print()
        return 0
    if not actions:
        print(f"{today:%d/%m/%Y}: không có việc cần làm.")
    for a in actions:
        who = a.unit_id or ", ".join(a.units) or "-"
        print(f"{today:%d/%m/%Y}  {a.plan_id}  {STAGE_WORDS[a.stage]:<22} {a.task_id or '-':<24} {a.period:<10} {who}"
              f"  → {', '.join(a.to)}" + (f" (cc {', '.join(a.cc)})" if a.cc else ""))
    for pid, u in gaps:
        print(f"Chưa theo dõi: {pid} {u.task_id} kỳ {u.period}, hạn {u.deadline:%d/%m/%Y} đã qua, {len(u.units)} đơn "
              f"vị chưa được đề nghị: không gửi đề nghị sau hạn; ghi nhận báo cáo bằng `dondoc record` "
              "hoặc đặt hạn mới.")
    return 0


def _plan_history(args, settings) -> int:
    """rename-plan OLD NEW, rename-task OLD NEW --plan P, retire-task OLD --plan P."""
    ledger = _ledger(settings)
    if args.action == "rename-plan":
        if not (args.old and args.new):
            sys.exit("cách dùng: dondoc plan rename-plan MÃ-CŨ MÃ-MỚI")
        n = ledger.rename(args.old, new_plan=args.new)
        print(f"Đã chuyển {n} bản ghi của kế hoạch {args.old} sang {args.new}.")
        return 0
    if not args.plan or len(args.plan) != 1 or not args.old:
        sys.exit(f"cách dùng: dondoc plan {args.action} MÃ-CŨ{' MÃ-MỚI' if args.action == 'rename-task' else ''} "
                 "--plan KẾ-HOẠCH")
    if args.action == "retire-task":
        ledger.retire(args.plan[0], args.old)
        print(f"Nhiệm vụ {args.old} của {args.plan[0]} được ghi là đã bỏ; lịch sử vẫn được giữ.")
        return 0
    if not args.new:
        sys.exit("cách dùng: dondoc plan rename-task MÃ-CŨ MÃ-MỚI --plan KẾ-HOẠCH")
    n = ledger.rename(args.plan[0], task_id=args.old, new_task=args.new)
    print(f"Đã chuyển {n} bản ghi của nhiệm vụ {args.old} sang {args.new} ({args.plan[0]}).")
    return 0


def _status(args, settings):
    """Each selected plan with its status rows, and the failures and triage of the ledger."""
    from models.calendar import BusinessCalendar
    from models.status import status_rows
    ledger = _ledger(settings)
    out = []
    for plan in _plans(args, settings):
        pid = plan.plan.id
        out.append((plan, status_rows(plan, ledger.state(pid), _today(args), ledger.sent_by_cycle(pid),
                                      BusinessCalendar(plan.calendar)),
                    ledger.outbound(pid, "failed") + ledger.outbound(pid, "bounced")))
    return out, ledger.count_inbound("triage")


def _problems(args, settings, plans) -> list[str]:
    """Every failure a clerk must see (dondoc.digest.problems), judged at `--today`'s noon or now."""
    from dondoc.digest import problems
    from models.calendar import BusinessCalendar
    cals = {p.plan.id: BusinessCalendar(p.calendar) for p in plans}
    tz = cals[plans[0].plan.id].tz
    now = dt.datetime.now(tz) if args.today is None else dt.datetime.combine(_today(args), dt.time(12), tzinfo=tz)
    return problems(plans, _ledger(settings), cals, now, settings.smtp_attempts)


def cmd_status(args, settings) -> int:
    _read_only()
    from models.status import WORDS, counts
    plans, triage = _status(args, settings)
    if args.html:
        _status_html(plans, _today(args), args.html)
        print(f"{args.html}")
        return 0
    failed = [f for _, _, fs in plans for f in fs]
    trouble = _problems(args, settings, [plan for plan, _, _ in plans])
    if args.json:
        _status_json(plans, _today(args), failed, triage, trouble)
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from models.rules import STAGE_WORDS, STATE_WORDS
    console = Console(width=None if sys.stdout.isatty() else 200)  # a pipe gets unwrapped rows
    for plan, mine, _ in plans:
        table = Table(title=f"Tình hình báo cáo — {plan.plan.id} — ngày {_today(args):%d/%m/%Y}")
        for col in ("Kỳ", "Nhiệm vụ", "Đơn vị", "Hạn", "Đã gửi", "Tình trạng", "Ngày nhận"):
            table.add_column(col)
        for r in mine:
            sent = "; ".join(f"{STAGE_WORDS[s]} {d:%d/%m}" + ("" if st == "sent" else f" ({STATE_WORDS.get(st, st)})")
                             for s, d, st in r.sent)
            table.add_row(r.period, r.task_id, escape(r.unit_name), f"{r.deadline:%d/%m/%Y}", sent, r.word,
                          f"{r.reported_on:%d/%m/%Y}" if r.reported_on else "")
        console.print(table)
        console.print("  ".join(f"{WORDS[k]}: {v}" for k, v in counts(mine).items()))
    for line in trouble:
        console.print(f"[red]![/red] {escape(line)}", soft_wrap=True)
    if triage:
        console.print(f"Thư chờ phân loại: {triage} (dondoc triage)")
    return 0



def _status_json(plans, today: dt.date, failed: list[dict], triage: int, problems: list[str]) -> None:
    """Write the status as one JSON document on stdout. Each row is written as json.dumps would
    write its dict, from the strings rows share (each date, word and list of letters encoded
    once: 10,000s of rows, a few hundred distinct values), and in a pipe written a few thousand
    at a time (never the whole document as one string); at a terminal, the same document indented."""
    from functools import cache
    from itertools import islice
    from json.encoder import encode_basestring as text  # what json.dumps(…, ensure_ascii=False) does to a str

    from models.status import counts
    word = cache(text)

    @cache
    def day(d: dt.date | None) -> str:
        return "null" if d is None else f'"{d.isoformat()}"'

    @cache
    def letters(sent: tuple) -> str:
        return json.dumps([{"stage": s, "on": d and d.isoformat(), "status": st} for s, d, st in sent],
                          ensure_ascii=False)

    def row(plan_id: str, r) -> str:
        return (f'{{"plan": {plan_id}, "period": {word(r.period)}, "task": {word(r.task_id)}, '
                f'"unit": {text(r.unit_id)}, "unit_name": {text(r.unit_name)}, "deadline": {day(r.deadline)}, '
                f'"status": {word(r.status)}, "status_text": {word(r.word)}, "reported_on": {day(r.reported_on)}, '
                f'"updated_on": {day(r.updated_on)}, "sent": {letters(r.sent)}}}')

    rows = (row(text(plan.plan.id), r) for plan, mine, _ in plans for r in mine)
    doc = {"today": today.isoformat(), "counts": counts(r for _, mine, _ in plans for r in mine),
           "plans": {plan.plan.id: counts(mine) for plan, mine, _ in plans}, "rows": None,
           "failed": [{"key": f["key"], "status": f["status"], "to": json.loads(f["to_addrs"]),
                       "error": f["last_error"]} for f in failed],
           "problems": problems, "triage": triage}
    head, _, tail = json.dumps(doc, ensure_ascii=False).partition('"rows": null')
    if indent := _indent():
        whole = json.loads(f'{head}"rows": [{", ".join(rows)}]{tail}')
        sys.stdout.write(json.dumps(whole, ensure_ascii=False, indent=indent) + "\n")
        return
    out = sys.stdout
    out.write(head + '"rows": [')
    sep = ""
    while chunk := list(islice(rows, 2000)):
        out.write(sep + ", ".join(chunk))
        sep = ", "
    out.write("]" + tail + "\n")


def _status_html(plans, today, path: Path) -> None:
    """A one-page status report for a browser: per plan and task a bar of the status words,
    per unit what was sent and received. Values are escaped (autoescape)."""
    from jinja2 import Environment, FileSystemLoader

    from models.period import parse_label, with_period
    from models.rules import STAGE_WORDS, STATE_WORDS
    from models.status import WORDS, counts
    tasks, rows = [], []
    for plan, mine, _ in plans:
        for (label, task_id) in dict.fromkeys((r.period, r.task_id) for r in mine):
            of = [r for r in mine if (r.period, r.task_id) == (label, task_id)]
            tasks.append({"plan": plan.plan.id, "period": label, "id": task_id,
                          "title": with_period(plan.task(task_id).title, parse_label(label)),
                          "deadline": f"{of[0].deadline:%d/%m/%Y}", "counts": counts(of), "total": len(of)})
        rows += [{"plan": plan.plan.id, "unit_name": r.unit_name, "task_id": r.task_id, "period": r.period,
                  "status": r.status, "word": r.word, "received": f"{r.reported_on:%d/%m/%Y}" if r.reported_on else "",
                  "sent": [f"{STAGE_WORDS[s]} {d:%d/%m}" + ("" if st == "sent" else f" ({STATE_WORDS.get(st, st)})")
                           for s, d, st in r.sent]} for r in mine]
    shipped = Path(__file__).resolve().parent.parent / "templates"   # dondoc.render.SHIPPED, without python-docx
    env = Environment(loader=FileSystemLoader(str(shipped)), autoescape=True)
    html = env.get_template("status.html.j2").render(
        plans=[p for p, _, _ in plans], today=f"{today:%d/%m/%Y}", words=WORDS,
        counts=counts([r for _, mine, _ in plans for r in mine]), tasks=tasks, rows=rows)
    path.write_text(html, encoding="utf-8")


def cmd_preview(args, settings) -> int:
    """Write what a run would produce on that day (the documents' drafts, one email per unit
    and stage, the memo) under --out; record and send nothing."""
    from dondoc.outbox import preview
    from models.rules import due_actions
    out, emails, docs, today = args.out, 0, 0, _today(args)
    runtimes = _runtimes(args, settings)
    plans = {rt.plan.plan.id: rt.plan for rt in runtimes}
    for rt in runtimes:
        actions = [a for a in due_actions(rt.plan, rt.ledger.state(rt.plan.plan.id), rt.today, rt.cal)
                   if a.stage != "compile"]
        for relpath, data in preview(rt.plan, rt.ledger, actions, rt.today, rt.templates, rt.cal, rt.mail_from,
                                     rt.now, plans):
            path = out / relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            emails += relpath.endswith(".eml")
            docs += relpath.endswith(".docx")
        today = rt.today
    print(f"{emails} thư (.eml) và {docs} văn bản (.docx, bản dự thảo) cho ngày {today:%d/%m/%Y} trong {out}; "
          "không gửi thư nào.")
    return 0


def cmd_check_format(args, settings) -> int:
    from dondoc.ndformat import CheckError, check_files
    try:
        results = check_files(args.files, pdf=args.pdf)
    except CheckError as e:
        print(e, file=sys.stderr)
        return 2
    failed = 0
    for path, breaches in results.items():
        failed += bool(breaches)
        print(f"{path}: {'OK' if not breaches else f'{len(breaches)} lỗi thể thức'}")
        for b in breaches:
            print(f"  - {b}")
    return 1 if failed else 0


def cmd_triage(args, settings) -> int:
    ledger = _ledger(settings)
    waiting = {r["rowid"]: r for r in ledger.inbound("triage")}
    if args.action is None:
        return _triage_list(args, ledger, waiting)
    if args.number is None:
        sys.exit("cách dùng: dondoc triage [show|assign|dismiss|undo] N …")
    if args.action == "show":
        return _triage_show(ledger, args.number, args.eml)
    if args.action == "undo":
        print(ledger.undo_triage(args.number, args.reason or ""))
        return 0
    row = waiting.get(args.number)
    if row is None:
        sys.exit(f"#{args.number} không có trong danh sách chờ phân loại (xem `dondoc triage`)")
    if not args.reason:
        sys.exit("ghi lý do bằng --reason: lý do được lưu vào nhật ký")
    if args.action == "dismiss":
        ledger.update_inbound(row["id"], status="dismissed", reason=f"bỏ qua: {args.reason}")
        ledger.log("triage-dismiss", row["id"], reason=args.reason, previous_reason=row["reason"])
        print(f"#{args.number}: đã bỏ qua ({args.reason}).")
        return 0
    if args.yes:   # the guess shown in the list, as it is
        args.unit, args.task = args.unit or row["unit_id"], args.task or row["task_id"]
        args.period = args.period or row["period"]
    if not (args.unit and args.task):
        sys.exit("cách dùng: dondoc triage assign N --unit ĐƠN-VỊ --task NHIỆM-VỤ [--period KỲ] --reason LÝ-DO "
                 "(hoặc --yes để nhận gợi ý)")
    if not args.plan and row["plan_id"]:
        args.plan = [row["plan_id"]]
    plan = _one_plan(args, settings, args.task)
    received = dt.date.fromisoformat(row["received_on"]) if row["received_on"] else _today(args)
    period = _period(plan, args, received)
    from dondoc.collector import assign
    from models.inbound import Limits
    new = assign(plan, ledger, settings.data, Limits(max_bytes=settings.max_attachment_mb << 20), row, period,
                 args.task, args.unit, args.reason)
    print(f"#{args.number}: ghi nhận là báo cáo của {plan.unit(args.unit).name} ({args.task}, kỳ {period})"
          + {"new": "", "updated": "; thay cho báo cáo gửi trước (vẫn được lưu)",
             "exists": "; thư này đã được ghi nhận trước đó"}[new] + ".")
    return 0


def _triage_list(args, ledger, waiting) -> int:
    shown = {n: r for n, r in waiting.items() if not args.plan or r["plan_id"] in args.plan}
    if not shown:
        print("Không có thư nào chờ phân loại.")
    for n, r in shown.items():
        guess = " / ".join(filter(None, [r["plan_id"], r["unit_id"], r["task_id"], r["period"]]))
        print(f"#{n}  {r['received_on'] or '?'}  {r['from_addr'] or '?'}  {r['subject'] or ''}\n"
              f"     lý do: {r['reason']}" + (f"\n     gợi ý: {guess} (nhận: dondoc triage assign {n} --yes "
                                              "--reason …)" if r["unit_id"] and r["task_id"] else ""))
    unread = [r for r in ledger.inbound("matched") if "_unreadable" in (r["indicators"] or "")
              and json.loads(r["indicators"]).get("_unreadable")]
    for r in unread:   # counted, but a number could not be read: a person looks
        values = "; ".join(f"{k}: “{raw}”" for k, raw in json.loads(r["indicators"])["_unreadable"])
        print(f"#{r['rowid']}  {r['from_addr']}  báo cáo đã ghi nhận, số liệu không đọc được: {values}")
    return 0


def _triage_show(ledger, number: int, eml: Path | None = None) -> int:
    """The message as a clerk needs it to decide: sender, date, subject, its own text, the
    attachments (saved path, or why refused), the reason it waits. `eml`: the original
    message is also written to that file, for a mail program to open."""
    from dondoc.archive import read_raw
    from models.mailparse import parse_reply
    row = ledger.inbound_row(number)
    if row is None:
        sys.exit(f"không có thư #{number}")
    raw = read_raw(row)
    reply = parse_reply(raw)
    original = (f"{row['raw_path']}, từ byte {row['raw_offset']} ({row['raw_length']} byte; lưu ra tệp: "
                f"dondoc triage show {number} --eml TỆP.eml)" if row["raw_offset"] is not None else row["raw_path"])
    if eml is not None:
        eml.write_bytes(raw)
        original = str(eml)
    saved = {a["name"]: a for a in json.loads(row["attachments"] or "[]") if isinstance(a, dict)}
    print(f"#{number}  [{row['status']}] {row['reason'] or ''}\nNgười gửi: {reply.from_name} <{reply.from_addr}>\n"
          f"Ngày: {row['received_on'] or '?'}\nTiêu đề: {reply.subject}\nThư gốc: {original}\n")
    print((reply.reply_text or reply.text).strip() or "(thư không có nội dung chữ)")
    for att in reply.attachments:
        kept = saved.get(att.filename, {})
        where = kept.get("path") or (f"không nhận: {kept['refused']}" if "refused" in kept else "chưa lưu")
        print(f"Tệp đính kèm: {att.filename} ({len(att.data) // 1024} KB) — {where}")
    return 0


def _period(plan, args, day: dt.date) -> str:
    """The cycle a report received on `day` belongs to: `--period`, else the one whose window
    holds the day. Exits with a message for an unknown unit, task or period."""
    from dondoc.desk import DeskError, pick_period
    from models.period import parse_label
    try:
        if args.period:
            _near(parse_label(args.period).year, args.period)
        return pick_period(plan, args.unit, args.task, args.period or (str(args.year) if args.year else None), day)
    except (ValueError, argparse.ArgumentTypeError) as e:
        sys.exit(f"kỳ {args.period!r} không hợp lệ (ví dụ 2026, 2026-H1, 2026-Q3, 2026-10): {e}")
    except DeskError as e:
        sys.exit(str(e))


def cmd_record(args, settings) -> int:
    plan = _one_plan(args, settings, args.task)
    day = args.date or _today(args)
    period = _period(plan, args, day)
    from dondoc.desk import record_paper
    if args.file and not args.file.is_file():
        sys.exit(f"{args.file}: không có tệp này")
    scan = (args.file.name, args.file.read_bytes()) if args.file else None
    new, files = record_paper(plan, _ledger(settings), settings.data, args.unit, args.task, period, day, scan,
                              args.note or "", args.replace)
    if new == "exists":
        print(f"{plan.unit(args.unit).name} đã có báo cáo cho {args.task} kỳ {period}; không ghi thêm "
              "(dùng --replace để thay bằng báo cáo này).", file=sys.stderr)
        return 1
    print(f"Đã ghi nhận {'báo cáo thay thế' if new == 'updated' else 'báo cáo'} của {plan.unit(args.unit).name} "
          f"({args.task}, kỳ {period}) nhận ngày {day:%d/%m/%Y}"
          + (f", tệp {files[0]}" if files else "") + ".")
    return 0


def _prefect_env(settings) -> None:
    """Prefect's defaults for an offline machine, unless the operator set them."""
    import os
    os.environ.setdefault("PREFECT_HOME", str((settings.db.parent / "prefect").resolve()))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)


def _no_tracebacks() -> None:
    """Prefect's log lines without the tracebacks it attaches to a failed run (--debug keeps them):
    the clerk gets the one line that says what to do."""
    import logging

    class Plain(logging.Filter):
        def filter(self, record):
            record.exc_info, record.exc_text, record.stack_info = None, None, None
            return True

    for name in ("", "prefect", "prefect.flow_runs", "prefect.task_runs"):
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(Plain())


def _reach_prefect(settings) -> None:
    """Before Prefect is imported: the API server of a running `dondoc serve` (recorded next to
    the ledger) when the operator set none, so the run starts no temporary server; without
    one, say once what the temporary server costs."""
    import os

    from dondoc.serve import running_api
    if os.environ.get("PREFECT_API_URL"):
        return
    if url := running_api(settings.db.parent):
        os.environ["PREFECT_API_URL"] = url
    else:
        print("Chưa chạy dondoc serve: Prefect khởi động máy chủ tạm, mất khoảng 10 giây; "
              "chạy `dondoc serve` (hoặc đặt PREFECT_API_URL) thì mỗi lần chạy chỉ mất vài giây.", file=sys.stderr)


def cmd_run(args, settings) -> int:
    _files(settings, args.plan)
    if args.i_know_the_ledger_is_new:   # read by the flow's settings (a served run is another process)
        import os
        os.environ["DONDOC_ACCEPT_NEW_LEDGER"] = "1"
    extra: dict = {"plans": args.plan} if args.stage != "collect" else {}
    if args.stage == "report":
        extra |= {"period": args.period or (str(args.year) if args.year else None), "resend": args.resend}
    from dondoc.serve import hand_off, run_flow
    if args.debug or not (served := hand_off(settings.db.parent, args.stage, args.today, extra)):
        _prefect_env(settings)
        _reach_prefect(settings)
        if not args.debug:
            import importlib
            importlib.import_module(f"flows.{args.stage}")   # Prefect's logging, set up on import, then mended
            _no_tracebacks()
        code, text = run_flow(args.stage, args.today, extra)
    else:   # the warm `dondoc serve` ran it
        code, text, warnings = served
        for line in warnings:
            print(line, file=sys.stderr)
    print(text, file=sys.stderr if code else sys.stdout)
    return code


def cmd_demo(args, settings) -> int:
    import os
    import shutil
    import time

    from dondoc import demo
    out = args.out
    if out.exists():
        shutil.rmtree(out)   # a demo always starts from nothing
    out.mkdir(parents=True)
    demo.settings_for(out)
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
    from dondoc.settings import Settings
    settings = Settings()
    _prefect_env(settings)
    plans = [plan for _, plan in _files(settings)]
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    console = Console()
    console.print(f"[bold]dondoc demo[/bold]: năm {args.year}, " + "; ".join(
        f"{p.plan.id} ({len(p.units)} đơn vị)" for p in plans) + f"; thư và báo cáo trong {out}")
    start = time.monotonic()
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed} ngày"),
                  TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("khởi động Prefect…", total=None)
        result = demo.run(out, args.year, lambda day, n: bar.update(
            task, completed=n, description=f"ngày {day:%d/%m/%Y}"))
    args.today, args.json, args.html, args.plan = result["last_day"], False, None, None
    cmd_status(args, settings)
    console.print(f"\nVăn thư đã đăng ký {result['issued']} công văn (dự thảo nhận ở hộp thư văn phòng, ký số, "
                  f"đăng ký bằng dondoc issue); đã gửi {result['sent']} thư; báo cáo lãnh đạo:")
    for w in dict.fromkeys(result.get("warnings", [])):
        console.print(f"  cảnh báo: {escape(w)}", soft_wrap=True)
    for subject in result["escalations"]:
        console.print(f"  - {escape(subject)}", soft_wrap=True)
    console.print(f"\nThư đã gửi (.docx): {result['letters']}")
    for f in result.get("files", []):
        console.print(f"Báo cáo: {f}")
    console.print(f"({time.monotonic() - start:.0f} giây)")
    return 0


def _web_settings(args, settings):
    """The settings with `--web-port` and `--web-host` applied."""
    return settings.model_copy(update={k: v for k, v in (("web_port", args.web_port), ("web_host", args.web_host))
                                       if v is not None})


def cmd_serve(args, settings) -> int:
    plans = [plan for _, plan in _files(settings)]
    _prefect_env(settings)
    import os

    from dondoc import web
    settings = _web_settings(args, settings)
    _ledger(settings)
    page = web.server(settings)   # checked before Prefect starts: a busy port or no account stops here
    from dondoc.serve import serve
    serve(plans, Path(os.environ["PREFECT_HOME"]), web=page, var=settings.db.parent, pool=args.pool)
    return 0


def cmd_web(args, settings) -> int:
    """Only the web page (no schedules); or add an account for it."""
    from dondoc import web
    if args.add_account:
        import getpass
        if sys.stdin.isatty():
            password = getpass.getpass("Mật khẩu: ")
            if getpass.getpass("Nhập lại mật khẩu: ") != password:
                sys.exit("hai lần nhập mật khẩu không khớp")
        else:
            password = sys.stdin.readline().rstrip("\n")
        if len(password) < 8:
            sys.exit("mật khẩu cần ít nhất 8 ký tự")
        web.add_account(settings.web_accounts, args.add_account, password)
        print(f"Đã lưu tài khoản {args.add_account} vào {settings.web_accounts}.")
        return 0
    _files(settings)   # a bad plan exits here with its errors
    _ledger(settings)  # and an unusable ledger
    page = web.server(_web_settings(args, settings), args.today)
    print("Trang web cho văn phòng (dừng bằng Ctrl+C):", flush=True)
    print(web.address(page), flush=True)
    page.run()
    return 0


def cmd_resend(args, settings) -> int:
    """Put the letters a server refused for good back in the queue; the next run sends them."""
    ledger, n = _ledger(settings), 0
    for plan in _plans(args, settings):
        keys = ledger.resend_failed(plan.plan.id, args.unit)
        n += len(keys)
    who = f" của {args.unit}" if args.unit else ""
    if not n:
        print(f"Không có thư bị từ chối nào{who}.")
        return 0
    print(f"Đã đưa {n} thư bị từ chối{who} trở lại hàng chờ; lần chạy tới (dondoc run dispatch / "
          "escalate) sẽ gửi lại, cùng Message-ID.")
    return 0


DOC_STATES = {"drafted": "chờ ký", "issued": "đã ban hành"}


def cmd_drafts(args, settings) -> int:
    """The documents dondoc drafted: id, plan, stage, day, units and state."""
    from models.calendar import BusinessCalendar
    from models.rules import STAGE_WORDS
    ledger = _ledger(settings)
    plans = _plans(args, settings)
    cals = {p.plan.id: BusinessCalendar(p.calendar) for p in plans}
    today = _today(args)
    docs = [d for d in ledger.documents() if d["plan_id"] in cals and (args.all or d["state"] == "drafted")]

    def waited(d) -> int:
        since, cal = dt.date.fromisoformat(d["day"]), cals[d["plan_id"]]
        return sum(cal.is_working_day(since + dt.timedelta(days=i)) for i in range(1, (today - since).days + 1))
    if args.json:
        json.dump([{"id": d["id"], "plan": d["plan_id"], "stage": d["stage"], "day": d["day"], "state": d["state"],
                    "state_text": DOC_STATES[d["state"]], "units": json.loads(d["units"] or "[]"),
                    "tasks": json.loads(d["tasks"] or "[]"), "number": d["number"], "issued_on": d["issued_on"],
                    "working_days_waited": waited(d) if d["state"] == "drafted" else None,
                    "draft": d["docx_path"], "pdf": d["pdf_path"], "signed": bool(d["signed_file"])} for d in docs],
                  sys.stdout, ensure_ascii=False, indent=2)
        print()
        return 0
    if not docs:
        print("Không có dự thảo nào chờ ký." if not args.all else "Chưa có văn bản nào.")
    for d in docs:
        units = json.loads(d["units"] or "[]")
        state = (f"chờ ký {waited(d)} ngày làm việc" if d["state"] == "drafted" else
                 f"đã ban hành số {d['number']} ngày {dt.date.fromisoformat(d['issued_on']):%d/%m/%Y}")
        print(f"#{d['id']}  {d['plan_id']}  {STAGE_WORDS[d['stage']]}  ngày {dt.date.fromisoformat(d['day']):%d/%m/%Y}"
              f"  {len(units)} đơn vị ({', '.join(units[:4])}{', …' if len(units) > 4 else ''})  {state}")
        if d["pdf_path"] or d["docx_path"]:
            print(f"     {d['pdf_path'] or d['docx_path']}")
    return 0


def cmd_issue(args, settings) -> int:
    """Register a draft as issued (number, date, the signed PDF); with --send, send it now."""
    from dondoc.desk import DeskError, issue_draft
    try:
        done = issue_draft(settings, args.today, args.draft, args.number, args.date, args.signed, args.send)
    except DeskError as e:
        print(e, file=sys.stderr)
        return 1
    doc = done.doc
    try:   # who registered it, in the event log, as the desk records its clerk
        who = getpass.getuser()
    except (KeyError, OSError):   # a user id without a name (some containers)
        who = "?"
    _ledger(settings).log("desk", str(doc["id"]), action="issue", by=f"{who} (dòng lệnh)", number=doc["number"],
                          issued_on=args.date, sent=done.sent)
    for w in done.warnings:
        print(f"cảnh báo: {w}", file=sys.stderr)
    print(f"Đã đăng ký dự thảo số {doc['id']}: văn bản số {doc['number']} ngày {args.date:%d/%m/%Y}, tệp gửi "
          f"{doc['pdf_path']}; {done.released} thư chờ gửi.")
    if not args.send:
        print("Lần chạy tới (dondoc run dispatch hoặc escalate) sẽ gửi; gửi ngay: thêm --send.")
        return 0
    print(f"Đã gửi {done.sent} thư.")
    if done.problem:
        print(f"issue --send: {done.problem}", file=sys.stderr)
    return 1 if done.problem else 0


def _plan_option(s) -> None:
    s.add_argument("--plan", action="append", metavar="MÃ",
                   help="chỉ kế hoạch này (lặp lại được; mặc định: mọi kế hoạch)")


def _web_options(s) -> None:
    s.add_argument("--web-port", type=int, metavar="CỔNG", help="cổng của trang web (mặc định 8080)")
    s.add_argument("--web-host", metavar="ĐỊA-CHỈ",
                   help="địa chỉ nghe (mặc định 127.0.0.1; địa chỉ khác: phải đăng nhập)")


# argparse's own words, as a clerk reads them.
ARGPARSE_WORDS = {
    "usage: ": "cách dùng: ",
    "positional arguments": "tham số",
    "options": "tùy chọn",
    "optional arguments": "tùy chọn",
    "show this help message and exit": "hiện trợ giúp này rồi thoát",
    "%(prog)s: error: %(message)s\n": "%(prog)s: lỗi: %(message)s\n",
    "the following arguments are required: %s": "thiếu tham số bắt buộc: %s",
    "invalid choice: %(value)r (choose from %(choices)s)":
        "lựa chọn không hợp lệ: %(value)r (chọn một trong %(choices)s)",
    "unrecognized arguments: %s": "tham số không nhận ra: %s",
    "expected one argument": "cần một giá trị",
    "expected at most one argument": "cần nhiều nhất một giá trị",
    "expected at least one argument": "cần ít nhất một giá trị",
    "invalid %(type)s value: %(value)r": "giá trị không hợp lệ: %(value)r",
    "argument %(argument_name)s: %(message)s": "tham số %(argument_name)s: %(message)s",
    "ambiguous option: %(option)s could match %(matches)s": "tùy chọn mơ hồ: %(option)s có thể là %(matches)s",
    "not allowed with argument %s": "không dùng cùng với %s",
    "ignored explicit argument %r": "bỏ qua giá trị %r",
    "one of the arguments %s is required": "cần một trong các tham số %s",
}


def build_parser() -> argparse.ArgumentParser:
    # argparse looks its own words ("usage", "options", …) up through its module's `_`
    setattr(argparse, "_", lambda text: ARGPARSE_WORDS.get(text, text))  # noqa: B010
    p = argparse.ArgumentParser(prog="dondoc",
                                description="Đôn đốc: theo dõi, đôn đốc các báo cáo mà kế hoạch yêu cầu.")
    p.add_argument("--debug", action="store_true", help="khi có lỗi, in cả chi tiết kỹ thuật (traceback)")
    sub = p.add_subparsers(dest="command", required=True, title="lệnh")
    today: dict[str, Any] = {"type": _date, "help": "ngày xét (DD/MM/YYYY hoặc YYYY-MM-DD; mặc định: hôm nay)"}
    s = sub.add_parser("validate", help="kiểm tra các tệp kế hoạch; lỗi dạng TỆP:DÒNG:CỘT: trường: thông báo")
    s.add_argument("file", nargs="?", type=Path, metavar="TỆP",
                   help="chỉ kiểm tra tệp này (mặc định: mọi tệp kế hoạch)")
    s.add_argument("--today", **today)
    s.set_defaults(func=cmd_validate)
    s = sub.add_parser("plan", help="việc sẽ làm vào một ngày (không làm); đổi tên kế hoạch, nhiệm vụ trong sổ cái")
    s.add_argument("action", nargs="?", choices=["rename-plan", "rename-task", "retire-task"],
                   help="đổi mã kế hoạch, đổi mã nhiệm vụ, ghi nhiệm vụ đã bỏ (bỏ trống: xem việc sẽ làm)")
    s.add_argument("old", nargs="?", metavar="MÃ-CŨ", help="mã cũ")
    s.add_argument("new", nargs="?", metavar="MÃ-MỚI", help="mã mới")
    s.add_argument("--today", **today)
    s.add_argument("--json", action="store_true", help="in dạng JSON")
    _plan_option(s)
    s.set_defaults(func=cmd_plan)
    s = sub.add_parser("status", help="tình hình từng đơn vị, nhiệm vụ, kỳ báo cáo")
    s.add_argument("--today", **today)
    s.add_argument("--json", action="store_true", help="in dạng JSON")
    s.add_argument("--html", type=Path, metavar="TỆP", help="ghi trang tình hình báo cáo để xem bằng trình duyệt")
    _plan_option(s)
    s.set_defaults(func=cmd_status)
    s = sub.add_parser("preview", help="ghi mọi thư đến hạn vào một ngày (.eml và .docx); không gửi")
    s.add_argument("--today", **today)
    s.add_argument("--out", type=Path, required=True, metavar="THƯ-MỤC", help="thư mục ghi thư")
    _plan_option(s)
    s.set_defaults(func=cmd_preview)
    s = sub.add_parser("triage", help="thư chờ phân loại: xem (show), ghi nhận (assign), bỏ qua (dismiss), "
                                      "hoàn tác (undo)")
    s.add_argument("action", nargs="?", choices=["show", "assign", "dismiss", "undo"],
                   help="xem, ghi nhận, bỏ qua, hoàn tác (bỏ trống: danh sách thư chờ)")
    s.add_argument("number", nargs="?", type=int, metavar="SỐ", help="số # mà `dondoc triage` hiện")
    s.add_argument("--yes", action="store_true", help="assign: nhận đúng gợi ý đang hiện")
    s.add_argument("--eml", type=Path, metavar="TỆP", help="show: lưu thư gốc ra tệp .eml (mở bằng trình đọc thư)")
    s.add_argument("--unit", metavar="ĐƠN-VỊ", help="mã đơn vị")
    s.add_argument("--task", metavar="NHIỆM-VỤ", help="mã nhiệm vụ")
    s.add_argument("--period", help="kỳ báo cáo: 2026, 2026-H1, 2026-Q3, 2026-10 (mặc định: theo ngày nhận)")
    s.add_argument("--year", type=int, help=argparse.SUPPRESS)
    s.add_argument("--reason", default="", help="lý do: ghi vào nhật ký")
    s.add_argument("--today", **today)
    _plan_option(s)
    s.set_defaults(func=cmd_triage)
    s = sub.add_parser("record", help="ghi nhận báo cáo nhận bằng giấy hoặc qua hệ thống văn bản")
    s.add_argument("--unit", required=True, metavar="ĐƠN-VỊ", help="mã đơn vị")
    s.add_argument("--task", required=True, metavar="NHIỆM-VỤ", help="mã nhiệm vụ")
    s.add_argument("--date", type=_date, help="ngày nhận (mặc định: hôm nay)")
    s.add_argument("--period", help="kỳ báo cáo (mặc định: kỳ của ngày nhận)")
    s.add_argument("--year", type=int, help=argparse.SUPPRESS)
    s.add_argument("--file", type=Path, help="bản chụp hoặc tệp báo cáo, lưu kèm")
    s.add_argument("--note", help="ghi chú lưu kèm")
    s.add_argument("--replace", action="store_true", help="thay báo cáo đã ghi nhận trước (bản cũ vẫn được lưu)")
    s.add_argument("--today", **today)
    _plan_option(s)
    s.set_defaults(func=cmd_record)
    s = sub.add_parser("check-format", help="kiểm tra thể thức tệp .docx theo Nghị định 30/2020/NĐ-CP")
    s.add_argument("files", nargs="+", type=Path, metavar="TỆP", help="các tệp .docx cần kiểm tra")
    s.add_argument("--pdf", action="store_true", help="in thử bằng LibreOffice và kiểm tra cả các trang in")
    s.set_defaults(func=cmd_check_format)
    s = sub.add_parser("demo", help="chạy thử cả năm của các kế hoạch mẫu, không cần mạng")
    s.add_argument("--out", type=Path, default=Path("var/demo"), help="thư mục kết quả (được làm trống trước)")
    s.add_argument("--year", type=int, default=dt.date.today().year, help="năm chạy thử")
    s.set_defaults(func=cmd_demo)
    s = sub.add_parser("serve", help="chạy mọi luồng theo lịch và trang web (tự khởi động máy chủ Prefect nếu cần)")
    _web_options(s)
    s.add_argument("--pool", metavar="TÊN", help="đăng ký các luồng vào work pool này (tạo nếu chưa có) để các máy "
                   "chạy `prefect worker start --pool TÊN` thực hiện, thay vì tự chạy")
    s.set_defaults(func=cmd_serve)
    s = sub.add_parser("web", help="chỉ chạy trang web cho văn phòng (không chạy lịch)")
    _web_options(s)
    s.add_argument("--today", **today)
    s.add_argument("--add-account", metavar="TÊN", help="tạo (hoặc đổi mật khẩu) tài khoản đăng nhập trang web")
    s.set_defaults(func=cmd_web)
    s = sub.add_parser("run", help="chạy một luồng ngay")
    s.add_argument("stage", choices=["dispatch", "collect", "escalate", "report"],
                   help="gửi đề nghị, nhắc (dispatch); đọc thư trả lời (collect); đôn đốc, báo cáo lãnh đạo "
                        "(escalate); lập báo cáo (report)")
    s.add_argument("--today", **today)
    s.add_argument("--period", help="report: kỳ báo cáo cần lập, ví dụ 2026-Q4 (mặc định: kỳ đến ngày tổng hợp)")
    s.add_argument("--year", type=int, help=argparse.SUPPRESS)
    s.add_argument("--resend", action="store_true", help="report: gửi lại báo cáo đã lập")
    s.add_argument("--i-know-the-ledger-is-new", action="store_true",
                   help="gửi dù thư mục DONDOC_OUT có thư của một sổ cái khác (sổ cái mới thật)")
    _plan_option(s)
    s.set_defaults(func=cmd_run)
    s = sub.add_parser("drafts", help="các dự thảo công văn chờ ký (số, giai đoạn, ngày, đơn vị, tình trạng)")
    s.add_argument("--all", action="store_true", help="cả văn bản đã ban hành")
    s.add_argument("--json", action="store_true")
    s.add_argument("--today", **today)
    _plan_option(s)
    s.set_defaults(func=cmd_drafts)
    s = sub.add_parser("issue", help="đăng ký dự thảo đã ký: số, ngày ban hành, bản PDF đã ký số")
    s.add_argument("draft", type=int, help="số dự thảo (xem `dondoc drafts`)")
    s.add_argument("--number", required=True, help="số, ký hiệu văn bản, ví dụ 123/STTTT-TTBCXB")
    s.add_argument("--date", type=_date, required=True, help="ngày ban hành, DD/MM/YYYY")
    s.add_argument("--signed", type=Path, metavar="TỆP.pdf", help="bản PDF đã ký số: đơn vị nhận đúng tệp này")
    s.add_argument("--send", action="store_true", help="gửi ngay cho các đơn vị")
    s.add_argument("--today", **today)
    s.set_defaults(func=cmd_issue)
    s = sub.add_parser("resend", help="đưa thư máy chủ thư đã từ chối trở lại hàng chờ cho lần chạy tới")
    s.add_argument("--failed", action="store_true", required=True, help="các thư bị từ chối hẳn (gửi thất bại)")
    s.add_argument("--unit", help="chỉ thư của đơn vị này")
    _plan_option(s)
    s.set_defaults(func=cmd_resend)
    names = {"today": "NGÀY", "date": "NGÀY", "period": "KỲ", "file": "TỆP", "note": "GHI-CHÚ", "out": "THƯ-MỤC",
             "year": "NĂM", "reason": "LÝ-DO", "unit": "ĐƠN-VỊ", "task": "NHIỆM-VỤ"}
    for command in sub.choices.values():   # the value each option takes, named in Vietnamese
        for action in command._actions:
            if action.metavar is None and action.option_strings and action.nargs != 0:
                action.metavar = names.get(action.dest, action.dest.upper())
    return p


def explain(exc: BaseException, settings=None) -> str:
    """One line for a failure a user can cause: what happened and what to do."""
    import errno
    import imaplib
    import socket
    import sqlite3

    from pydantic import ValidationError

    from dondoc.desk import DeskError
    from dondoc.settings import SettingsMissing
    from dondoc.smtp import DeliveryError
    db = getattr(settings, "db", "var/dondoc.db")
    if isinstance(exc, (DeskError, DeliveryError, SettingsMissing)):
        return str(exc)
    if isinstance(exc, ValidationError):
        fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
        return f"cài đặt không hợp lệ ({fields}): sửa biến môi trường DONDOC_… hoặc tệp .env"
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return f"sổ cái {db} đang bị một tiến trình khác giữ: đợi lần chạy kia xong rồi chạy lại"
    if isinstance(exc, sqlite3.OperationalError) and "readonly" in str(exc):
        return f"sổ cái {db} chỉ đọc được: cấp quyền ghi cho tệp và thư mục chứa nó"
    if isinstance(exc, sqlite3.OperationalError) and "unable to open" in str(exc):
        return f"không mở được sổ cái {db}: kiểm tra đường dẫn DONDOC_DB (phải là một tệp) và quyền ghi"
    if isinstance(exc, sqlite3.OperationalError) and ("full" in str(exc) or "disk I/O" in str(exc)):
        return (f"không ghi được vào sổ cái {db} ({exc}): ổ đĩa đầy hoặc lỗi ghi; giải phóng chỗ trống, kiểm tra "
                "ổ đĩa rồi chạy lại (những gì đã ghi vẫn còn, lần chạy sau làm tiếp)")
    if isinstance(exc, sqlite3.DatabaseError):
        return (f"không dùng được sổ cái {db} ({exc}): tệp hỏng hoặc không phải sổ cái dondoc; khôi phục từ bản "
                "sao lưu hoặc đặt DONDOC_DB tới tệp đúng")
    if isinstance(exc, imaplib.IMAP4.error):
        return f"máy chủ IMAP từ chối ({exc}): kiểm tra DONDOC_IMAP_USERNAME, DONDOC_IMAP_PASSWORD"
    if isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror, socket.timeout)):
        return (f"không kết nối được máy chủ thư ({exc}): kiểm tra máy chủ đang chạy và DONDOC_SMTP_HOST/PORT, "
                "DONDOC_IMAP_HOST/PORT")
    if isinstance(exc, OSError):
        name = f" {exc.filename}" if exc.filename else ""
        words = {errno.ENOSPC: f"ổ đĩa đã đầy khi ghi{name}: giải phóng chỗ trống rồi chạy lại",
                 errno.EFBIG: f"tệp{name} vượt giới hạn dung lượng khi ghi: giải phóng chỗ trống rồi chạy lại",
                 errno.ENOENT: f"không có tệp hoặc thư mục{name}: kiểm tra đường dẫn",
                 errno.EACCES: f"không có quyền với{name}: kiểm tra quyền đọc, ghi",
                 errno.EPERM: f"không có quyền với{name}: kiểm tra quyền đọc, ghi",
                 errno.EROFS: f"ổ đĩa chỉ đọc khi ghi{name}: chọn thư mục ghi được",
                 errno.EISDIR: f"{name.strip()} là thư mục, cần một tệp",
                 errno.ENOTDIR: f"đường dẫn{name} có phần không phải thư mục: kiểm tra đường dẫn",
                 errno.EADDRINUSE: f"cổng đã có chương trình khác dùng: chọn cổng khác ({exc})"}
        return words.get(exc.errno or 0, f"lỗi hệ thống{name}: {exc.strerror or exc}")
    return (f"lỗi không lường trước ({type(exc).__name__}: {exc}); chạy lại với --debug để xem chi tiết "
            "và gửi cho người quản trị")


def main(argv: list[str] | None = None) -> int:
    import signal
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)   # `dondoc status | head` ends quietly
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv            # anywhere on the line, before or after the command
    args = build_parser().parse_args([a for a in argv if a != "--debug"])
    args.debug = debug
    settings = None
    try:
        from dondoc.settings import Settings
        settings = Settings()
        return args.func(args, settings)
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        from models.loader import PlanInvalid
        if debug:
            raise
        if isinstance(e, PlanInvalid):
            print(e, file=sys.stderr)
            print(f"{len(e.errors)} lỗi", file=sys.stderr)
        else:
            print(f"dondoc {args.command}: {explain(e, settings)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
