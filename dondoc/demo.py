"""`dondoc demo`: a whole year of the shipped plans, offline, in about a minute.

An in-process SMTP server (aiosmtpd) stands in for the mail system: letters to units are
answered by simulated units that reply by real mail (most on time, some late, one never,
one out of office, one address that bounces); replies are delivered into a local Maildir
that the collector reads. The real Prefect flows run, day by day, on the days something
happens. Nothing leaves the machine.
"""
from __future__ import annotations

import asyncio
import copy
import datetime as dt
import email
import email.header
import email.policy
import functools
import html
import io
import mailbox
import os
import random
import re
import socket
import subprocess
import tempfile
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import partial
from pathlib import Path

from docx import Document

from dondoc.plans import read_plans
from dondoc.settings import Settings
from models.calendar import BusinessCalendar
from models.keys import Key
from models.period import parse_label, with_period
from models.rules import deadline_for, report_periods, task_cycles

TZ = dt.timezone(dt.timedelta(hours=7))


class World:
    """The mail system and the units of every plan: what happens to each letter the Sở sends."""

    def __init__(self, plans, maildir: Path, collectors: set[str], seed: int = 7, sent: Path | None = None):
        self.plans, self.collectors, self.sent = {p.plan.id: p for p in plans}, collectors, sent
        self.box = mailbox.Maildir(maildir, create=True)
        self.day = dt.date.today()
        self.pending: list[tuple[dt.date, Callable[[], bytes]]] = []   # replies to send on a later day
        rnd = random.Random(seed)
        self.never, self.away, self.bounce, self.late = set(), set(), set(), set()
        for plan in plans:   # the same kinds of trouble in every plan
            units = [u for u in plan.units if u.group != "so"]
            self.never.add((plan.plan.id, units[3].id))
            self.away.add((plan.plan.id, units[5].id))
            if len(units) > 7:
                self.bounce.add(units[7].emails[0])
            self.late |= {(plan.plan.id, u.id) for u in units[8:11]}
        self.delay = {(p.plan.id, u.id): rnd.randint(2, 12) for p in plans for u in p.units}
        self.letters: list[email.message.Message] = []
        self.paper: list[tuple[dt.date, Key, bytes | None]] = []   # the Sở's own reports, recorded by hand
        self.record: Callable[[dt.date, Key, bytes | None], None] = lambda *a: None
        self.drafts: list[email.message.Message] = []

    def now(self, hour: int = 9) -> dt.datetime:
        return dt.datetime.combine(self.day, dt.time(hour), TZ)

    def deliver(self, raw: bytes) -> None:
        """Into the collector's Maildir, stamped with the simulated day."""
        self.box.add(f"Received: from mx.example by mail.stttt.example; {format_datetime(self.now(10))}\r\n".encode()
                     + raw)

    async def handle_DATA(self, server, session, envelope):   # aiosmtpd: the Sở's letters arrive here
        msg = email.message_from_bytes(envelope.content)
        self.letters.append(msg)
        stage = Key.parse("".join(str(msg.get("X-Dondoc-Key", "")).split())).stage
        if self.sent is not None:   # every message as its recipients receive it, to read in a mail client
            self.sent.mkdir(parents=True, exist_ok=True)
            name = f"{len(self.letters):04d}-{self.day:%Y-%m-%d}-{stage}-{envelope.rcpt_tos[0]}.eml"
            (self.sent / re.sub(r"[^\w.-]+", "-", name)).write_bytes(envelope.content)
        if stage == "draft":
            self.drafts.append(msg)   # the secretariat's mailbox: a draft waits to be signed
            return "250 OK"
        for rcpt in envelope.rcpt_tos:
            if rcpt in self.bounce:
                self.deliver(_dsn(rcpt, msg["Message-ID"], self.now()))
            elif rcpt in self.collectors:
                self.deliver(envelope.content)
            else:
                for view in _per_task(msg):   # a unit answers each task of its email in its own reply
                    self.answer(rcpt, view)
        return "250 OK"

    def answer(self, rcpt: str, letter) -> None:
        key = Key.parse("".join(str(letter.get("X-Dondoc-Key", "")).split()))
        if key.stage != "request" or key.plan not in self.plans or not key.unit or not key.task:
            return
        plan, who = self.plans[key.plan], (key.plan, key.unit)
        unit = plan.unit(key.unit)
        if rcpt not in unit.emails or who in self.never:
            return
        if who in self.away:
            self.deliver(_reply(rcpt, letter, "Tôi đang đi công tác, sẽ trả lời sau.", self.now(),
                                {"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"},
                                subject_prefix="Trả lời tự động: "))
        deadline = deadline_for(plan.task(key.task), key.period) or self.day
        when = deadline + dt.timedelta(days=4) if who in self.late or who in self.away \
            else max(self.day, min(self.day + dt.timedelta(days=self.delay[who]), deadline - dt.timedelta(days=2)))
        form = next((p.get_payload(decode=True) for p in letter.walk()
                     if "Phi%E1%BA%BFu" in str(p.get("Content-Disposition", ""))), None)
        task = plan.task(key.task)
        said = _results(plan, task, unit, key.period)
        mode = _MODES[sum(map(ord, unit.id)) % len(_MODES)] if unit.group != "so" else "paper"
        if mode == "paper":   # the Sở's own division: its form is recorded by hand (dondoc record)
            self.paper.append((when, key, form and _fill(form, said)))
            return
        cover = _cover(unit.name, parse_label(key.period).text, late=when > deadline)
        files = []
        if mode in ("form", "report"):
            files.append(("Báo cáo kết quả.docx", _report_docx(unit.name, plan, task, said, key.period)))
        if form and mode in ("form", "body-form"):
            files.append(("Phiếu báo cáo.docx", _fill(form, said)))
        text = _body(unit.name, plan, task, said) if mode.startswith("body") else cover
        self.pending.append((when, partial(_reply, rcpt, letter, text, dt.datetime.combine(when, dt.time(9), TZ),
                                           files=files)))

    def release(self) -> int:
        """Replies whose day has come are sent (delivered into the collector's mailbox)."""
        due = [(d, f) for d, f in self.pending if d <= self.day]
        self.pending = [(d, f) for d, f in self.pending if d > self.day]
        for d, key, form in [p for p in self.paper if p[0] <= self.day]:
            self.record(d, key, form)
        self.paper = [p for p in self.paper if p[0] > self.day]
        for _, make in due:
            self.deliver(make())
        return len(due)


