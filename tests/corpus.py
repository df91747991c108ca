"""Replies written the way real clients write them, each with where it must end.

The cycle is 2025's: Dovecot replaces an INTERNALDATE in the future by the time of the
APPEND, so arrival times must lie in the past whatever day the tests run.

`build(mid)` takes a function giving the Message-ID we sent for (task, unit, stage) and
returns [(name, raw bytes, arrival, expected)], where expected is (status, unit, task).
"""
from __future__ import annotations

import base64
import datetime as dt
import io
import zipfile
from email.message import EmailMessage
from email.utils import format_datetime

from docx import Document

PLAN = "hoc-tap-suot-doi"
TZ = dt.timezone(dt.timedelta(hours=7))
YEAR = 2025
ON_TIME = dt.datetime(YEAR, 12, 1, 9, 30, tzinfo=TZ)
LATE = dt.datetime(YEAR, 12, 8, 10, 0, tzinfo=TZ)
DOCX_CT = ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document")


def tag(task: str, unit: str) -> str:
    return f"[{PLAN}/{YEAR}/{task}/{unit}]"


def report_docx(text: str = "Báo cáo kết quả thực hiện năm 2026") -> bytes:
    doc = Document()
    doc.add_paragraph(text)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def filled_form(form: bytes, values: dict[str, str]) -> bytes:
    doc = Document(io.BytesIO(form))
    for row in doc.tables[0].rows[1:]:
        for key, value in values.items():
            if f"[{key}]" in row.cells[1].text:
                row.cells[3].text = value
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def xlsx() -> bytes:
    from openpyxl import Workbook
    wb = Workbook()
    wb.active.append(["Chỉ tiêu", "Số lượng"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}


def to1258(text: str) -> bytes:
    """Windows-1258 as old clients write it: vowel shapes precomposed, tone marks combining."""
    import unicodedata
    out = []
    for ch in text:
        d = unicodedata.normalize("NFD", ch)
        base = unicodedata.normalize("NFC", "".join(c for c in d if c not in TONES))
        out.append(base + "".join(c for c in d if c in TONES))
    return "".join(out).encode("cp1258")


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def message(sender, subject, body, *, mid=None, irt=None, refs=None, date=ON_TIME, html=None,
            attachments=(), headers=None, name=None):
    m = EmailMessage()
    m["From"] = f"{name} <{sender}>" if name else sender
    m["To"] = "Sở Thông tin và Truyền thông <dondoc@stttt.daknong.example>"
    m["Subject"] = subject
    m["Date"] = format_datetime(date)
    if mid:
        m["Message-ID"] = mid
    if irt:
        m["In-Reply-To"] = irt
    if refs:
        m["References"] = refs
    for k, v in (headers or {}).items():
        m[k] = v
    if body is not None:
        m.set_content(body)
    if html is not None:
        if body is None:
            m.set_content(html, subtype="html")
        else:
            m.add_alternative(html, subtype="html")
    for filename, data, ctype in attachments:
        m.add_attachment(data, *ctype, filename=filename)
    return bytes(m)


def build(mid, form: bytes):
    """mid(task, unit, stage='request') -> our Message-ID."""
    out = []

    def add(name, raw, expected, arrival=ON_TIME):
        out.append((name, raw, arrival, expected))

    t = "truyen-thong-bao-chi"
    gmail = message(
        "vanthu@baodaknong.example",
        f"Re: {tag(t, 'bao-dak-nong')} V/v báo cáo kết quả truyền thông về học tập suốt đời năm 2026",
        "Kính gửi Sở Thông tin và Truyền thông,\n\nBáo Đắk Nông gửi báo cáo kết quả năm 2026 (đính kèm).\n\n"
        "Trân trọng,\nBan Thư ký tòa soạn\n\nVào Th 3, 1 thg 12, 2026 vào lúc 08:00 Sở Thông tin và Truyền thông "
        "<dondoc@stttt.daknong.example>\nđã viết:\n> Kính gửi: Báo Đắk Nông.\n> Đề nghị báo cáo...\n",
        mid="<CAGmail-1@mail.gmail.example>", irt=mid(t, "bao-dak-nong"), refs=mid(t, "bao-dak-nong"),
        attachments=[("Báo cáo kết quả truyền thông năm 2026.docx", report_docx(), DOCX_CT)],
        name="Báo Đắk Nông")
    add("gmail reply with a Vietnamese .docx name", gmail, ("matched", "bao-dak-nong", t))
    add("the same message delivered twice", gmail, ("duplicate", "bao-dak-nong", t))
    add("outlook reply, late, References only", message(
        "vanthu@ptth.daknong.example", f"TL: {tag(t, 'dai-ptth')} V/v báo cáo kết quả",
        "Đài gửi báo cáo.\n\nTừ: Sở Thông tin và Truyền thông <dondoc@stttt.daknong.example>\n"
        "Đã gửi: Thứ Năm, 5 tháng 11, 2026 8:00 SA\nĐến: vanthu@ptth.daknong.example\n"
        "Chủ đề: [..] V/v báo cáo\n\nKính gửi...\n",
        mid="<DB7PR01MB@outlook.example>", refs=f"{mid(t, 'dai-ptth')}", date=LATE,
        attachments=[("BC_Dai_PTTH_2026.pdf", PDF, ("application", "pdf"))]),
        ("matched", "dai-ptth", t), LATE)
    add("thunderbird reply with an .xlsx", message(
        "bientap@congttdt.daknong.example", f"Re: {tag(t, 'cong-ttdt')} V/v báo cáo",
        "Gửi Sở số liệu kèm theo.\n\nOn 05/11/2026 08:00, Sở Thông tin và Truyền thông wrote:\n> Kính gửi\n",
        mid="<tb-1@congttdt.daknong.example>", irt=mid(t, "cong-ttdt"),
        attachments=[("so-lieu.xlsx", xlsx(),
                      ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"))]),
        ("matched", "cong-ttdt", t))
    add("phone reply matched by the subject tag alone", message(
        "ttcntt@stttt.daknong.example", f"Re: {tag(t, 'trung-tam-cntt')} V/v báo cáo",
        "Trung tâm gửi ảnh báo cáo.\n\nĐược gửi từ iPhone của tôi\n",
        mid="<iphone-1@stttt.daknong.example.phone>",
        attachments=[("IMG_0001.jpg", b"\xff\xd8\xff\xe0fake-jpeg", ("image", "jpeg"))]),
        ("matched", "trung-tam-cntt", t))

    s = "so-nganh-dang-tai"
    add("the filled reply form", message(
        "vanthu@svhttdl.daknong.example", f"Re: {tag(s, 'so-vhttdl')} V/v báo cáo",
        "Sở VH-TT-DL gửi phiếu số liệu.\n", mid="<form-1@svhttdl.daknong.example>", irt=mid(s, "so-vhttdl"),
        attachments=[("Phiếu số liệu - Sở Văn hóa, Thể thao và Du lịch.docx",
                      filled_form(form, {"van-ban": "12", "tin-bai": "1.250", "an-pham": "7"}), DOCX_CT)]),
        ("matched", "so-vhttdl", s))
    add("numbers in the body, no attachment", message(
        "vanthu@sgddt.daknong.example", f"Re: {tag(s, 'so-gddt')} V/v báo cáo",
        "Sở Giáo dục và Đào tạo báo cáo số liệu:\nVăn bản đăng tải trên trang thông tin điện tử: 4\n"
        "Tin, bài, ảnh đã đăng, phát: 15\n\nThân ái,\nVăn thư\n", mid="<body-1@sgddt.daknong.example>",
        irt=mid(s, "so-gddt")),
        ("matched", "so-gddt", s))
    add("html only, quoted in a blockquote", message(
        "vanthu@sldtbxh.daknong.example", f"Re: {tag(s, 'so-ldtbxh')} V/v báo cáo", None,
        html="<html><body><p>Kính gửi Sở,</p><p>Sở LĐ-TB&amp;XH gửi báo cáo.</p>"
             "<div class=\"gmail_quote\"><blockquote>Kính gửi: Sở Lao động...</blockquote></div></body></html>",
        mid="<html-1@sldtbxh.daknong.example>", irt=mid(s, "so-ldtbxh"),
        attachments=[("bao-cao.pdf", PDF, ("application", "pdf"))]),
        ("matched", "so-ldtbxh", s))
    cp1258_body = to1258("Sở Tư pháp gửi báo cáo kết quả năm 2026.\r\n")
    raw1258 = (b"From: vanthu@stp.daknong.example\r\nTo: dondoc@stttt.daknong.example\r\n"
               b"Subject: =?windows-1258?Q?Re:_" + tag(s, "so-tu-phap").encode() + b"_V/v_b=E1o_c=E1o?=\r\n"
               b"Message-ID: <cp1258-1@stp.daknong.example>\r\nIn-Reply-To: " + mid(s, "so-tu-phap").encode() +
               b"\r\nDate: " + format_datetime(ON_TIME).encode() + b"\r\nMIME-Version: 1.0\r\n"
               b"Content-Type: multipart/mixed; boundary=\"b1258\"\r\n\r\n--b1258\r\n"
               b"Content-Type: text/plain; charset=windows-1258\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
               + cp1258_body + b"--b1258\r\nContent-Type: application/pdf\r\n"
               b"Content-Disposition: attachment; filename=\"bc.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
               + base64.encodebytes(PDF).replace(b"\n", b"\r\n") + b"--b1258--\r\n")
    add("windows-1258 body", raw1258, ("matched", "so-tu-phap", s))
    import unicodedata
    from email.header import Header
    nfd = message("vanthu@skhcn.daknong.example", "SUBJECT",
                  unicodedata.normalize("NFD", "Sở Khoa học và Công nghệ gửi báo cáo.\n"),
                  mid="<nfd-1@skhcn.daknong.example>", irt=mid(s, "so-khcn"),
                  name="Nguyễn Thị Mường Khương Phòng Văn thư",
                  attachments=[("bc.docx", report_docx(), DOCX_CT)])
    subject = Header(unicodedata.normalize("NFD", f"Re: {tag(s, 'so-khcn')} V/v báo cáo"), "utf-8").encode()
    add("NFD text and a split encoded-word name", nfd.replace(b"Subject: SUBJECT", b"Subject: " + subject.encode()),
        ("matched", "so-khcn", s))
    add("reply to the reminder (References holds both)", message(
        "vanthu@bdt.daknong.example", f"Re: Re: {tag(s, 'ban-dan-toc')} V/v nhắc báo cáo",
        "Ban Dân tộc gửi báo cáo.\n", mid="<rem-1@bdt.daknong.example>",
        refs=f"{mid(s, 'ban-dan-toc')} {mid(s, 'ban-dan-toc', 'reminder-1')}",
        irt=mid(s, "ban-dan-toc", "reminder-1"), attachments=[("bc.pdf", PDF, ("application", "pdf"))]),
        ("matched", "ban-dan-toc", s))
    add("path traversal in an attachment name", message(
        "vanphong@tinhdoan.daknong.example", f"Re: {tag(s, 'tinh-doan')} V/v báo cáo", "Gửi báo cáo.\n",
        mid="<trav-1@tinhdoan.daknong.example>", irt=mid(s, "tinh-doan"),
        attachments=[("../../../etc/cron.d/bao-cao.docx", report_docx(), DOCX_CT)]),
        ("matched", "tinh-doan", s))
    add("an .exe is refused, the .pdf kept", message(
        "vanthu@mttq.daknong.example", f"Re: {tag(s, 'mttq')} V/v báo cáo", "Gửi báo cáo.\n",
        mid="<exe-1@mttq.daknong.example>", irt=mid(s, "mttq"),
        attachments=[("baocao.exe", b"MZ\x90\x00", ("application", "octet-stream")),
                     ("baocao.pdf", PDF, ("application", "pdf"))]),
        ("matched", "mttq", s))
    big = b"%PDF-1.4\n" + b"0" * (1536 * 1024)
    add("an oversized attachment is refused, the small one kept", message(
        "vanphong@khuyenhoc.daknong.example", f"Re: {tag(s, 'hoi-khuyen-hoc')} V/v báo cáo", "Gửi báo cáo.\n",
        mid="<big-1@khuyenhoc.daknong.example>", irt=mid(s, "hoi-khuyen-hoc"),
        attachments=[("scan-lon.pdf", big, ("application", "pdf")), ("bc.docx", report_docx(), DOCX_CT)]),
        ("matched", "hoi-khuyen-hoc", s))
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/document.xml", b"\x00" * (64 * 1024 * 1024))
    add("a zip bomb dressed as .docx, nothing else", message(
        "vanphong@hoiphunu.daknong.example", f"Re: {tag(s, 'hoi-lhpn')} V/v báo cáo", "Gửi báo cáo.\n",
        mid="<bomb-1@hoiphunu.daknong.example>", irt=mid(s, "hoi-lhpn"),
        attachments=[("bao-cao.docx", bomb.getvalue(), DOCX_CT)]),
        ("triage", "hoi-lhpn", s))
    add("from a registered address, another unit's tag", message(
        "vanthu@syt.daknong.example", f"Re: {tag(s, 'so-nnptnt')} V/v báo cáo", "Gửi nhầm.\n",
        mid="<wrong-1@syt.daknong.example>", attachments=[("bc.pdf", PDF, ("application", "pdf"))]),
        ("triage", "so-nnptnt", s))
    add("registered sender, no tag and no reference", message(
        "vanthu@snnptnt.daknong.example", "Báo cáo năm 2026", "Gửi Sở báo cáo.\n",
        mid="<notag-1@snnptnt.daknong.example>", attachments=[("bc.pdf", PDF, ("application", "pdf"))]),
        ("triage", "so-nnptnt", None))

    h = "huyen-tuyen-truyen"
    add("forwarded chain from a colleague in the unit's domain", message(
        "vanphong@gianghia.daknong.example", f"Fwd: {tag(h, 'ubnd-gia-nghia')} V/v báo cáo",
        "Chuyển Sở báo cáo của thành phố.\n\n---------- Forwarded message ---------\nTừ: Phòng VH-TT\n"
        "Ngày: 30/11/2026\nTiêu đề: báo cáo\n\nNội dung cũ\n", mid="<fwd-1@gianghia.daknong.example>",
        attachments=[("Báo cáo UBND TP Gia Nghĩa.docx", report_docx(), DOCX_CT)]),
        ("matched", "ubnd-gia-nghia", h))
    add("Exchange out-of-office", message(
        "vanthu@cujut.daknong.example", f"Trả lời tự động: {tag(h, 'ubnd-cu-jut')} V/v báo cáo",
        "Tôi đang nghỉ phép đến 10/12.\n", mid="<ooo-1@cujut.daknong.example>", irt=mid(h, "ubnd-cu-jut"),
        headers={"X-MS-Exchange-Inbox-Rules-Loop": "vanthu@cujut.daknong.example"}),
        ("ooo", "ubnd-cu-jut", h))
    add("Zimbra vacation", message(
        "vanthu@dakglong.daknong.example", f"Re: {tag(h, 'ubnd-dak-glong')} V/v báo cáo",
        "Vắng mặt.\n", mid="<ooo-2@dakglong.daknong.example>", irt=mid(h, "ubnd-dak-glong"),
        headers={"Auto-Submitted": "auto-replied (zimbra; vacation)", "Precedence": "bulk"}),
        ("ooo", "ubnd-dak-glong", h))
    dsn = {"From": "Mail Delivery System <MAILER-DAEMON@mx.daknong.example>", "To": "dondoc@stttt.daknong.example",
           "Subject": "Undelivered Mail Returned to Sender", "Message-ID": "<dsn-1@mx.daknong.example>",
           "Date": format_datetime(ON_TIME)}
    raw_dsn = (f"From: {dsn['From']}\r\nTo: {dsn['To']}\r\nSubject: {dsn['Subject']}\r\n"
               f"Message-ID: {dsn['Message-ID']}\r\n"
               f"Date: {dsn['Date']}\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
               'Content-Type: multipart/report; report-type=delivery-status; boundary="dsnb"\r\n\r\n'
               "--dsnb\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
               "--dsnb\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.daknong.example\r\n\r\n"
               "Final-Recipient: rfc822; vanthu@dakmil.daknong.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
               "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n"
               f"--dsnb\r\nContent-Type: message/rfc822\r\n\r\nMessage-ID: {mid(h, 'ubnd-dak-mil')}\r\n"
               "Subject: V/v bao cao\r\n\r\n...\r\n--dsnb--\r\n").encode()
    add("a DSN bounce", raw_dsn, ("bounce", None, None))
    add("unregistered address carrying a valid tag", message(
        "ai-do@thu-ca-nhan.example", f"Re: {tag(h, 'ubnd-dak-song')} V/v báo cáo", "Tôi gửi hộ báo cáo.\n",
        mid="<stranger-1@thu-ca-nhan.example>", attachments=[("bc.pdf", PDF, ("application", "pdf"))]),
        ("triage", "ubnd-dak-song", h))
    add("no Message-ID at all", message(
        "vanthu@krongno.daknong.example", f"Re: {tag(h, 'ubnd-krong-no')} V/v báo cáo", "Gửi báo cáo.\n",
        attachments=[("bc.pdf", PDF, ("application", "pdf"))]),
        ("matched", "ubnd-krong-no", h))
    malformed = (b"From: vanthu@tuyduc.daknong.example\r\nSubject: Re: " + tag(h, "ubnd-tuy-duc").encode() +
                 b" V/v\r\nMessage-ID: <broken-1@tuyduc.daknong.example>\r\nMIME-Version: 1.0\r\n"
                 b"Content-Type: multipart/mixed; boundary=\"nope\"\r\nDate: not a date\r\n\r\n"
                 b"--other\r\nContent-Type: application/pdf; name=\"x.pdf\"\r\n"
                 b"Content-Transfer-Encoding: base64\r\n\r\n"
                 b"!!!not base64!!!\r\n")
    add("malformed MIME", malformed, ("triage", "ubnd-tuy-duc", h))
    add("two different tags in one subject", message(
        "vanthu@dakrlap.daknong.example", f"Re: {tag(h, 'ubnd-dak-rlap')} {tag(h, 'ubnd-dak-song')} V/v",
        "Gửi.\n", mid="<two-1@dakrlap.daknong.example>", attachments=[("bc.pdf", PDF, ("application", "pdf"))]),
        ("triage", None, None))
    add("a mailing list newsletter", message(
        "news@bantin.example", "Bản tin tuần", "Tin tức...\n", mid="<news-1@bantin.example>",
        headers={"List-Unsubscribe": "<mailto:unsub@bantin.example>", "Precedence": "list"}),
        ("ignored", None, None))
    # -- what units really write (the replies issue): body-only reports, cover notes, updates --
    add("a report written in the body, no attachment", message(
        "vanthu@snv.daknong.example", f"Trả lời: {tag(s, 'so-noi-vu')} V/v báo cáo",
        "Kính gửi Sở Thông tin và Truyền thông,\n\nSở Nội vụ xin báo cáo kết quả thực hiện năm 2025 như sau: "
        "đã đăng tải 6 văn bản về xây dựng xã hội học tập trên Trang thông tin điện tử của Sở; tổ chức 2 buổi "
        "sinh hoạt chuyên đề cho công chức về học tập suốt đời; phát hành bản tin nội bộ có chuyên mục học tập.\n"
        "Tin, bài, ảnh đã đăng, phát: khoảng 20\n\nTrân trọng,\nVăn phòng Sở Nội vụ\n",
        mid="<body-2@snv.daknong.example>", irt=mid(s, "so-noi-vu")),
        ("matched", "so-noi-vu", s))
    add("TL: prefix from the unit's address, a PDF", message(
        "vanthu@syt.daknong.example", f"TL: {tag(s, 'so-y-te')} V/v báo cáo", "Sở Y tế gửi báo cáo kết quả.\n",
        mid="<tl-1@syt.daknong.example>", irt=mid(s, "so-y-te"),
        attachments=[("Bao cao So Y te.pdf", PDF, ("application", "pdf"))]),
        ("matched", "so-y-te", s))
    add("a cover note with nothing attached", message(
        "tongbientap@baodaknong.example", f"Re: {tag(t, 'bao-dak-nong')} V/v báo cáo", "Em gửi báo cáo ạ.\n",
        mid="<cover-1@baodaknong.example>", irt=mid(t, "bao-dak-nong")),
        ("triage", "bao-dak-nong", t))
    add("says attached, but only a refused .rar", message(
        "giamdoc@ptth.daknong.example", f"Re: {tag(t, 'dai-ptth')} V/v báo cáo",
        "Đài gửi báo cáo đính kèm.\n", mid="<rar-1@ptth.daknong.example>", irt=mid(t, "dai-ptth"),
        attachments=[("baocao.rar", b"Rar!\x1a\x07\x00", ("application", "x-rar-compressed"))]),
        ("triage", "dai-ptth", t))
    add("corrected figures sent again: the later report replaces the earlier", message(
        "vanthu@sgddt.daknong.example", f"Re: {tag(s, 'so-gddt')} V/v báo cáo (bổ sung số liệu)",
        "Sở Giáo dục và Đào tạo gửi lại số liệu đã chỉnh sửa:\nVăn bản đăng tải trên trang thông tin điện tử: 5\n"
        "Tin, bài, ảnh đã đăng, phát: 60\n", mid="<body-1b@sgddt.daknong.example>", irt=mid(s, "so-gddt"),
        date=ON_TIME + dt.timedelta(days=2)),
        ("matched", "so-gddt", s), ON_TIME + dt.timedelta(days=2))
    add("Gmail vacation reply from the unit", message(
        "vanthu@sgddt.daknong.example", "Vacation: đang nghỉ phép", "Tôi nghỉ phép đến 15/12.\n",
        mid="<vac-1@sgddt.daknong.example>", irt=mid(s, "so-gddt"),
        headers={"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"}),
        ("ooo", "so-gddt", s))
    add("a forged out-of-office from a stranger, with a tag", message(
        "ke-gia-mao@thu-ca-nhan.example", f"Auto: {tag(h, 'ubnd-dak-mil')} vắng mặt", "Vắng mặt.\n",
        mid="<fake-ooo@thu-ca-nhan.example>", headers={"Auto-Submitted": "auto-replied"}),
        ("ignored", None, None))
    add("DMARC failed per our server: not the unit's report", message(
        "vanthu@krongno.daknong.example", f"Re: {tag(h, 'ubnd-krong-no')} V/v báo cáo", "Gửi báo cáo.\n",
        mid="<spoof-1@evil.example>", headers={
            "Authentication-Results": "mx.stttt.daknong.example; spf=fail smtp.mailfrom=evil.example; dmarc=fail"},
        attachments=[("bc.pdf", PDF, ("application", "pdf"))]),
        ("triage", "ubnd-krong-no", h))
    add("a display-name trick: the unit's address shown, another behind it", message(
        "ke-gia-mao@evil.example", f"Re: {tag(h, 'ubnd-dak-song')} V/v báo cáo", "Gửi báo cáo.\n",
        mid="<trick-1@evil.example>", name="vanthu@daksong.daknong.example",
        attachments=[("bc.pdf", PDF, ("application", "pdf"))]),
        ("triage", None, None))
    add("Outlook in English from a unit, a .docx", message(
        "vanphong@hoiphunu.daknong.example", f"RE: {tag(s, 'hoi-lhpn')} V/v báo cáo", "Please find the report.\n\n"
        "From: So TTTT <dondoc@stttt.daknong.example>\nSent: Thursday, November 5, 2025 8:00 AM\n"
        "To: vanphong@hoiphunu.daknong.example\nSubject: V/v báo cáo\n\nKính gửi…\n",
        mid="<en-1@hoiphunu.daknong.example>", irt=mid(s, "hoi-lhpn"),
        attachments=[("Bao cao Hoi LHPN.docx", report_docx("Hội LHPN tỉnh: kết quả tuyên truyền năm 2025"), DOCX_CT)]),
        ("matched", "hoi-lhpn", s))
    qmail = (f"From: MAILER-DAEMON@mx2.daknong.example\r\nTo: dondoc@stttt.daknong.example\r\n"
             f"Subject: failure notice\r\nMessage-ID: <qmail-1@mx2.daknong.example>\r\n"
             f"Date: {format_datetime(ON_TIME)}\r\n\r\nHi. This is the qmail-send program at mx2.daknong.example.\r\n"
             "I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
             "This is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n"
             "<vanthu@dakrlap.daknong.example>:\r\nSorry, no mailbox here by that name. (#5.1.1)\r\n\r\n"
             "--- Below this line is a copy of the message.\r\n\r\n"
             f"Message-ID: {mid(h, 'ubnd-dak-rlap')}\r\nTo: vanthu@dakrlap.daknong.example\r\n"
             "Subject: V/v bao cao\r\n\r\n...\r\n").encode()
    add("a qmail bounce, our Message-ID quoted in its body", qmail, ("bounce", None, None))
    add("an old Exchange bounce that names nothing", message(
        "postmaster@mail.syt.daknong.example", "Undeliverable: V/v báo cáo",
        "Delivery has failed to these recipients or groups.\n", mid="<exch-1@mail.syt.daknong.example>"),
        ("triage", None, None))
    add("a fake DSN from a stranger's postmaster, without our Message-ID", message(
        "postmaster@evil.example", "Delivery Status Notification (Failure)",
        "Delivery to the following recipient failed permanently:\n\n     vanthu@gianghia.daknong.example\n\n"
        "Technical details of permanent failure: 550 5.1.1 user unknown\n", mid="<fake-dsn@evil.example>"),
        ("triage", None, None))
    add("our own letter coming back", message(
        "dondoc@stttt.daknong.example", f"{tag(t, 'bao-dak-nong')} V/v báo cáo", "...\n",
        mid="<abc.request@stttt.daknong.example>"),
        ("ignored", None, None))
    return out
