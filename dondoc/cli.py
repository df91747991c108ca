"""The `dondoc` command. Reads the clock and the settings once, here, and passes them down.

Read-only commands (validate, plan, status) never import Prefect, so they answer fast."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _today(args) -> dt.date:
    return args.today or dt.datetime.now(TZ).date()


def _load(path: Path):
    from dondoc.runtime import read_plan
    from models.loader import PlanInvalid
    try:
        return read_plan(path)
    except OSError as e:
        sys.exit(f"{path}: cannot read the plan: {e.strerror}")
    except PlanInvalid as e:
        print(e, file=sys.stderr)
        print(f"{len(e.errors)} error(s) in {path}", file=sys.stderr)
        sys.exit(1)


def _runtime(args, settings):
    from dondoc.runtime import open_runtime
    _load(settings.config)   # a bad plan exits here with its errors
    return open_runtime(args.today, settings)


def _ledger(settings):
    from dondoc.ledger import Ledger
    return Ledger(settings.db)


def cmd_validate(args, settings) -> int:
    from models.calendar import BusinessCalendar
    from models.rules import cycle
    plan = _load(args.file or settings.config)
    cal = BusinessCalendar(plan.calendar)
    year = _today(args).year
    print(f"{args.file or settings.config}: OK ({plan.plan.id}, hash {plan.digest})")
    print(f"  {len(plan.units)} units in {len(plan.groups)} groups, {len(plan.tasks)} tasks, "
          f"{len(plan.indicators)} indicators")
    for g in plan.groups:
        print(f"  group {g.id}: {sum(u.group == g.id for u in plan.units)} units — {g.name}")
    for t in plan.tasks:
        c = cycle(plan, cal, t, year)
        print(f"  task {t.id}: {len(plan.units_of(t))} units, {len(t.exempt)} exempt, "
              f"due before {c.deadline:%d/%m/%Y}, first request {c.request_on:%d/%m/%Y}, "
              f"closes {c.closes_on:%d/%m/%Y}")
    return 0


def cmd_plan(args, settings) -> int:
    from models.rules import STAGE_WORDS, due_actions
    plan = _load(settings.config)
    today = _today(args)
    actions = due_actions(plan, _ledger(settings).state(plan.plan.id), today)
    if args.json:
        json.dump([{"key": a.key, "stage": a.stage, "task": a.task_id, "unit": a.unit_id,
                    "year": a.year, "seq": a.seq, "scheduled_on": a.scheduled_on.isoformat(),
                    "deadline": a.deadline.isoformat() if a.deadline else None,
                    "to": list(a.to), "cc": list(a.cc), "units": list(a.units),
                    "plan_hash": a.plan_hash} for a in actions],
                  sys.stdout, ensure_ascii=False, indent=2)
        print()
        return 0
    if not actions:
        print(f"{today:%d/%m/%Y}: không có việc cần làm.")
    for a in actions:
        who = a.unit_id or ", ".join(a.units) or "-"
        print(f"{today:%d/%m/%Y}  {STAGE_WORDS[a.stage]:<22} {a.task_id or '-':<24} {who}  → {', '.join(a.to)}"
              + (f" (cc {', '.join(a.cc)})" if a.cc else ""))
    return 0


def cmd_status(args, settings) -> int:
    from models.status import WORDS, counts, status_rows
    plan = _load(settings.config)
    ledger = _ledger(settings)
    pid = plan.plan.id
    rows = status_rows(plan, ledger.state(pid), _today(args), ledger.sent_by_cycle(pid))
    failed = ledger.outbound(pid, "failed") + ledger.outbound(pid, "bounced")
    triage = len(ledger.inbound("triage"))
    if args.html:
        _status_html(plan, rows, _today(args), args.html)
        print(f"{args.html}")
        return 0
    if args.json:
        json.dump({"today": _today(args).isoformat(), "counts": counts(rows),
                   "rows": [{"year": r.year, "task": r.task_id, "unit": r.unit_id, "unit_name": r.unit_name,
                             "deadline": r.deadline.isoformat(), "status": r.status, "status_text": r.word,
                             "reported_on": r.reported_on.isoformat() if r.reported_on else None,
                             "sent": [{"stage": s, "on": d.isoformat(), "status": st} for s, d, st in r.sent]}
                            for r in rows],
                   "failed": [{"key": f["key"], "status": f["status"], "to": json.loads(f["to_addrs"]),
                               "error": f["last_error"]} for f in failed],
                   "triage": triage},
                  sys.stdout, ensure_ascii=False, indent=2)
        print()
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    from models.rules import STAGE_WORDS
    table = Table(title=f"Tình hình báo cáo — {plan.plan.id} — ngày {_today(args):%d/%m/%Y}")
    for col in ("Năm", "Nhiệm vụ", "Đơn vị", "Hạn", "Đã gửi", "Tình trạng", "Ngày nhận"):
        table.add_column(col)
    for r in rows:
        sent = "; ".join(f"{STAGE_WORDS[s]} {d:%d/%m}" + ("" if st == "sent" else f" ({st})")
                         for s, d, st in r.sent)
        table.add_row(str(r.year), r.task_id, escape(r.unit_name), f"{r.deadline:%d/%m/%Y}", sent, r.word,
                      f"{r.reported_on:%d/%m/%Y}" if r.reported_on else "")
    console = Console(width=None if sys.stdout.isatty() else 200)  # a pipe gets unwrapped rows
    console.print(table)
    console.print("  ".join(f"{WORDS[k]}: {v}" for k, v in counts(rows).items()))
    for f in failed:
        what = "Thư bị trả lại" if f["status"] == "bounced" else "Gửi thất bại"
        console.print(f"[red]{what}[/red] {escape(f['key'])} → {', '.join(json.loads(f['to_addrs']))}: "
                      f"{escape(f['last_error'] or '')}", soft_wrap=True)
    if triage:
        console.print(f"Thư chờ phân loại: {triage} (dondoc triage)")
    return 0


def _status_html(plan, rows, today, path: Path) -> None:
    """A one-page status report for a browser: per task a bar of the status words, per unit
    what was sent and received. Values are escaped (autoescape)."""
    from jinja2 import Environment, FileSystemLoader
    from dondoc.render import SHIPPED
    from models.rules import STAGE_WORDS
    from models.status import WORDS, counts
    tasks = []
    for (year, task_id) in dict.fromkeys((r.year, r.task_id) for r in rows):
        mine = [r for r in rows if (r.year, r.task_id) == (year, task_id)]
        tasks.append({"year": year, "id": task_id, "title": plan.task(task_id).title.replace("{year}", str(year)),
                      "deadline": f"{mine[0].deadline:%d/%m/%Y}", "counts": counts(mine), "total": len(mine)})
    env = Environment(loader=FileSystemLoader(str(SHIPPED)), autoescape=True)
    html = env.get_template("status.html.j2").render(
        plan=plan, today=f"{today:%d/%m/%Y}", words=WORDS, counts=counts(rows), tasks=tasks,
        rows=[{"unit_name": r.unit_name, "task_id": r.task_id, "year": r.year, "status": r.status, "word": r.word,
               "received": f"{r.reported_on:%d/%m/%Y}" if r.reported_on else "",
               "sent": [f"{STAGE_WORDS[s]} {d:%d/%m}" + ("" if st == "sent" else f" ({st})") for s, d, st in r.sent]}
              for r in rows])
    path.write_text(html, encoding="utf-8")


def cmd_preview(args, settings) -> int:
    from dondoc.ledger import action_row
    from dondoc.outbox import letters, mail_domain
    from models.rules import due_actions
    rt = _runtime(args, settings)
    actions = [a for a in due_actions(rt.plan, rt.ledger.state(rt.plan.plan.id), rt.today, rt.cal)
               if a.stage != "compile"]
    domain = mail_domain(rt.plan)
    rows = [action_row(a, rt.today, f"<preview.{i}.{a.stage}@{domain}>",
                       rt.ledger.thread_of(a.key) if a.unit_id and a.stage != "request" else None)
            for i, a in enumerate(actions)]
    out = args.out
    for letter in letters(rt.plan, rt.ledger, rows, rt.templates, rt.cal, rt.mail_from, rt.now):
        path = out / letter.relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(letter.docx)
        path.with_suffix(".eml").write_bytes(letter.data)
    print(f"{len(rows)} thư (.eml và .docx) cho ngày {rt.today:%d/%m/%Y} trong {out}; không gửi thư nào.")
    return 0


def cmd_check_format(args, settings) -> int:
    from dondoc.ndformat import check
    failed = 0
    for path in args.files:
        breaches = check(path)
        failed += bool(breaches)
        print(f"{path}: {'OK' if not breaches else f'{len(breaches)} lỗi thể thức'}")
        for b in breaches:
            print(f"  - {b}")
    return 1 if failed else 0


def cmd_triage(args, settings) -> int:
    from dondoc.collector import assign
    from models.inbound import Limits
    plan = _load(settings.config)
    ledger = _ledger(settings)
    waiting = {r["rowid"]: r for r in ledger.inbound("triage")}
    if args.action is None:
        if not waiting:
            print("Không có thư nào chờ phân loại.")
        for n, r in waiting.items():
            guess = " / ".join(filter(None, [r["unit_id"], r["task_id"], str(r["year"] or "")]))
            print(f"#{n}  {r['received_on'] or '?'}  {r['from_addr'] or '?'}  {r['subject'] or ''}\n"
                  f"     lý do: {r['reason']}" + (f"\n     gợi ý: {guess}" if guess else ""))
        return 0
    if args.number is None or (args.action == "assign" and not (args.unit and args.task)) or not args.reason:
        sys.exit("usage: dondoc triage assign N --unit U --task T --reason WHY | dismiss N --reason WHY")
    row = waiting.get(args.number)
    if row is None:
        sys.exit(f"#{args.number} is not waiting in triage (see `dondoc triage`)")
    if args.action == "dismiss":
        ledger.update_inbound(row["id"], status="dismissed", reason=f"bỏ qua: {args.reason}")
        ledger.log("triage-dismiss", row["id"], reason=args.reason)
        print(f"#{args.number}: đã bỏ qua ({args.reason}).")
        return 0
    _check_unit_task(plan, args.unit, args.task)
    year = args.year or int((row["received_on"] or _today(args).isoformat())[:4])
    new = assign(plan, ledger, settings.data, Limits(max_bytes=settings.max_attachment_mb << 20), row, year,
                 args.task, args.unit, args.reason)
    print(f"#{args.number}: ghi nhận là báo cáo của {plan.unit(args.unit).name} ({args.task}, {year})"
          + ("" if new else "; đơn vị đã có báo cáo trước đó, thư được lưu kèm") + ".")
    return 0


def _check_unit_task(plan, unit: str, task: str) -> None:
    if not plan.has_unit(unit):
        sys.exit(f"unknown unit {unit!r}: see the units of {plan.plan.id}")
    if task not in {t.id for t in plan.tasks}:
        sys.exit(f"unknown task {task!r}: one of {', '.join(t.id for t in plan.tasks)}")


def cmd_record(args, settings) -> int:
    plan = _load(settings.config)
    _check_unit_task(plan, args.unit, args.task)
    day = args.date or _today(args)
    year = args.year or day.year
    files = []
    if args.file:
        from dondoc.archive import save_attachment
        folder = settings.data / "attachments" / plan.plan.id / str(year) / args.task / args.unit
        files.append(str(save_attachment(folder, args.file.name, args.file.read_bytes())))
    ledger = _ledger(settings)
    new = ledger.record_report(plan.plan.id, year, args.task, args.unit, day, source="paper", files=files,
                               note=args.note or "")
    if not new:
        print(f"{plan.unit(args.unit).name} đã có báo cáo cho {args.task} năm {year}; không ghi thêm.")
        return 1
    print(f"Đã ghi nhận báo cáo của {plan.unit(args.unit).name} ({args.task}, {year}) nhận ngày {day:%d/%m/%Y}"
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


def cmd_run(args, settings) -> int:
    import asyncio
    import importlib
    _load(settings.config)
    _prefect_env(settings)
    flow = getattr(importlib.import_module(f"flows.{args.stage}"), args.stage)
    from dondoc.smtp import DeliveryError
    extra = {"year": args.year, "resend": args.resend} if args.stage == "report" else {}
    try:
        summary = asyncio.run(flow(today=args.today, **extra))
    except DeliveryError as e:
        print(f"{args.stage}: {e}", file=sys.stderr)   # the error says what to do
        return 1
    print(json.dumps(summary, ensure_ascii=False))
    return 0


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
    plan = _load(settings.config)
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    console = Console()
    console.print(f"[bold]dondoc demo[/bold]: {plan.plan.id}, năm {args.year}, {len(plan.units)} đơn vị; "
                  f"thư và báo cáo trong {out}")
    start = time.monotonic()
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed} ngày"),
                  TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("khởi động Prefect…", total=None)
        result = demo.run(out, args.year, lambda day, n: bar.update(
            task, completed=n, description=f"ngày {day:%d/%m/%Y}"))
    args.today, args.json, args.html = demo.compile_day(plan, demo.BusinessCalendar(plan.calendar), args.year), False, None
    cmd_status(args, settings)
    console.print(f"\nĐã gửi {result['sent']} thư; báo cáo lãnh đạo:")
    from rich.markup import escape
    for subject in result["escalations"]:
        console.print(f"  - {escape(subject)}", soft_wrap=True)
    console.print(f"\nThư đã gửi (.docx): {result['letters']}")
    for f in result.get("files", []):
        console.print(f"Báo cáo: {f}")
    console.print(f"({time.monotonic() - start:.0f} giây)")
    return 0


def cmd_serve(args, settings) -> int:
    plan = _load(settings.config)
    _prefect_env(settings)
    from dondoc.serve import serve
    import os
    serve(plan, Path(os.environ["PREFECT_HOME"]))
    return 0


def cmd_resend(args, settings) -> int:
    """Put the letters a server refused for good back in the queue; the next run sends them."""
    plan_id = args.plan or _load(settings.config).plan.id
    keys = _ledger(settings).resend_failed(plan_id, args.unit)
    who = f" của {args.unit}" if args.unit else ""
    if not keys:
        print(f"Không có thư bị từ chối nào{who} trong {plan_id}.")
        return 0
    print(f"Đã đưa {len(keys)} thư bị từ chối{who} trở lại hàng chờ; lần chạy tới (dondoc run dispatch / "
          "escalate) sẽ gửi lại, cùng Message-ID.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dondoc", description="Đôn đốc: track the reports a plan asks for.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("validate", help="check the plan file; errors as FILE:LINE:COL: field: message")
    s.add_argument("file", nargs="?", type=Path)
    s.add_argument("--today", type=_date, help="the year whose deadlines the summary shows")
    s.set_defaults(func=cmd_validate)
    s = sub.add_parser("plan", help="what would be sent or escalated on a date, without doing it")
    s.add_argument("--today", type=_date, help="the date to plan for (default: today in Asia/Ho_Chi_Minh)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_plan)
    s = sub.add_parser("status", help="each unit and task: what was sent, what came back")
    s.add_argument("--today", type=_date)
    s.add_argument("--json", action="store_true")
    s.add_argument("--html", type=Path, metavar="FILE", help="write a one-page status report for a browser")
    s.set_defaults(func=cmd_status)
    s = sub.add_parser("preview", help="write every letter due on a date as .eml and .docx; send nothing")
    s.add_argument("--today", type=_date)
    s.add_argument("--out", type=Path, required=True)
    s.set_defaults(func=cmd_preview)
    s = sub.add_parser("triage", help="list the replies waiting for a person; assign or dismiss one")
    s.add_argument("action", nargs="?", choices=["assign", "dismiss"])
    s.add_argument("number", nargs="?", type=int, help="the #number `dondoc triage` shows")
    s.add_argument("--unit")
    s.add_argument("--task")
    s.add_argument("--year", type=int)
    s.add_argument("--reason", default="", help="why: written to the event log")
    s.add_argument("--today", type=_date)
    s.set_defaults(func=cmd_triage)
    s = sub.add_parser("record", help="record a report that came on paper or through the document system")
    s.add_argument("--unit", required=True)
    s.add_argument("--task", required=True)
    s.add_argument("--date", type=_date, help="the day it was received (default: today)")
    s.add_argument("--year", type=int, help="the cycle (default: the year of --date)")
    s.add_argument("--file", type=Path, help="a scan or file of the report, kept with it")
    s.add_argument("--note", help="a note kept with the report")
    s.add_argument("--today", type=_date)
    s.set_defaults(func=cmd_record)
    s = sub.add_parser("check-format", help="check .docx files against the Decree 30 layout rules")
    s.add_argument("files", nargs="+", type=Path)
    s.set_defaults(func=cmd_check_format)
    s = sub.add_parser("demo", help="the whole cycle of the shipped plan, offline, with real flows")
    s.add_argument("--out", type=Path, default=Path("var/demo"), help="where everything goes (emptied first)")
    s.add_argument("--year", type=int, default=dt.date.today().year, help="the cycle to play")
    s.set_defaults(func=cmd_demo)
    s = sub.add_parser("serve", help="run every flow on its schedule (starts a local Prefect server if needed)")
    s.set_defaults(func=cmd_serve)
    s = sub.add_parser("run", help="run one flow now")
    s.add_argument("stage", choices=["dispatch", "collect", "escalate", "report"])
    s.add_argument("--today", type=_date, help="replay this date (default: today in Asia/Ho_Chi_Minh)")
    s.add_argument("--year", type=int, help="report: the cycle to report (default: the last one compiled)")
    s.add_argument("--resend", action="store_true", help="report: email the rebuilt report again")
    s.set_defaults(func=cmd_run)
    s = sub.add_parser("resend", help="put letters the mail server refused back in the queue for the next run")
    s.add_argument("--failed", action="store_true", required=True, help="the letters refused for good (failed)")
    s.add_argument("--unit", help="only this unit's letters")
    s.add_argument("--plan", help="the plan id (default: the plan of DONDOC_CONFIG)")
    s.set_defaults(func=cmd_resend)
    return p


def main(argv: list[str] | None = None) -> int:
    import signal
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)   # `dondoc status | head` ends quietly
    args = build_parser().parse_args(argv)
    from dondoc.settings import Settings
    return args.func(args, Settings())


if __name__ == "__main__":
    sys.exit(main())