def _per_task(msg):
    """The email as seen for each task it covers: its key that task's, its reply form first."""
    keys = str(msg.get("X-Dondoc-Keys", "")).split()
    if len(keys) <= 1:
        return [msg]
    views = []
    for key in keys:
        view = copy.deepcopy(msg)
        del view["X-Dondoc-Key"]
        view["X-Dondoc-Key"] = key
        task = Key.parse(key).task
        view.set_payload([p for p in view.get_payload() if "Phi%E1%BA%BFu" not in (d := str(
            p.get("Content-Disposition", ""))) or f"-%20{task}%20-" in d])
        views.append(view)
    return views


def sample_signed(pdf: bytes, signer_name: str) -> bytes | None:
    """`pdf` signed with a throw-away self-signed certificate (pyHanko), as the document
    system would sign it; None when pyHanko is not installed."""
    try:
        from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
        from pyhanko.sign import signers
    except ImportError:
        return None
    return signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), signers.PdfSignatureMetadata(
        field_name="ChuKySo"), signer=_sample_signer(signer_name)).getvalue()


@functools.cache
def _sample_signer(name: str):
    """A self-signed certificate and its key for `name`, made once per run (an RSA key costs
    a noticeable fraction of a second)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    from pyhanko.sign import signers
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650)).sign(key, hashes.SHA256()))
    with tempfile.TemporaryDirectory() as tmp:
        k, c = Path(tmp) / "k.pem", Path(tmp) / "c.pem"
        k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
        c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return signers.SimpleSigner.load(str(k), str(c))


def _words(pdf: Path) -> tuple[float, list[tuple[str, float, float, float, float]]]:
    """Page 1 of `pdf`: its height and its words with their boxes (pdftotext -bbox, points from the top)."""
    xml = subprocess.run(["pdftotext", "-f", "1", "-l", "1", "-bbox", str(pdf), "-"], capture_output=True,
                         check=True, timeout=60).stdout.decode()
    height = float(re.search(r'<page width="[\d.]+" height="([\d.]+)"', xml)[1])   # type: ignore[index]
    words = [(html.unescape(m[5]), float(m[1]), float(m[2]), float(m[3]), float(m[4])) for m in re.finditer(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', xml)]
    return height, words


def stamp_number(pdf: Path, number: str, day: dt.date) -> bytes | None:
    """The draft's PDF with `number` and the day of `day` written into its blanks (`Số:  /…` and
    `ngày  tháng`) on page 1, as a document system stamps them when the văn thư registers a
    letter; None when the blanks are not found (or pdftotext is missing). Pure but for reading."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject
    try:
        height, words = _words(pdf)
    except (OSError, subprocess.SubprocessError):
        return None
    seq = number.split("/", 1)[0]
    at = {w[0]: i for i, w in reversed(list(enumerate(words)))}   # the first of each word
    if "Số:" not in at or "ngày" not in at or at["ngày"] + 1 >= len(words) or words[at["ngày"] + 1][0] != "tháng":
        return None
    code, day_word, month_word = words[at["Số:"] + 1], words[at["ngày"]], words[at["ngày"] + 1]
    if not code[0].startswith("/"):
        return None

    def text(s: str, x_right: float, box: tuple, font: str, rise: float) -> str:
        size = round((box[4] - box[2]) / 1.3)
        width = 0.5 * size * len(s)   # Times digits are half an em wide
        return f"BT /{font} {size} Tf {x_right - width:.2f} {height - box[4] + rise * size:.2f} Td ({s}) Tj ET\n"
    gap = (month_word[1] + day_word[3]) / 2 + 0.5 * round((day_word[4] - day_word[2]) / 1.3)
    ops = text(seq, code[1] + 0.6, code, "F1", 0.3) + text(f"{day.day:02d}", gap, day_word, "F2", 0.38)
    reader = PdfReader(pdf)
    writer = PdfWriter(clone_from=reader)
    page = writer.pages[0]
    fonts = DictionaryObject({NameObject(n): DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject(base)}) for n, base in (("/F1", "/Times-Roman"), ("/F2", "/Times-Italic"))})
    stamp = DecodedStreamObject()
    stamp.set_data(ops.encode())
    overlay = PdfWriter()
    blank = overlay.add_blank_page(float(page.mediabox.width), float(page.mediabox.height))
    blank[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): fonts})
    blank[NameObject("/Contents")] = overlay._add_object(stamp)
    page.merge_page(blank)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def issue_drafts(world: World, plans, out: Path, numbers: dict[str, int]) -> tuple[int, list[str]]:
    """The văn thư's part: every draft the secretariat received is registered with the next
    number of its plan (two digits at least) and signed. As a document system does, the number
    and day are stamped into the draft's own PDF (no second printing: LibreOffice is the slow
    part of the demo), then signed with a sample certificate when pyHanko is installed, else
    registered unsigned with dondoc's warning. Returns how many, and the warnings."""
    from dondoc.issuing import issue
    from dondoc.ledger import Ledger
    from dondoc.render import Templates
    settings = Settings()
    ledger, templates, by_id = Ledger(settings.db), Templates(), {p.plan.id: p for p in plans}
    n, warnings = 0, []
    for msg in world.drafts:
        doc = ledger.document(Key.parse("".join(str(msg["X-Dondoc-Key"]).split())).seq)
        if doc is None or doc["state"] != "drafted" or not doc["pdf_path"]:
            continue
        plan = by_id[doc["plan_id"]]
        numbers[plan.plan.id] = numbers.get(plan.plan.id, 0) + 1
        number = f"{numbers[plan.plan.id]:02d}/{plan.issuer.code}-{plan.issuer.division}"
        folder = out / "van-thu" / str(doc["id"])
        folder.mkdir(parents=True, exist_ok=True)
        pdf = folder / "ban-ky.pdf"
        draft = stamp_number(Path(doc["pdf_path"]), number, world.day) or Path(doc["pdf_path"]).read_bytes()
        pdf.write_bytes(sample_signed(draft, plan.signer.name) or draft)
        warnings += issue(ledger, by_id, lambda p: templates, settings.out, doc["id"], number, world.day, pdf)[2]
        n += 1
    world.drafts.clear()
    return n, warnings


