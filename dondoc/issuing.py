"""Documents issued the way a Sở issues them: drafted, signed and registered, then sent.

Side effects: writes the draft and issued files under the output folder, runs LibreOffice for
the PDFs, and records in the ledger. One công văn per plan, stage and day (`documents`):
- `prepare_drafts`: each new document is rendered (.docx and PDF) from its rows, its context
  kept, and its draft emailed to the secretariat ("Dự thảo … – chờ ký"); its rows stay `held`;
- `issue`: the văn thư registers it with its number and date, and either the signed PDF
  (sent byte for byte) or none (dondoc writes the number and date in and prints it);
  its rows become `pending`, and the next run (or `--send`) emails each unit once.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

from dondoc.ledger import Ledger
from dondoc.letters import document_context, is_internal, numbered
from dondoc.office import convert
from dondoc.render import Templates
from models.calendar import BusinessCalendar
from models.keys import Key
from models.plan import Plan
from models.rules import STAGE_WORDS, Action

NUMBER = re.compile(r"^[0-9A-Za-zĐđ.\-]{1,20}/[0-9A-Za-zĐđ.\-]{1,40}$")


class IssueError(Exception):
    """A clerk's command that cannot be done: one line, in Vietnamese."""


def signs(plan: Plan, stage: str, unit_id: str) -> bool:
    """Whether a unit's letter of `stage` goes out under a công văn: the plan issues the stage
    by `sign`, and the unit is not a division of the issuer itself (an `internal` group)."""
    return plan.mode(stage) == "sign" and not is_internal(plan, unit_id)


def grouping(plan: Plan, actions: list[Action],
             day: dt.date) -> tuple[dict[str, list[str]], list[tuple[dict, list[str]]]]:
    """How the unit letters decided on `day` go out: one email per stage and unit (lead key ->
    its keys, the lead first, in plan order), and one document per stage whose plan says
    `sign` (its row, the keys it covers). The issuer's own divisions (an `internal` group) are
    in no document: their email is plain and goes out at once, never held for a signature. Pure."""
    by_unit: dict[tuple[str, str], list[str]] = {}
    by_stage: dict[str, list[Action]] = {}
    for a in actions:
        if a.unit_id and plan.mode(a.stage) in ("sign", "notice"):
            by_unit.setdefault((a.stage, a.unit_id), []).append(a.key)
            if signs(plan, a.stage, a.unit_id):
                by_stage.setdefault(a.stage, []).append(a)
    docs = [({"plan_id": plan.plan.id, "stage": stage, "day": day.isoformat(),
              "units": json.dumps(list(dict.fromkeys(a.unit_id for a in acts))),
              "tasks": json.dumps(list(dict.fromkeys(a.task_id for a in acts)))}, [a.key for a in acts])
            for stage, acts in by_stage.items()]
    return {keys[0]: keys for keys in by_unit.values()}, docs


OTHERS_TRIED = 3   # an internal division's row: the other units whose first request may name the công văn


def request_numbers(ledger: Ledger, rows: list[dict],
                    plan: Plan | None = None) -> dict[tuple[str, str], tuple[str, str]]:
    """(task, period) -> (number, date) of the issued document that carried the first request.
    A division of the issuer itself (`plan` given) got none: its row names the one the
    task's other units received, when issued (looked up for the first few of them only)."""
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for r in rows:
        if (r["task_id"], r["period"]) in out:
            continue
        keys = [r["key"]]
        if plan is not None and r["unit_id"] and plan.has_unit(r["unit_id"]) and is_internal(plan, r["unit_id"]):
            task = plan.task(r["task_id"])
            others = [u.id for u in plan.units_of(task) if u.id not in task.exempt and not is_internal(plan, u.id)]
            keys = [str(Key(plan.plan.id, r["period"], task.id, u, "request")) for u in others[:OTHERS_TRIED]]
        if doc := next(filter(None, map(ledger.request_document, keys)), None):
            out[(r["task_id"], r["period"])] = (doc["number"], f"{dt.date.fromisoformat(doc['issued_on']):%d/%m/%Y}")
    return out


PRINT_SECONDS = 600   # one LibreOffice call printing a day's drafts


def _folder(out: Path, doc: dict) -> Path:
    return out / doc["plan_id"] / doc["day"] / f"{doc['stage']}-{doc['id']}"


