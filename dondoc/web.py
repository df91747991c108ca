"""The clerk's desk: a Vietnamese web page to see the season and act on it. `app(settings)` is
the FastAPI application (server-rendered Jinja2 pages from templates/web/, plain forms, no
JavaScript); `dondoc web` and `dondoc serve` run it with uvicorn.

Security. On a loopback address the visitor is the person logged in on this machine (no
login), and a request naming another host is refused (DNS rebinding). Bound elsewhere, every
page asks for a login against the accounts file (`settings.web_accounts`, outside the plan:
`name:scrypt$salt$hash` lines, written by `add_account`). The session is a cookie signed with
HMAC-SHA256 under a key made at start (HttpOnly, SameSite=Strict); every POST carries a CSRF
token derived from the session; every action is written to the ledger's event log (`desk`)
with who did it. Files are served only from under the data and output folders.

Side effects: the ledger, the data folder (uploaded scans and signed PDFs), the output folder
(an issued letter), SMTP (a reminder, or an issued letter, sent now).
"""
from __future__ import annotations

import base64
import datetime as dt
import getpass
import hashlib
import hmac
import io
import ipaddress
import json
import re
import secrets
import time
import unicodedata
from pathlib import Path
from urllib.parse import quote, unquote, urlencode
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader

from dondoc.desk import DeskError, issue_draft, pick_period, record_paper, remind_now, send_issued
from dondoc.settings import Settings

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "web"
SESSION, FLASH = "dondoc_session", "dondoc_flash"
SESSION_HOURS = 12
SCAN, SHEET, SIGNED = File(None), File(None), File(None)   # one each: FastAPI keeps a parameter's name in its File()
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# -- accounts ----------------------------------------------------------------------------
def hash_password(password: str, salt: bytes | None = None) -> str:
    """`scrypt$SALT$HASH` (hex) of a password: scrypt, n=2**14, r=8, p=1."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2 ** 14, r=8, p=1, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(stored: str, password: str) -> bool:
    try:
        kind, salt, _ = stored.split("$")
        return kind == "scrypt" and hmac.compare_digest(hash_password(password, bytes.fromhex(salt)), stored)
    except ValueError:
        return False


def read_accounts(path: Path) -> dict[str, str]:
    """name -> stored hash, from `name:scrypt$…` lines (# comments); none when the file is missing."""
    if not path.exists():
        return {}
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return dict(line.split(":", 1) for line in lines if line and not line.startswith("#") and ":" in line)


def add_account(path: Path, name: str, password: str) -> None:
    """Add or replace the account `name` (file created readable by its owner only)."""
    if not re.fullmatch(r"[\w.@-]{1,64}", name):
        raise DeskError(f"tên tài khoản {name!r} không hợp lệ: chỉ chữ, số, dấu chấm, gạch ngang")
    accounts = read_accounts(path) | {name: hash_password(password)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text("".join(f"{n}:{h}\n" for n, h in accounts.items()), encoding="utf-8")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# -- the application ---------------------------------------------------------------------
class _Login(Exception):
    """The page needs a logged-in person."""


def app(settings: Settings, today: dt.date | None = None) -> FastAPI:
    """The desk's application for `settings` (its plans, ledger, folders, web host). `today`:
    the day the pages and actions take as today (default: the real day in Asia/Ho_Chi_Minh)."""
    from dondoc.ledger import Ledger
    local = is_loopback(settings.web_host)
    key = secrets.token_bytes(32)
    local_user = f"{getpass.getuser()}@máy-này"
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True)
    env.filters["vn_date"] = _vn_date
    env.filters["inbound_word"] = lambda status: INBOUND_WORDS.get(status, status)
    env.filters["untemplated"] = lambda text: re.sub(r"\{\w+\}", "…", text)   # a plan title, its period not known
    web = FastAPI(title="dondoc", docs_url=None, redoc_url=None, openapi_url=None)

    def sign(data: dict) -> str:
        body = base64.urlsafe_b64encode(json.dumps(data).encode()).decode()
        return f"{body}.{hmac.new(key, body.encode(), 'sha256').hexdigest()}"

    def unsign(value: str | None) -> dict | None:
        body, _, mac = (value or "").partition(".")
        if not mac or not hmac.compare_digest(mac, hmac.new(key, body.encode(), "sha256").hexdigest()):
            return None
        data = json.loads(base64.urlsafe_b64decode(body))
        return data if data.get("exp", 0) > time.time() else None

    def csrf(session: dict) -> str:
        return hmac.new(key, f"csrf:{session['n']}".encode(), "sha256").hexdigest()

    def new_session(user: str) -> dict:
        return {"u": user, "n": secrets.token_hex(16), "exp": time.time() + SESSION_HOURS * 3600}

    def set_session(response: Response, session: dict) -> None:
        response.set_cookie(SESSION, sign(session), httponly=True, samesite="strict", path="/",
                            max_age=SESSION_HOURS * 3600)

    @web.middleware("http")
    async def guard(request: Request, call_next):
        host = (request.headers.get("host") or "").rsplit(":", 1)[0] if "]" not in (
            request.headers.get("host") or "") else request.headers["host"].split("]")[0] + "]"
        if local and not is_loopback(host):
            return HTMLResponse("Trang chỉ mở được từ chính máy này (127.0.0.1).", status_code=400)
        known = unsign(request.cookies.get(SESSION))
        session = known if known is not None else new_session(local_user if local else "")
        request.state.session = session
        response = await call_next(request)
        if known is None:
            set_session(response, session)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @web.exception_handler(_Login)
    async def to_login(request: Request, exc: _Login):
        return RedirectResponse("/login", status_code=303)

    @web.exception_handler(DeskError)
    async def desk_error(request: Request, exc: DeskError):
        back = request.headers.get("referer") or "/"
        return _flash(RedirectResponse(_same_site(back), status_code=303), f"Không thực hiện được: {exc}", "error")

    def viewer(request: Request) -> str:
        user = request.state.session["u"]
        if not user:
            raise _Login()
        return user

    async def poster(request: Request) -> str:
        """Who posts: a logged-in person whose form carries the session's CSRF token."""
        form = await request.form()
        session = request.state.session
        if not hmac.compare_digest(str(form.get("csrf", "")), csrf(session)):
            raise HTTPException(403, "Phiên làm việc đã hết hạn hoặc biểu mẫu không hợp lệ: tải lại trang rồi làm lại.")
        if not session["u"]:
            raise _Login()
        return session["u"]

    def ledger() -> Ledger:
        return Ledger(settings.db)

    def day() -> dt.date:
        return today or dt.datetime.now(TZ).date()

    def plans() -> dict:
        from dondoc.plans import read_plans
        return {p.plan.id: p for p in read_plans(settings.config)}

    def plan_of(plan_id: str):
        found = plans().get(plan_id)
        if found is None:
            raise HTTPException(404, f"không có kế hoạch {plan_id}")
        return found

    def page(request: Request, name: str, **ctx) -> HTMLResponse:
        message = request.cookies.get(FLASH)
        text, _, kind = unquote(message or "").rpartition("|")
        html = env.get_template(name).render(
            user=request.state.session["u"], csrf=csrf(request.state.session), today=day(), local=local,
            flash=text, flash_kind=kind, triage_count=len(ledger().inbound("triage")),
            drafts_count=len(ledger().documents(state="drafted")), **ctx)
        response = HTMLResponse(html)
        if message:
            response.delete_cookie(FLASH, path="/")
        return response

    def done(to: str, message: str, who: str, action: str, key: str = "", *, kind: str = "ok", **detail) -> Response:
        ledger().log("desk", key, action=action, by=who, **detail)
        return _flash(RedirectResponse(to, status_code=303), message, kind)

    # -- login -----------------------------------------------------------------------
    @web.get("/login", response_class=HTMLResponse)
    def login_page(request: Request):
        return page(request, "login.html.j2")

    @web.post("/login")
    async def login(request: Request):
        form = await request.form()
        if not hmac.compare_digest(str(form.get("csrf", "")), csrf(request.state.session)):
            raise HTTPException(403, "Biểu mẫu không hợp lệ: tải lại trang.")
        name, password = str(form.get("name", "")), str(form.get("password", ""))
        stored = read_accounts(settings.web_accounts).get(name)
        if stored is None or not check_password(stored, password):
            ledger().log("desk", "", action="login-failed", by=name)
            return _flash(RedirectResponse("/login", status_code=303), "Sai tên hoặc mật khẩu.", "error")
        response = RedirectResponse("/", status_code=303)
        set_session(response, new_session(name))     # a new nonce: no fixation of a pre-login session
        ledger().log("desk", "", action="login", by=name)
        return response

    @web.post("/logout")
    def logout(who: str = Depends(poster)):
        response = RedirectResponse("/login" if not local else "/", status_code=303)
        response.delete_cookie(SESSION, path="/")
        return response

    # -- overview --------------------------------------------------------------------
    @web.get("/", response_class=HTMLResponse)
    def overview(request: Request, plan: str = "", period: str = "", group: str = "", status: str = "",
                 who: str = Depends(viewer)):
        from models.status import WORDS
        every = plans()
        chosen = {pid: p for pid, p in every.items() if not plan or pid == plan}
        tasks, rows = _overview(chosen, ledger(), day())
        periods = sorted({t["period"] for t in tasks})
        groups = {g.id: g.name for p in chosen.values() for g in p.groups}
        rows = [r for r in rows if (not period or r["period"] == period) and (not group or r["group"] == group)
                and (not status or r["status"] == status)]
        tasks = [t for t in tasks if not period or t["period"] == period]
        from dondoc.digest import problems  # failures of runs and letters: the banner
        now = dt.datetime.now(TZ) if today is None else dt.datetime.combine(day(), dt.time(12), TZ)
        alerts = problems(list(every.values()), ledger(), None, now, settings.smtp_attempts)
        return page(request, "overview.html.j2", alerts=alerts, plans=every, words=WORDS, tasks=tasks, rows=rows,
                    periods=periods,
                    groups=groups, chosen={"plan": plan, "period": period, "group": group, "status": status},
                    export=f"/export.xlsx?{urlencode({'plan': plan})}" if plan else "/export.xlsx")

    # -- a unit ----------------------------------------------------------------------
    @web.get("/unit/{plan_id}/{unit_id}", response_class=HTMLResponse)
    def unit_page(request: Request, plan_id: str, unit_id: str, who: str = Depends(viewer)):
        from models.rules import STAGE_WORDS, STATE_WORDS
        plan = plan_of(plan_id)
        if not plan.has_unit(unit_id):
            raise HTTPException(404, f"không có đơn vị {unit_id}")
        led = ledger()
        _, rows = _overview({plan_id: plan}, led, day())
        mine = [r for r in rows if r["unit_id"] == unit_id]
        docs = {d["id"]: d for d in led.documents(plan_id)}
        letters = [{**r, "word": STAGE_WORDS.get(r["stage"], r["stage"]), "doc": docs.get(r["document_id"]),
                    "state": STATE_WORDS.get(r["status"], r["status"])} for r in led.unit_outbound(plan_id, unit_id)]
        replies = [{**r, "files": [a for a in json.loads(r["attachments"] or "[]") if isinstance(a, dict)]}
                   for r in led.unit_inbound(plan_id, unit_id)]
        reports = [{**r, "files": json.loads(r["files"] or "[]")} for r in led.unit_reports(plan_id, unit_id)]
        unit = plan.unit(unit_id)
        return page(request, "unit.html.j2", plan=plan, unit=unit, rows=mine, letters=letters, replies=replies,
                    group=next((g.name for g in plan.groups if g.id == unit.group), unit.group), reports=reports,
                    notes=led.notes(plan_id, unit_id), extensions=led.extensions(plan_id, unit_id))

    @web.post("/unit/{plan_id}/{unit_id}/note")
    def add_note(plan_id: str, unit_id: str, text: str = Form(...), who: str = Depends(poster)):
        plan_of(plan_id)
        if not text.strip():
            raise DeskError("ghi chú trống")
        ledger().add_note(plan_id, unit_id, text.strip(), who)
        return _flash(RedirectResponse(f"/unit/{plan_id}/{unit_id}", status_code=303), "Đã lưu ghi chú.", "ok")

    @web.post("/unit/{plan_id}/{unit_id}/extend")
    def extend(plan_id: str, unit_id: str, task: str = Form(...), period: str = Form(...),
               deadline: str = Form(...), reason: str = Form(""), who: str = Depends(poster)):
        plan = plan_of(plan_id)
        pick_period(plan, unit_id, task, period, day())
        new = _parse_day(deadline)
        if not reason.strip():
            raise DeskError("ghi lý do gia hạn: lý do được lưu vào nhật ký")
        ledger().extend(plan_id, period, task, unit_id, new, reason.strip(), who)
        return _flash(RedirectResponse(f"/unit/{plan_id}/{unit_id}", status_code=303),
                      f"Đã gia hạn {plan.unit(unit_id).name} đến {new:%d/%m/%Y} ({task}, kỳ {period}).", "ok")

    @web.post("/unit/{plan_id}/{unit_id}/remind")
    def remind(plan_id: str, unit_id: str, task: str = Form(...), period: str = Form(...),
               who: str = Depends(poster)):
        from dondoc.runtime import open_runtimes
        plan_of(plan_id)
        rt = open_runtimes(day(), settings, [plan_id])[0]
        said = remind_now(rt, task, unit_id, period)
        return done(f"/unit/{plan_id}/{unit_id}", said[0].upper() + said[1:] + ".", who, "remind",
                    f"{plan_id}/{period}/{task}/{unit_id}")

    @web.get("/document/{doc_id}")
    def document(doc_id: int, kind: str = "", who: str = Depends(viewer)):
        """A công văn as units receive it once issued (the PDF, signed file byte for byte), its
        draft (.docx) before; `kind` (docx or pdf) asks for that file of it."""
        from models.rules import STAGE_WORDS
        doc = ledger().document(doc_id)
        kind = kind or ("pdf" if doc and doc["state"] == "issued" else "docx")
        path = doc and doc[f"{kind}_path"] if kind in ("docx", "pdf") else None
        if not doc or not path or not Path(path).exists():
            raise HTTPException(404, "không có tệp này của công văn")
        name = (f"Công văn {doc['number'].replace('/', '-')}" if doc["state"] == "issued"
                else f"Dự thảo công văn {STAGE_WORDS.get(doc['stage'], doc['stage'])} {doc['id']}")
        return FileResponse(path, filename=f"{name}.{kind}")

    @web.get("/file")
    def kept_file(path: str, who: str = Depends(viewer)):
        wanted = Path(path).resolve()
        roots = [settings.data.resolve(), settings.out.resolve()]
        if not any(wanted.is_relative_to(r) for r in roots) or not wanted.is_file():
            raise HTTPException(404, "không có tệp này")
        return FileResponse(wanted, filename=wanted.name)

    # -- triage ----------------------------------------------------------------------
    @web.get("/triage", response_class=HTMLResponse)
    def triage_list(request: Request, who: str = Depends(viewer)):
        led = ledger()
        return page(request, "triage.html.j2", waiting=led.inbound("triage"), decided=_undoable(led))

    @web.get("/triage/{number}", response_class=HTMLResponse)
    def triage_show(request: Request, number: int, plan: str = "", who: str = Depends(viewer)):
        from dondoc.archive import read_raw
        from models.mailparse import parse_reply
        row = ledger().inbound_row(number)
        if row is None:
            raise HTTPException(404, f"không có thư #{number}")
        reply = parse_reply(read_raw(row))
        saved = {a["name"]: a for a in json.loads(row["attachments"] or "[]") if isinstance(a, dict)}
        attachments = [{"i": i, "name": a.filename, "kb": max(1, len(a.data) // 1024), **saved.get(a.filename, {})}
                       for i, a in enumerate(reply.attachments)]
        every = plans()
        guess = every.get(plan) or every.get(row["plan_id"]) or next(iter(every.values()))
        return page(request, "triage_show.html.j2", row=row, reply=reply, text=(reply.reply_text or reply.text).strip(),
                    attachments=attachments, plans=every, guess=guess)

    @web.get("/triage/{number}/attachment/{i}")
    def triage_attachment(number: int, i: int, who: str = Depends(viewer)):
        from dondoc.archive import read_raw
        from models.mailparse import parse_reply
        row = ledger().inbound_row(number)
        reply = row and parse_reply(read_raw(row))
        if not reply or not 0 <= i < len(reply.attachments):
            raise HTTPException(404, "không có tệp đính kèm này")
        att = reply.attachments[i]
        return Response(att.data, media_type="application/octet-stream", headers={
            "Content-Disposition": f"attachment; filename*=utf-8''{quote(att.filename, safe='')}"})

    @web.post("/triage/{number}/assign")
    def triage_assign(number: int, plan: str = Form(...), unit: str = Form(...), task: str = Form(...),
                      period: str = Form(""), reason: str = Form(""), who: str = Depends(poster)):
        from dondoc.collector import assign
        from models.inbound import Limits
        led = ledger()
        row = waiting_reply(led, number, reason, "ghi lý do: lý do được lưu vào nhật ký")
        chosen = plan_of(plan)
        received = dt.date.fromisoformat(row["received_on"]) if row["received_on"] else day()
        label = pick_period(chosen, unit, task, period.strip() or None, received)
        new = assign(chosen, led, settings.data, Limits(max_bytes=settings.max_attachment_mb << 20), row, label,
                     task, unit, reason.strip())
        said = {"new": "", "updated": "; thay cho báo cáo gửi trước (vẫn được lưu)",
                "exists": "; thư này đã được ghi nhận trước đó"}[new]
        return done("/triage",
                    f"#{number}: ghi nhận là báo cáo của {chosen.unit(unit).name} ({task}, kỳ {label}){said}.",
                    who, "triage-assign", row["id"], number=number, plan=plan, unit=unit, task=task, period=label)

    @web.post("/triage/{number}/dismiss")
    def triage_dismiss(number: int, reason: str = Form(""), who: str = Depends(poster)):
        led = ledger()
        row = waiting_reply(led, number, reason, "ghi lý do bỏ qua: lý do được lưu vào nhật ký")
        led.update_inbound(row["id"], status="dismissed", reason=f"bỏ qua: {reason.strip()}")
        led.log("triage-dismiss", row["id"], reason=reason.strip(), previous_reason=row["reason"])
        return done("/triage", f"#{number}: đã bỏ qua ({reason.strip()}).", who, "triage-dismiss", row["id"],
                    number=number)

    @web.post("/triage/{number}/undo")
    def triage_undo(number: int, reason: str = Form(""), who: str = Depends(poster)):
        said = ledger().undo_triage(number, reason.strip() or f"hoàn tác trên trang web ({who})")
        return done("/triage", said, who, "triage-undo", str(number), number=number)

    # -- drafts waiting for signature, and issuing them -------------------------------
    @web.get("/drafts", response_class=HTMLResponse)
    def drafts_page(request: Request, who: str = Depends(viewer)):
        waiting, issued = _drafts(plans(), ledger(), day())
        return page(request, "drafts.html.j2", waiting=waiting, issued=issued)

    @web.post("/drafts/{doc_id}/issue")
    def issue_page(doc_id: int, number: str = Form(...), date: str = Form(...), send: str = Form(""),
                   signed: UploadFile | None = SIGNED, who: str = Depends(poster)):
        on = _parse_day(date)
        kept, name = None, ""
        if signed is not None and signed.filename:
            data = signed.file.read(settings.max_attachment_mb << 20 | 1)
            if len(data) > settings.max_attachment_mb << 20:
                raise DeskError(f"tệp lớn quá {settings.max_attachment_mb} MB")
            name = Path(signed.filename).name
            # a name of its own: a refused second submit never removes the file a first one registered
            safe = re.sub(r"[^\w.-]+", "-", name)
            kept = settings.data / "van-thu" / str(doc_id) / f"{secrets.token_hex(4)}-{safe}"
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.write_bytes(data)
        try:
            result = issue_draft(settings, day(), doc_id, number, on, kept, bool(send))
        except DeskError as e:
            if kept:
                kept.unlink(missing_ok=True)
            raise DeskError(str(e).replace(str(kept), name) if kept else str(e)) from None
        doc = result.doc
        said = [f"Đã đăng ký dự thảo số {doc_id}: công văn số {doc['number']} ngày {on:%d/%m/%Y}"
                + (f", tệp PDF {name} tải lên" if name else ", bản PDF do dondoc in số và ngày") + "."]
        said += [f"Cảnh báo: {w.replace(str(kept), name) if kept else w}." for w in result.warnings]
        said.append(f"Đã gửi {result.sent} thư cho các đơn vị." if send else
                    f"{result.released} thư chờ gửi: lần chạy tới sẽ gửi, hoặc bấm “Gửi ngay” bên dưới.")
        if result.problem:
            said.append(f"Chưa gửi hết: {result.problem.removeprefix('chưa gửi được: ')}.")
        return done("/drafts", " ".join(said), who, "issue", str(doc_id), number=doc["number"], issued_on=on,
                    signed=name or None, sent=result.sent, kind="warn" if result.warnings or result.problem else "ok")

    @web.post("/drafts/{doc_id}/send")
    def send_page(doc_id: int, who: str = Depends(poster)):
        from dondoc.runtime import open_runtimes
        doc = ledger().document(doc_id)
        if doc is None or doc["state"] != "issued":
            raise DeskError(f"văn bản {doc_id} chưa được ban hành: đăng ký số và ngày trước khi gửi")
        rt = open_runtimes(day(), settings, [plan_of(doc["plan_id"]).plan.id])[0]
        sent, problem = send_issued(rt, doc)
        said = (f"Đã gửi {sent} thư công văn số {doc['number']}." if sent or problem else
                f"Công văn số {doc['number']}: không còn thư nào chờ gửi.")
        if problem:
            said += f" Chưa gửi hết: {problem.removeprefix('chưa gửi được: ')}."
        return done("/drafts", said, who, "send-document", str(doc_id), sent=sent, kind="warn" if problem else "ok")

    # -- a paper report --------------------------------------------------------------
    @web.get("/record", response_class=HTMLResponse)
    def record_page(request: Request, plan: str = "", unit: str = "", task: str = "", who: str = Depends(viewer)):
        return page(request, "record.html.j2", plans=plans(), chosen={"plan": plan, "unit": unit, "task": task})

    @web.post("/record")
    def record(plan: str = Form(...), unit: str = Form(...), task: str = Form(...), period: str = Form(""),
               received: str = Form(""), note: str = Form(""), replace: str = Form(""),
               scan: UploadFile | None = SCAN, who: str = Depends(poster)):
        chosen = plan_of(plan)
        on = _parse_day(received) if received.strip() else day()
        label = pick_period(chosen, unit, task, period.strip() or None, on)
        data = scan.file.read(settings.max_attachment_mb << 20 | 1) if scan and scan.filename else None
        if data is not None and len(data) > settings.max_attachment_mb << 20:
            raise DeskError(f"tệp lớn quá {settings.max_attachment_mb} MB")
        outcome, files = record_paper(chosen, ledger(), settings.data, unit, task, label, on,
                                      (scan.filename or "scan", data) if scan and data is not None else None,
                                      note.strip(), bool(replace))
        name = chosen.unit(unit).name
        if outcome == "exists":
            raise DeskError(f"{name} đã có báo cáo cho {task} kỳ {label}; chọn “thay báo cáo trước” để thay")
        return done(f"/unit/{plan}/{unit}", f"Đã ghi nhận {'báo cáo thay thế' if outcome == 'updated' else 'báo cáo'} "
                    f"của {name} ({task}, kỳ {label}) nhận ngày {on:%d/%m/%Y}" + (", kèm bản chụp" if files else "")
                    + ".", who, "record", f"{plan}/{label}/{task}/{unit}", files=files)

    # -- spreadsheets ----------------------------------------------------------------
    @web.get("/export.xlsx")
    def export(plan: str = "", who: str = Depends(viewer)):
        every = plans()
        chosen = {pid: p for pid, p in every.items() if not plan or pid == plan}
        data = export_xlsx(chosen, ledger(), day())
        ledger().log("desk", "", action="export", by=who, plans=list(chosen))
        return Response(data, media_type=XLSX, headers={
            "Content-Disposition": f"attachment; filename=\"tinh-hinh-{day():%Y-%m-%d}.xlsx\""})

    @web.get("/import", response_class=HTMLResponse)
    def import_page(request: Request, who: str = Depends(viewer)):
        return page(request, "import.html.j2", snippet=None, skipped=[], count=0, group_hint="")

    @web.post("/import", response_class=HTMLResponse)
    def import_units(request: Request, sheet: UploadFile | None = SHEET, group: str = Form(""),
                     who: str = Depends(poster)):
        if sheet is None or not sheet.filename:
            raise DeskError("chọn một tệp .xlsx")
        snippet, skipped = units_yaml(sheet.file.read(), group.strip())
        ledger().log("desk", "", action="import-units", by=who, file=sheet.filename)
        return page(request, "import.html.j2", snippet=snippet, skipped=skipped, group_hint=group.strip(),
                    count=snippet.count("\n- id: "))

    return web


# -- running it -----------------------------------------------------------------------------
def server(settings: Settings, today: dt.date | None = None):
    """A uvicorn server of the desk on `settings.web_host:web_port`, not yet started. Raises
    DeskError when the port is taken, or when the page would be reachable from elsewhere
    with no account to log in with."""
    import socket

    import uvicorn
    if not is_loopback(settings.web_host) and not read_accounts(settings.web_accounts):
        raise DeskError(f"trang web nghe trên {settings.web_host} cần đăng nhập, mà chưa có tài khoản nào trong "
                        f"{settings.web_accounts}: tạo bằng `dondoc web --add-account TÊN`")
    family = socket.AF_INET6 if ":" in settings.web_host else socket.AF_INET
    with socket.socket(family) as probe:
        try:
            probe.bind((settings.web_host, settings.web_port))
        except OSError as e:
            raise DeskError(f"không mở được trang web trên {settings.web_host}:{settings.web_port} ({e.strerror}): "
                            "chọn cổng khác bằng --web-port") from None
    config = uvicorn.Config(app(settings, today), host=settings.web_host, port=settings.web_port,
                            log_level="warning", access_log=False, lifespan="off")
    return uvicorn.Server(config)


def address(server) -> str:
    host = server.config.host
    return f"http://{f'[{host}]' if ':' in host else host}:{server.config.port}/"


# -- what the pages show -------------------------------------------------------------------
INBOUND_WORDS = {"new": "mới nhận", "matched": "đã ghi nhận", "triage": "chờ phân loại", "dismissed": "đã bỏ qua",
                 "ooo": "trả lời vắng mặt", "bounce": "báo lỗi gửi thư", "ignored": "thư tự động"}


def _vn_date(value) -> str:
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value) if "T" in value else dt.date.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(TZ).strftime("%d/%m/%Y %H:%M")
    return value.strftime("%d/%m/%Y") if isinstance(value, dt.date) else str(value)


def _parse_day(text: str) -> dt.date:
    text = text.strip()
    try:
        if m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text):
            return dt.date(int(m[3]), int(m[2]), int(m[1]))
        return dt.date.fromisoformat(text)
    except ValueError:
        raise DeskError(f"{text!r} không phải ngày (DD/MM/YYYY)") from None


def _flash(response: Response, message: str, kind: str) -> Response:
    response.set_cookie(FLASH, quote(f"{message}|{kind}"), httponly=True, samesite="strict", path="/", max_age=60)
    return response


def waiting_reply(led, number: int, reason: str, ask: str) -> dict:
    """The reply #`number` still in triage, when a reason is given; DeskError (`ask` for a
    missing reason) otherwise."""
    row = next((r for r in led.inbound("triage") if r["rowid"] == number), None)
    if row is None:
        raise DeskError(f"#{number} không còn chờ phân loại")
    if not reason.strip():
        raise DeskError(ask)
    return row


def _same_site(url: str) -> str:
    """The path of `url` (a Referer), so a redirect never leaves this site."""
    from urllib.parse import urlsplit
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _overview(plans: dict, ledger, today: dt.date) -> tuple[list[dict], list[dict]]:
    """Per plan, period and task: the counts of each status word; per unit and cycle: a row."""
    from models.calendar import BusinessCalendar
    from models.period import parse_label, with_period
    from models.rules import STAGE_WORDS, STATE_WORDS
    from models.status import counts, status_rows
    tasks, rows = [], []
    for pid, plan in plans.items():
        mine = status_rows(plan, ledger.state(pid), today, ledger.sent_by_cycle(pid), BusinessCalendar(plan.calendar))
        for label, task_id in dict.fromkeys((r.period, r.task_id) for r in mine):
            of = [r for r in mine if (r.period, r.task_id) == (label, task_id)]
            tasks.append({"plan": pid, "period": label, "id": task_id, "deadline": of[0].deadline,
                          "title": with_period(plan.task(task_id).title, parse_label(label)),
                          "counts": counts(of), "total": len(of)})
        rows += [{"plan": pid, "period": r.period, "task_id": r.task_id, "unit_id": r.unit_id, "unit_name": r.unit_name,
                  "title": with_period(plan.task(r.task_id).title, parse_label(r.period)),
                  "group": plan.unit(r.unit_id).group, "deadline": r.deadline, "extended_from": r.extended_from,
                  "status": r.status, "word": r.word, "received": r.reported_on,
                  "asked": any(s == "request" for s, _, _ in r.sent),
                  "sent": [f"{STAGE_WORDS[s]} {d:%d/%m}" + ("" if st == "sent" else f" ({STATE_WORDS.get(st, st)})")
                           for s, d, st in r.sent]} for r in mine]
    return tasks, rows


def _drafts(plans: dict, ledger, today: dt.date) -> tuple[list[dict], list[dict]]:
    """The documents as the drafts page shows them: those waiting for signature (oldest
    first, with the working days each has waited) and those issued (newest first, with who
    registered them on this page and how many of their emails went)."""
    from dondoc.digest import waiting
    from dondoc.issuing import is_signed
    from models.calendar import BusinessCalendar
    from models.rules import STAGE_WORDS
    by = {e["key"]: json.loads(e["detail"]).get("by") for e in ledger.events("desk")
          if json.loads(e["detail"]).get("action") == "issue"}

    def view(doc: dict, days: int | None = None) -> dict:
        plan, ctx = plans.get(doc["plan_id"]), json.loads(doc["context"] or "{}")
        units = json.loads(doc["units"] or "[]")
        mails = {r["mail_key"] or r["key"]: r["status"] for r in ledger.db.query(   # an email's rows share a status
            "select key, mail_key, status from outbound where document_id = ?", [doc["id"]])}
        return {**doc, "word": STAGE_WORDS.get(doc["stage"], doc["stage"]), "waited": days,
                "subject": ctx.get("subject"),
                "units": [plan.unit(u).name if plan and plan.has_unit(u) else u for u in units],
                "tasks": ctx.get("tasks") or [{"title": t, "deadline": ""} for t in json.loads(doc["tasks"] or "[]")],
                "mails": len(mails), "sent": sum(s == "sent" for s in mails.values()),
                "failed": sum(s == "failed" for s in mails.values()), "by": by.get(str(doc["id"])),
                "unsent": sum(s in ("held", "pending") for s in mails.values()),
                "code": f"{plan.issuer.code}-{plan.issuer.division}" if plan else "",
                "pdf_kind": pdf_kind(doc)}

    def pdf_kind(doc: dict) -> str:
        if not doc["signed_file"]:
            return "printed"
        pdf = Path(doc["pdf_path"] or "")
        return "signed" if pdf.is_file() and is_signed(pdf.read_bytes()) else "unsigned"
    cals = {pid: BusinessCalendar(p.calendar) for pid, p in plans.items()}
    drafted = [view(doc, days) for doc, days in waiting(ledger, cals, today, list(plans))]
    issued = [view(doc) for doc in ledger.documents(state="issued") if doc["plan_id"] in plans]
    return drafted, sorted(issued, key=lambda d: (d["issued_on"], d["id"]), reverse=True)


def _undoable(ledger) -> list[dict]:
    """Messages whose last triage decision (assign or dismiss) can be taken back, newest first."""
    last: dict[str, dict] = {}
    for e in ledger.events():
        if e["kind"] in ("triage-assign", "triage-dismiss", "triage-undo"):
            last[e["key"]] = e
    out = []
    for inbound_id, e in last.items():
        if e["kind"] == "triage-undo":
            continue
        row = next(ledger.db.query("select rowid, * from inbound where id = ?", [inbound_id]), None)
        if row:
            out.append({**row, "decision": "ghi nhận" if e["kind"] == "triage-assign" else "bỏ qua",
                        "detail": json.loads(e["detail"]), "at": e["at"]})
    return out[::-1][:20]


def export_xlsx(plans: dict, ledger, today: dt.date) -> bytes:
    """A workbook: sheet “Tình hình” (a row per unit and cycle, as the overview) and sheet
    “Chỉ tiêu” (per plan, period, task and indicator: how many units gave a number, and their
    total; a percent is averaged)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    _, rows = _overview(plans, ledger, today)
    wb = Workbook()
    ws = wb.worksheets[0]
    ws.title = "Tình hình"
    ws.append(["Kế hoạch", "Kỳ", "Nhiệm vụ", "Mã đơn vị", "Đơn vị", "Hạn", "Gia hạn từ", "Tình trạng", "Ngày nhận",
               "Đã gửi"])
    for r in rows:
        ws.append([r["plan"], r["period"], r["task_id"], r["unit_id"], r["unit_name"], r["deadline"],
                   r["extended_from"], r["word"], r["received"], "; ".join(r["sent"])])
    ws2 = wb.create_sheet("Chỉ tiêu")
    ws2.append(["Kế hoạch", "Kỳ", "Nhiệm vụ", "Chỉ tiêu", "Đơn vị tính", "Số đơn vị có số liệu", "Tổng"])
    for pid, plan in plans.items():
        sums: dict[tuple[str, str, str], list[float]] = {}
        for rep in ledger.reports(pid):
            for ind, value in json.loads(rep["indicators"] or "{}").items():
                if not ind.startswith("_") and isinstance(value, (int, float)):
                    sums.setdefault((rep["period"], rep["task_id"], ind), []).append(value)
        kinds = {i.id: i for i in plan.indicators}
        for (period, task_id, ind), values in sorted(sums.items()):
            spec = kinds.get(ind)
            total = sum(values) / len(values) if spec and spec.kind == "percent" else sum(values)
            ws2.append([pid, period, task_id, spec.name if spec else ind, spec.unit if spec else "", len(values),
                        total])
    for sheet in (ws, ws2):
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for col in sheet.columns:
            widest = max(10, *(len(str(c.value or "")) + 2 for c in col))
            sheet.column_dimensions[get_column_letter(col[0].column or 1)].width = min(60, widest)
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, dt.date):
                    cell.number_format = "DD/MM/YYYY"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


HEADERS = {   # words of an office spreadsheet's header -> the plan's unit field
    "id": ("mã", "mã đơn vị", "id"),
    "name": ("tên", "tên đơn vị", "đơn vị", "cơ quan", "tên cơ quan"),
    "group": ("nhóm", "khối", "group"),
    "emails": ("email", "thư điện tử", "địa chỉ thư", "e-mail", "hộp thư"),
    "head_email": ("email thủ trưởng", "thư thủ trưởng", "email lãnh đạo"),
    "contact": ("người liên hệ", "cán bộ đầu mối", "đầu mối", "liên hệ"),
    "phone": ("điện thoại", "số điện thoại", "sđt", "đt"),
}


def slug(text: str) -> str:
    """An id from a Vietnamese name: no diacritics, lower case, words joined by hyphens."""
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:60] or "don-vi"


def units_yaml(data: bytes, group: str = "") -> tuple[str, list[str]]:
    """The `units:` entries of a plan from an office .xlsx (its first sheet; the header row is
    the first that names a unit's name and email column), as YAML to paste into the plan, and
    the rows left out with why. Check the result with `dondoc validate` once pasted."""
    import yaml
    from openpyxl import load_workbook
    try:
        ws = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
    except Exception as e:   # noqa: BLE001 -- openpyxl raises many kinds for a file that is not a workbook
        raise DeskError(f"không đọc được tệp .xlsx: {type(e).__name__}") from None
    rows = [[str(c).strip() if c is not None else "" for c in row] for row in ws.iter_rows(values_only=True)]
    columns, start = {}, None
    for n, row in enumerate(rows[:20]):
        found = {}
        for i, cell in enumerate(row):
            word = cell.lower().rstrip(":")
            for field, names in HEADERS.items():
                if word in names and field not in found:
                    found[field] = i
        if "name" in found and "emails" in found:
            columns, start = found, n + 1
            break
    if start is None:
        raise DeskError("không thấy dòng tiêu đề có cột “Tên đơn vị” và cột “Email” trong 20 dòng đầu")
    units, skipped, seen = [], [], set()
    for n, row in enumerate(rows[start:], start=start + 1):
        def get(f: str, row=row) -> str:
            return row[columns[f]] if f in columns and columns[f] < len(row) else ""
        name = get("name")
        emails = [e for e in re.split(r"[\s,;]+", get("emails")) if "@" in e]
        if not name and not emails:
            continue
        if not name or not emails:
            skipped.append(f"dòng {n}{f' ({name})' if name else ''}: thiếu {'tên đơn vị' if not name else 'email'}")
            continue
        uid = slug(get("id") or name)
        while uid in seen:
            uid += "-2"
        seen.add(uid)
        unit = {"id": uid, "name": name, "group": slug(get("group")) if get("group") else (group or "CHUA-CO-NHOM"),
                "emails": emails}
        for f in ("head_email", "contact", "phone"):
            if get(f):
                unit[f] = get(f)
        units.append(unit)
    text = yaml.safe_dump({"units": units}, allow_unicode=True, sort_keys=False, default_style=None, width=1000)
    return text, skipped