# A unit's mail client: lines up to RFC 5322's limit. (Python 3.11's default folding at 78
# breaks a long Vietnamese subject mid-character: "=?utf-8?q?=E1=BB=" then "A9ng", which every
# reader then shows garbled, the desk's received mail included.)
CLIENT = email.policy.default.clone(max_line_length=998)


def _reply(sender, letter, text, when, headers=None, files=(), subject_prefix="Re: ") -> bytes:
    m = EmailMessage(policy=CLIENT)
    m["From"], m["To"] = sender, str(letter["Reply-To"] or letter["From"])
    m["Subject"] = subject_prefix + str(email.header.make_header(email.header.decode_header(letter["Subject"])))
    m["Message-ID"], m["Date"] = make_msgid(domain=sender.split("@")[1]), format_datetime(when)
    m["In-Reply-To"] = m["References"] = letter["Message-ID"]
    for k, v in (headers or {}).items():
        m[k] = v
    m.set_content(text)
    for name, data in files:
        m.add_attachment(data, "application", "vnd.openxmlformats-officedocument.wordprocessingml.document",
                         filename=name)
    return bytes(m)


def _dsn(rcpt: str, message_id: str, when: dt.datetime) -> bytes:
    return (f"From: MAILER-DAEMON@mx.example\r\nTo: dondoc\r\nSubject: Undelivered Mail Returned to Sender\r\n"
            f"Date: {format_datetime(when)}\r\nMessage-ID: {make_msgid(domain='mx.example')}\r\n"
            "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\n"
            "Content-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n--b\r\n"
            "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n"
            f"Final-Recipient: rfc822; {rcpt}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
            "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n"
            f"Message-ID: {message_id}\r\n\r\n.\r\n--b--\r\n").encode()