def prepare_drafts(plan: Plan, ledger: Ledger, cal: BusinessCalendar, templates: Templates, out: Path,
                   mail_domain: str, accept_new: bool = False) -> list[int]:
    """Render every new draft of the plan (.docx, and its PDF when LibreOffice is there), keep
    its context, and record its email to the secretariat, each in one transaction. A draft
    whose email is already recorded is left alone (a rerun does nothing). Returns their ids.
    Before writing any, the output folder must be this ledger's (outbox.check_out, which may
    raise LedgerMismatch; `accept_new` as there)."""
    from dondoc.outbox import check_out  # outbox builds on this module
    history = None
    rendered: list[tuple[dict, dict, Path]] = []
    for doc in ledger.documents(plan.plan.id, "drafted"):
        if doc["draft_key"]:
            continue
        if not rendered:
            check_out(ledger, out, accept_new)
        history = history if history is not None else ledger.sent_by_cycle(plan.plan.id)
        rows = list(ledger.db.query("select * from outbound where document_id = ? order by rowid", [doc["id"]]))
        ctx = document_context(plan, doc["stage"], dt.date.fromisoformat(doc["day"]), rows, cal, history,
                               request_numbers(ledger, rows))
        folder = _folder(out, doc)
        folder.mkdir(parents=True, exist_ok=True)
        docx = folder / f"du-thao-{doc['stage']}-{doc['id']}.docx"
        docx.write_bytes(templates.docx(doc["stage"]).render(ctx))
        rendered.append((doc, ctx, docx))
    pdfs = convert([docx for _, _, docx in rendered], "pdf", PRINT_SECONDS)
    for doc, ctx, docx in rendered:
        day, pdf = dt.date.fromisoformat(doc["day"]), pdfs[docx]
        to = plan.issuer.secretariat_email or plan.issuer.email
        words = STAGE_WORDS[doc["stage"]]
        text = (f"Dự thảo công văn {words} số {doc['id']} ngày {day:%d/%m/%Y}, V/v {ctx['subject']}.\n\n"
                f"Gửi {len(ctx['units'])} cơ quan, đơn vị; {len(ctx['tasks'])} nhiệm vụ: "
                + "; ".join(f"{t['title']} (hạn {t['deadline']})" for t in ctx["tasks"]) + ".\n\n"
                "Các đơn vị chưa nhận được gì cho đến khi văn bản được ký và đăng ký. Sau khi ký, văn thư đăng ký:\n"
                f"  dondoc issue {doc['id']} --number \"SỐ/{plan.issuer.code}-{plan.issuer.division}\" "
                "--date NGÀY/THÁNG/NĂM --signed TỆP-ĐÃ-KÝ.pdf [--send]\n"
                "(không có --signed: dondoc ghi số, ngày vào văn bản và gửi bản PDF).\n")
        body = {"subject": f"Dự thảo công văn {words} số {doc['id']} ngày {day:%d/%m/%Y} – chờ ký",
                "text": text, "files": [str(docx)] + ([str(pdf)] if pdf else [])}
        key = str(Key(plan.plan.id, doc["day"], stage="draft", seq=doc["id"]))
        action = Action(key, "draft", plan.plan.id, doc["day"], None, None, doc["id"], day, None, (to,),   # type: ignore[arg-type]
                        plan_hash=plan.digest, body=json.dumps(body, ensure_ascii=False))
        ledger.record_draft(doc["id"], action, mail_domain, ctx, docx, pdf)
    return [doc["id"] for doc, _, _ in rendered]


def is_signed(pdf: bytes) -> bool:
    """Whether the PDF carries a digital signature: a signature field with a ByteRange."""
    return b"/ByteRange" in pdf and re.search(rb"/Type\s*/Sig\b|/FT\s*/Sig\b", pdf) is not None


def issue(ledger: Ledger, plans: dict[str, Plan], templates_for, out: Path, doc_id: int, number: str,
          issued_on: dt.date, signed: Path | None = None) -> tuple[dict, int, list[str]]:
    """Register draft `doc_id` as issued under `number` and `issued_on`. With `signed`, that PDF
    is what units receive, byte for byte; without it, the number and date are written into the
    draft and it is printed to PDF (the .docx kept). Returns the document, how many rows it
    releases, and warnings. Raises IssueError (one line) for an unknown or issued draft, a
    file that is not a PDF, a malformed number, or no LibreOffice to print with."""
    doc = ledger.document(doc_id)
    if doc is None:
        raise IssueError(f"không có dự thảo số {doc_id} (xem `dondoc drafts`)")
    if doc["state"] != "drafted":
        raise IssueError(f"dự thảo số {doc_id} đã ban hành: số {doc['number']}, ngày "
                         f"{dt.date.fromisoformat(doc['issued_on']):%d/%m/%Y}")
    if not doc["context"]:
        raise IssueError(f"dự thảo số {doc_id} chưa được soạn xong: chạy lại `dondoc run dispatch` rồi đăng ký")
    number = number.strip()
    if not NUMBER.match(number):
        raise IssueError(f"số văn bản {number!r} không đúng dạng SỐ/KÝ-HIỆU, ví dụ 123/STTTT-TTBCXB")
    folder = _folder(out, doc)
    folder.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^0-9A-Za-z.-]+", "-", number.replace("Đ", "D").replace("đ", "d"))   # 01/SKHCN-CĐS: 01-SKHCN-CDS
    warnings: list[str] = []
    if signed is not None:
        try:
            data = signed.read_bytes()
        except OSError as e:
            raise IssueError(f"{signed}: không đọc được tệp: {e.strerror}") from None
        if not data.startswith(b"%PDF-"):
            raise IssueError(f"{signed}: không phải tệp PDF; chỉ nhận bản PDF đã ký")
        if not is_signed(data):
            warnings.append(f"{signed}: tệp PDF không có chữ ký số (chưa ký số trên hệ thống quản lý văn bản?); "
                            "vẫn gửi đúng tệp này")
        pdf = folder / f"{stem}.pdf"
        pdf.write_bytes(data)
        docx_path, sha = None, hashlib.sha256(data).hexdigest()
    else:
        plan = plans[doc["plan_id"]]
        ctx = numbered(json.loads(doc["context"]), number, issued_on)
        docx = folder / f"{stem}.docx"
        docx.write_bytes(templates_for(plan).docx(doc["stage"]).render(ctx))
        made = convert([docx], "pdf", PRINT_SECONDS)[docx]
        if made is None:
            raise IssueError("không chuyển được văn bản sang PDF (cần LibreOffice: gói libreoffice-writer-nogui); "
                             "hoặc đăng ký kèm bản đã ký bằng --signed TỆP.pdf")
        pdf, docx_path, sha = made, str(docx), hashlib.sha256(made.read_bytes()).hexdigest()
    n = ledger.issue(doc_id, number, issued_on, str(pdf), str(signed) if signed else None, sha, docx_path)
    issued = ledger.document(doc_id)
    if issued is None or (not n and issued["state"] != "issued"):
        raise IssueError(f"dự thảo số {doc_id} không còn thư nào chờ gửi")
    return issued, n, warnings