_MODES = ("form", "body", "report", "form", "body-form", "form", "report")
_DID = (
    "Đã đăng {n} tin, bài, ảnh về {theme} trên trang thông tin điện tử và trang mạng xã hội của đơn vị.",
    "Phối hợp với {partner} tổ chức {k} buổi {event} về {theme}, thu hút khoảng {p} lượt người tham gia.",
    "Xây dựng {k} phóng sự, chương trình chuyên đề về {theme}, phát sóng tổng thời lượng {h} giờ.",
    "Treo {b} băng rôn, khẩu hiệu, pa-nô tuyên truyền về {theme} tại {place}.",
    "Lồng ghép nội dung {theme} vào {k} hội nghị, buổi sinh hoạt chuyên đề với {p} lượt cán bộ, hội viên tham dự.",
    "Phát hành {b} bản tin, tờ gấp về {theme}, cấp phát đến {k} thôn, buôn, tổ dân phố.",
    "Duy trì chuyên mục về {theme} trên hệ thống truyền thanh cơ sở, phát {n} lượt tin trong năm.",
    "Tổ chức {k} cuộc thi tìm hiểu về {theme} với {p} bài dự thi; khen thưởng {b} tập thể, cá nhân tiêu biểu.",
)
_PARTNERS = ("Thư viện tỉnh", "Bảo tàng tỉnh", "Trung tâm Văn hóa tỉnh", "Hội Khuyến học", "Đoàn Thanh niên",
             "các trường học trên địa bàn", "Hội Liên hiệp Phụ nữ")
_EVENTS = ("nói chuyện chuyên đề", "giới thiệu sách", "triển lãm ảnh", "tọa đàm", "trưng bày lưu động",
           "tập huấn")
_PLACES = ("trục đường chính và khu trung tâm", "các trường học, nhà văn hóa thôn", "trụ sở cơ quan, đơn vị",
           "các khu dân cư đông người")
_HARD = ("Kinh phí cho hoạt động tuyên truyền còn hạn chế, chủ yếu lồng ghép với các nhiệm vụ khác.",
         "Cán bộ làm công tác tuyên truyền ở cơ sở kiêm nhiệm nhiều việc, ít được tập huấn nghiệp vụ.",
         "Hạ tầng mạng ở một số thôn, buôn vùng sâu chưa ổn định; người cao tuổi còn ngại dùng thiết bị số.",
         "Một số thiết chế văn hóa cơ sở xuống cấp, thiếu trang thiết bị phục vụ người đọc.", "", "")
_ASK = ("Đề nghị Sở tổ chức tập huấn kỹ năng viết tin, bài cho đội ngũ cộng tác viên cơ sở.",
        "Đề nghị UBND tỉnh bố trí kinh phí hỗ trợ bổ sung sách, tài liệu cho tủ sách cơ sở.",
        "Đề nghị Sở cung cấp tài liệu, ấn phẩm tuyên truyền mẫu để đơn vị nhân bản.",
        "Đề nghị sớm ban hành hướng dẫn tiêu chí đánh giá mô hình học tập suốt đời.", "")


_VERBS = re.compile(r"^(?:tuyên truyền|phổ biến|quảng bá|truyền thông|phát động|tổ chức có hiệu quả|tổ chức|"
                    r"biểu dương|tôn vinh|ứng dụng|hướng dẫn|triển khai|về)\b[\s,]*", re.IGNORECASE)


def _theme(text: str) -> str:
    """A content item's subject, short: its first clause without the opening verbs."""
    t = text.split(";")[0].rstrip(". ")
    while m := _VERBS.match(t):
        t = t[m.end():]
    words = t.split(",")[0].split()[:8]
    while len(words) > 1 and words[-1].lower() in ("qua", "trên", "và", "của", "trong", "các", "về", "đến"):
        words.pop()
    return " ".join(words).lower() or text.split()[0].lower()


def _results(plan, task, unit, period: str) -> dict:
    """What a simulated unit did: per content item a few sentences of its own (some items left
    out), its numbers (some as estimates), a difficulty and a proposal, all from a seed of its
    own so that no two units write the same."""
    rnd = random.Random(f"{plan.plan.id}/{task.id}/{unit.id}/{period}")
    items = {c.id: c.text for c in plan.content_items if c.id in task.content_items}
    said = {}
    for i, (cid, text) in enumerate(items.items()):
        if i and rnd.random() < 0.3:
            continue
        picks = rnd.sample(_DID, rnd.choice((1, 2, 2)))
        said[cid] = " ".join(d.format(theme=_theme(text), partner=rnd.choice(_PARTNERS), event=rnd.choice(_EVENTS),
                                      place=rnd.choice(_PLACES), n=rnd.randint(8, 160), k=rnd.randint(2, 24),
                                      p=rnd.randint(5, 90) * 10, h=f"{rnd.randint(2, 30)},{rnd.choice((0, 5))}"
                                      .replace(",0", ""), b=rnd.randint(10, 300)) for d in picks)
    numbers = {}
    for ind in plan.indicators:
        if ind.id in task.indicators:
            value = (f"{rnd.randint(55, 98)},{rnd.randint(0, 9)}%" if ind.kind == "percent" else
                     f"{rnd.randint(3, 60)},{rnd.choice((0, 5))}".replace(",0", "") if ind.kind == "decimal" else
                     str(rnd.randint(3, 180)))
            numbers[ind.id] = ("khoảng " + value) if rnd.random() < 0.12 else value
    return {"items": said, "numbers": numbers, "hard": rnd.choice(_HARD), "ask": rnd.choice(_ASK)}


def _cover(name: str, period: str, late: bool) -> str:
    sorry = "Đơn vị xin lỗi vì gửi báo cáo muộn so với thời hạn. " if late else ""
    return (f"Kính gửi Sở,\n\n{name} gửi báo cáo kết quả thực hiện nhiệm vụ {period} (file đính kèm). "
            f"{sorry}\n\nTrân trọng,\nVăn thư\n")


def _body(name: str, plan, task, said: dict) -> str:
    """A report written in the reply itself: per content item a heading and what was done, then the numbers."""
    items = {c.id: c.text for c in plan.content_items}
    lines = ["Kính gửi Sở,", "", f"{name} báo cáo kết quả thực hiện như sau:", ""]
    for n, (cid, text) in enumerate(said["items"].items(), 1):
        lines += [f"{n}. {items[cid]}", f"- {text}", ""]
    names = {i.id: i.name for i in plan.indicators}
    lines += [f"{names[k]}: {v}" for k, v in said["numbers"].items()]
    if said["hard"]:
        lines += ["", f"Khó khăn: {said['hard']}"]
    return "\n".join(lines + ["", "Trân trọng,", "Văn thư"]) + "\n"


def _report_docx(name: str, plan, task, said: dict, period: str) -> bytes:
    """The unit's own report as it would write it: header, preamble, one heading per content
    item (the plan's words) with what it did, then its difficulties."""
    items = {c.id: c.text for c in plan.content_items}
    doc = Document()
    doc.add_paragraph(name.upper())
    doc.add_paragraph("BÁO CÁO")
    doc.add_paragraph(f"Kết quả {with_period(task.title, parse_label(period)).split('kết quả', 1)[-1].strip()}")
    doc.add_paragraph(f"Thực hiện {plan.plan.type.lower()} của Sở, {name} báo cáo kết quả như sau:")
    doc.add_paragraph("I. KẾT QUẢ ĐẠT ĐƯỢC")
    for n, (cid, text) in enumerate(said["items"].items(), 1):
        doc.add_paragraph(f"{n}. {items[cid]}")
        doc.add_paragraph(text)
    if said["hard"]:
        doc.add_paragraph("II. KHÓ KHĂN, VƯỚNG MẮC")
        doc.add_paragraph(said["hard"])
    doc.add_paragraph("Nơi nhận: - Sở (b/c); - Lưu: VT.")
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def _fill(form: bytes, said: dict) -> bytes:
    """The reply form filled in as a clerk would in Word: the result of each content item, the
    numbers, the difficulties and proposals, each in the cell beside its marker."""
    doc = Document(io.BytesIO(form))
    for table in doc.tables:
        for row in table.rows:
            label = row.cells[1].text if len(row.cells) > 2 else row.cells[0].text
            if m := re.search(r"\[nd:([^\]]+)\]", label):
                row.cells[-1].text = said["items"].get(m[1], "")
            elif m := re.search(r"\[([a-z0-9-]+)\]", label):
                row.cells[-1].text = {"kho-khan": said["hard"], "de-xuat": said["ask"]}.get(m[1]) or \
                    said["numbers"].get(m[1], "")
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def event_days(plans, year: int) -> list[dt.date]:
    """The days something happens in the cycles of every plan whose deadlines fall in `year`,
    and the days their reports are compiled."""
    days = set()
    for plan in plans:
        cal = BusinessCalendar(plan.calendar)
        for task in plan.tasks:
            for c, _ in task_cycles(plan, cal, task, (year,)):
                days |= {c.request_on, c.closes_on, *(d for _, _, d in c.followups)}
                if c.escalate_on:
                    days.add(c.escalate_on)
        days |= {day for _, _, day in report_periods(plan, cal, year)}
    return sorted(d for d in days if d.year >= year)


def run(out: Path, year: int, progress=None) -> dict:
    """Run every cycle of `year` of every plan under `out`; returns the paths and counts a
    person wants to see. The caller has pointed the DONDOC_* settings at `out` (see
    `settings_for`). The flows' bodies are called directly (`flow.fn`, no Prefect API server),
    so a year plays in about a minute; `dondoc run` and `serve` run them as Prefect flows."""
    from aiosmtpd.controller import Controller

    from flows.collect import collect
    from flows.dispatch import dispatch
    from flows.escalate import escalate
    from flows.report import report

    settings = Settings()
    plans = read_plans(settings.config)
    world = World(plans, Path((settings.inbox or "").removeprefix("maildir:")), {p.issuer.email for p in plans},
                  sent=out / "hop-thu")
    world.record = lambda day, key, form: _record(world.plans[key.plan], settings, day, key, form)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    os.environ["DONDOC_SMTP_PORT"] = str(port)
    server = Controller(world, hostname="127.0.0.1", port=port)
    server.start()
    stages = event_days(plans, year)
    last = stages[-1]
    reports: dict[str, list[dict]] = {}
    done = 0
    numbers: dict[str, int] = {}
    warnings: list[str] = []
    try:
        day = stages[0]
        while day <= last:
            world.day = day
            world.release()
            asyncio.run(collect.fn(today=day))
            if day in stages:
                asyncio.run(dispatch.fn(today=day))
                asyncio.run(escalate.fn(today=day))
                issued, warned = issue_drafts(world, plans, out, numbers)
                warnings += warned
                if issued:   # registered: the units receive them now
                    asyncio.run(dispatch.fn(today=day))
                    asyncio.run(escalate.fn(today=day))
                for pid, built in asyncio.run(report.fn(today=day, when_due=True)).items():
                    reports.setdefault(pid, []).extend(built)
            done += 1
            if progress:
                progress(day, done)
            upcoming = [d for d in stages if d > day] + [d for d, _ in world.pending if d > day]
            day = min(upcoming) if upcoming else last + dt.timedelta(days=1)
    finally:
        server.stop()
    escalations = [m for m in world.letters if "".join(str(m.get("X-Dondoc-Key", "")).split()).endswith("/escalation")]
    return {"letters": str(settings.out), "mailbox": str(out / "hop-thu"), "days": done, "last_day": last,
            "reports": reports,
            "files": [f for built in reports.values() for r in built for f in r["files"]],
            "escalations": [str(email.header.make_header(email.header.decode_header(m["Subject"])))
                            for m in escalations],
            "sent": len(world.letters), "issued": sum(numbers.values()), "warnings": warnings}


def _record(plan, settings, day: dt.date, key: Key, form: bytes | None) -> None:
    """`dondoc record` for the Sở's own division: its filled form, by hand, on `day`."""
    from dondoc.collector import record_file
    from dondoc.ledger import Ledger
    assert key.task and key.unit, key
    record_file(plan, Ledger(settings.db), settings.data, key.period, key.task, key.unit, day,
                "Phiếu báo cáo.docx" if form else None, form)


def settings_for(out: Path) -> None:
    """Point every DONDOC_* setting of this process at `out` (the demo never touches var/)."""
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ.update(DONDOC_DB=str(out / "dondoc.db"), DONDOC_OUT=str(out / "out"), DONDOC_DATA=str(out / "data"),
                      DONDOC_INBOX=f"maildir:{out / 'Maildir'}", DONDOC_SMTP_HOST="127.0.0.1",
                      DONDOC_SMTP_SECURITY="none", DONDOC_SMTP_BACKOFF="0.1")
