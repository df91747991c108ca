"""Reading replies, pure: literal messages in, data out."""
from __future__ import annotations

import io
import zipfile

import pytest

from models.inbound import match_reply, mentions_attachment, reads_as_report, safe_filename, vet
from models.keys import Key
from models.mailparse import auth_failed, own_text, parse_reply

HEAD = b"From: Van thu <vanthu@som.example>\r\nTo: dondoc@stttt.example\r\nMessage-ID: <r1@som.example>\r\n"


def test_windows_1258_is_decoded_and_normalised():
    # "Báo cáo" with the tone marks stored as combining characters, as windows-1258 does
    body = "Ba\u0301o ca\u0301o đa\u0303 gư\u0309i".encode("cp1258")
    raw = HEAD + b"Subject: x\r\nContent-Type: text/plain; charset=windows-1258\r\n\r\n" + body
    r = parse_reply(raw)
    assert r.text == "Báo cáo đã gửi" and r.kind == "reply"


def test_a_name_split_across_encoded_words_is_joined():
    raw = (b"From: =?utf-8?q?M=C6=B0?= =?utf-8?q?=E1=BB=9Dng_Kh=C6=B0=C6=A1ng?= <a@som.example>\r\n"
           b"Subject: =?utf-8?q?B=C3=A1o_c=C3=A1o?=\r\n\r\nx")
    r = parse_reply(raw)
    assert (r.from_name, r.from_addr, r.subject) == ("Mường Khương", "a@som.example", "Báo cáo")


@pytest.mark.parametrize("body,kept", [
    ("Gửi Sở báo cáo.\n\nVào Th 4, 2 thg 12, 2026 vào lúc 09:15 Sở TTTT <dondoc@stttt.example>\nđã viết:\n> cũ\n",
     "Gửi Sở báo cáo."),
    ("Gửi báo cáo.\n\nTừ: Sở TTTT <dondoc@stttt.example>\nĐã gửi: Thứ Tư, 2 tháng 12, 2026\nĐến: a@b.example\n"
     "Chủ đề: V/v\n\ncũ\n", "Gửi báo cáo."),
    ("Số liệu kèm theo.\n\nTrân trọng,\nNguyễn Văn A\nPhòng Văn thư\n", "Số liệu kèm theo."),
    ("Đã gửi.\n\nĐược gửi từ iPhone của tôi\n", "Đã gửi."),
    ("Chuyển tiếp.\n\n---------- Forwarded message ---------\nFrom: x\n\ncũ\n", "Chuyển tiếp."),
])
def test_quotes_and_signatures_are_stripped(body, kept):
    raw = HEAD + b"Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body.encode()
    assert parse_reply(raw).reply_text == kept


def test_html_only_mail_becomes_text_without_the_quote():
    html = ("<div>Kính gửi Sở,<br>Gửi báo cáo &amp; số liệu.</div>"
            "<div class='gmail_quote'><blockquote>Thư cũ</blockquote></div>")
    raw = HEAD + b"Subject: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html.encode()
    assert parse_reply(raw).text == "Kính gửi Sở,\nGửi báo cáo & số liệu."


@pytest.mark.parametrize("headers,kind", [
    (b"Auto-Submitted: auto-replied (zimbra; vacation)\r\nPrecedence: bulk\r\n", "ooo"),
    (b"X-MS-Exchange-Inbox-Rules-Loop: vanthu@som.example\r\n", "ooo"),
    (b"Auto-Submitted: auto-generated\r\n", "auto"),
    (b"Precedence: list\r\n", "auto"),
    (b"List-Unsubscribe: <mailto:u@x.example>\r\n", "auto"),
    (b"Return-Path: <>\r\n", "auto"),
    (b"X-Auto-Response-Suppress: All\r\n", "reply"),     # a request, not a sign
    (b"Auto-Submitted: no\r\n", "reply"),
])
def test_automatic_mail_is_recognised(headers, kind):
    raw = HEAD + headers + b"Subject: x\r\n\r\nbody"
    assert parse_reply(raw).kind == kind


def test_out_of_office_by_subject_and_a_loop_of_our_own_mail():
    assert parse_reply(HEAD + "Subject: Trả lời tự động: V/v báo cáo\r\n\r\nx".encode()).kind == "ooo"
    own = b"From: x@y.example\r\nMessage-ID: <a.request@stttt.example>\r\nSubject: x\r\n\r\nx"
    assert parse_reply(own, own_domain="stttt.example").kind == "auto"


def test_a_bounce_names_the_address_and_our_message():
    raw = (b"From: MAILER-DAEMON@mx.example\r\nSubject: Undelivered\r\nContent-Type: multipart/report; "
           b"report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n"
           b"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n"
           b"Final-Recipient: rfc822; vanthu@som.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
           b"Diagnostic-Code: smtp; 550 no such user\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n"
           b"Message-ID: <ours.request@stttt.example>\r\nSubject: V/v\r\n\r\nx\r\n--b--\r\n")
    r = parse_reply(raw)
    assert r.kind == "bounce" and r.bounced_message_id == "<ours.request@stttt.example>"
    assert [(b.address, b.status, b.action) for b in r.bounces] == [("vanthu@som.example", "5.1.1", "failed")]


@pytest.mark.parametrize("name,safe", [
    ("../../etc/passwd.docx", "passwd.docx"),
    ("C:\\Users\\a\\Báo cáo.docx", "Báo cáo.docx"),
    ("..hidden.pdf", "hidden.pdf"),
    ("a\x00b\r\nc.pdf", "abc.pdf"),
    ("x" * 300 + ".docx", "x" * 195 + ".docx"),
    ("", "tep-dinh-kem"),
    (".pdf", "tep-dinh-kem.pdf"),
    ("bao-cao\u202etxt.exe\u202c.pdf", "bao-caotxt.exe.pdf"),
    ("\u2066Báo cáo\u2069\u200e\u200f.docx", "Báo cáo.docx"),
    ("Ba\u0301o ca\u0301o.docx", "Báo cáo.docx"),
    ("ă" * 150 + ".docx", "ă" * 97 + ".docx"),
])
def test_attachment_names_cannot_leave_their_folder(name, safe):
    assert safe_filename(name) == safe


def test_attachments_are_vetted():
    assert vet("a.exe", b"MZ") == "loại tệp .exe không được nhận"
    assert vet("a.pdf", b"x" * 2048,
               __import__("models.inbound").inbound.Limits(max_bytes=1024)).startswith("tệp quá lớn")
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/document.xml", b"\0" * (20 << 20))
    assert vet("a.docx", bomb.getvalue()).startswith("tệp nén bất thường")
    assert vet("a.docx", b"not a zip") == "tệp nén hỏng, không mở được"


def reply(sender, subject="x", refs=()):
    raw = (f"From: {sender}\r\nSubject: {subject}\r\n" + (f"References: {' '.join(refs)}\r\n" if refs else "")
           + "\r\nx").encode()
    return parse_reply(raw)


def test_matching_order_and_the_sender_check(mini):
    sent = {"<req.som@stttt.example>": Key("kh-test", "2026", "bao-cao-nam", "som")}
    plans = {"kh-test": mini}
    m = match_reply(reply("vanthu@som.example", refs=["<req.som@stttt.example>"]), plans, sent)
    assert (m.status, m.unit_id, m.via) == ("matched", "som", "references")
    m = match_reply(reply("tbt@som.example", "Re: [kh-test/2026/bao-cao-nam/som] V/v"), plans, sent)
    assert (m.status, m.unit_id, m.via) == ("matched", "som", "tag")          # the head speaks for the unit
    m = match_reply(reply("vanthu@muon.example", "Re: [kh-test/2026/bao-cao-nam/som] V/v"), plans, sent)
    assert m.status == "triage" and "không phải địa chỉ đã đăng ký của Báo Sớm" in m.reason
    m = match_reply(reply("ai@la.example", refs=["<req.som@stttt.example>"]), plans, sent)
    assert m.status == "triage" and m.unit_id == "som"
    m = match_reply(reply("vanthu@som.example", "Báo cáo năm"), plans, sent)
    assert m.status == "triage" and m.unit_id == "som" and "không có mã" in m.reason
    m = match_reply(reply("vanthu@som.example", "[kh-test/2026/bao-cao-nam/som] [kh-test/2026/bao-cao-nam/muon]"),
                    plans, sent)
    assert m.status == "triage" and "nhiều mã" in m.reason


def test_a_name_of_70_emoji_can_be_written(tmp_path):
    name = safe_filename("😀" * 70 + ".pdf")
    assert len(name.encode()) <= 200 and name.endswith(".pdf") and name.startswith("😀")
    (tmp_path / name).write_bytes(b"%PDF")
    assert (tmp_path / name).read_bytes() == b"%PDF"


@pytest.mark.parametrize("body,kept", [
    ("Kính gửi Sở TT&TT,\n\nĐơn vị gửi báo cáo.\n\nVào Th 4, 2 thg 12, 2026 vào lúc 09:15 Sở Thông tin và Truyền thông "
     "<\ndondoc@stttt.example> đã viết:\n> cũ\n", "Đơn vị gửi báo cáo."),
    ("Sent the report.\n\nOn Wed, Dec 2, 2026 at 9:15 AM Sở TTTT <dondoc@stttt.example>\nwrote:\n> old\n",
     "Sent the report."),
    ("Gửi báo cáo.\n\n*From:* Sở TTTT <dondoc@stttt.example>\n*Sent:* Wednesday, December 2, 2026\n*To:* a@b.example\n"
     "*Subject:* V/v\n\nold\n", "Gửi báo cáo."),
    ("Đài gửi báo cáo.\n\n-----Original Message-----\nFrom: x\nSent: y\n\ncũ\n", "Đài gửi báo cáo."),
    ("Đài gửi báo cáo.\n\n-------- Tin nhắn gốc --------\nTừ: x\nNgày: y\n\ncũ\n", "Đài gửi báo cáo."),
    ("Đã gửi ảnh.\n\nSent from my iPhone\n", "Đã gửi ảnh."),
    ("Đơn vị gửi số liệu.\nTrân trọng cảm ơn!\nNguyễn Văn A\n", "Đơn vị gửi số liệu."),
    ("Đơn vị gửi số liệu.\n\nThân ái,\nVăn thư\n", "Đơn vị gửi số liệu."),
    ("Đã đăng 15 tin, bài.\n\nLưu ý: Thư điện tử này có thể chứa thông tin bảo mật, chỉ dành cho người nhận.\n",
     "Đã đăng 15 tin, bài."),
    ("Đã đăng 15 tin, bài.\n\nThis email and any attachments are confidential and intended solely for the addressee.\n",
     "Đã đăng 15 tin, bài."),
    ("Lưu ý: số liệu tính đến ngày 30/11.\nĐã đăng 15 tin.", "Lưu ý: số liệu tính đến ngày 30/11.\nĐã đăng 15 tin."),
    ("Trân trọng cảm ơn Sở đã nhắc, đơn vị xin gửi báo cáo kèm theo.",
     "Trân trọng cảm ơn Sở đã nhắc, đơn vị xin gửi báo cáo kèm theo."),
    ("Gửi Sở báo cáo.\n", "Gửi Sở báo cáo."),
    ("Dear all,\nReport attached.\n\nBest regards,\nAn\n", "Report attached."),
])
def test_own_text_of_a_reply(body, kept):
    assert own_text(body) == kept


def test_a_windows_1258_html_body_and_nfd_text_come_out_nfc():
    html = "<html><head><meta charset='windows-1258'></head><body><p>Kính gửi Sở,</p><p>Đã đăng 15 tin bài.</p>" \
           "<p>Trân trọng,</p><blockquote>cũ</blockquote></body></html>"
    import unicodedata

    from tests.corpus import to1258
    raw = HEAD + b"Subject: x\r\nContent-Type: text/html; charset=windows-1258\r\n\r\n" + to1258(html)
    r = parse_reply(raw)
    assert r.reply_text == "Đã đăng 15 tin bài." and unicodedata.is_normalized("NFC", r.text)
    nfd = HEAD + b"Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + \
        unicodedata.normalize("NFD", "Kính gửi Sở,\nĐã tổ chức 3 hội nghị.\nTrân trọng,\nAn").encode()
    assert parse_reply(nfd).reply_text == "Đã tổ chức 3 hội nghị."


QMAIL = (b"From: MAILER-DAEMON@mx.som.example\r\nTo: dondoc@stttt.example\r\nSubject: failure notice\r\n\r\n"
         b"Hi. This is the qmail-send program at mx.som.example.\r\nI'm afraid I wasn't able to deliver your message "
         b"to the following addresses.\r\nThis is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n"
         b"<vanthu@som.example>:\r\nSorry, no mailbox here by that name. (#5.1.1)\r\n\r\n"
         b"--- Below this line is a copy of the message.\r\n\r\nReturn-Path: <dondoc@stttt.example>\r\n"
         b"From: dondoc@stttt.example\r\nTo: vanthu@som.example\r\nMessage-ID: <ab12.request@stttt.example>\r\n"
         b"Subject: V/v\r\n\r\nKinh gui\r\n")
EXCHANGE = (b"From: postmaster@som.example\r\nTo: dondoc@stttt.example\r\nSubject: Undeliverable: V/v bao cao\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"
            b"Content-Type: text/plain\r\n\r\nDelivery has failed to these recipients or groups:\r\n\r\n"
            b"vanthu@som.example\r\nThe e-mail address you entered couldn't be found.\r\n\r\n--x\r\n"
            b"Content-Type: message/rfc822\r\n\r\nFrom: dondoc@stttt.example\r\nTo: Van thu <vanthu@som.example>, "
            b"tbt@som.example\r\nMessage-ID: <cd34.reminder@stttt.example>\r\nSubject: V/v\r\n\r\nx\r\n--x--\r\n")
EXIM = (b"From: Mail Delivery System <Mailer-Daemon@mx.som.example>\r\nTo: dondoc@stttt.example\r\n"
        b"Subject: Mail delivery failed: returning message to sender\r\n\r\n"
        b"This message was created automatically by mail delivery software.\r\n\r\nA message that you sent could "
        b"not be delivered to one or more of its\r\nrecipients. This is a permanent error. The following address(es) "
        b"failed:\r\n\r\n  vanthu@som.example\r\n    host mx.som.example said: 550 5.1.1 User unknown\r\n\r\n"
        b"------ This is a copy of the message, including all the headers. ------\r\n\r\n"
        b"Message-ID: <ef56.urging@stttt.example>\r\nTo: vanthu@som.example\r\n\r\nx\r\n")


@pytest.mark.parametrize("raw,address,status,original", [
    (QMAIL, "vanthu@som.example", "5.1.1", "<ab12.request@stttt.example>"),
    (EXCHANGE, "vanthu@som.example", "5.0.0", "<cd34.reminder@stttt.example>"),
    (EXIM, "vanthu@som.example", "5.1.1", "<ef56.urging@stttt.example>"),
])
def test_bounces_without_a_delivery_status_part(raw, address, status, original):
    r = parse_reply(raw)
    assert r.kind == "bounce" and r.bounced_message_id == original
    assert [(b.address, b.status, b.action) for b in r.bounces] == [(address, status, "failed")]


@pytest.mark.parametrize("head,body", [
    (b"From: Mail Delivery Subsystem <mailer-daemon@googlemail.example>\r\n"
     b"Subject: Delivery Status Notification (Failure)\r\n", b"Your message could not be delivered.\r\n"),
    (b"From: it@som.example\r\nSubject: Undelivered Mail Returned to Sender\r\n", b"The mail system\r\n"),
])
def test_a_bounce_tied_to_no_address_has_no_bounces(head, body):
    r = parse_reply(head + b"To: dondoc@stttt.example\r\n\r\n" + body)
    assert r.kind == "bounce" and r.bounces == () and r.bounced_message_id is None


def test_only_what_dondoc_sent_is_own_not_mail_from_our_domain():
    def kind(headers: bytes, **kw):
        r = parse_reply(b"From: ttcntt@stttt.example\r\nSubject: Re: V/v\r\n" + headers + b"\r\nBao cao", **kw)
        return r.kind, r.own
    assert kind(b"Message-ID: <CAB1x2@stttt.example>\r\n", own_domain="stttt.example") == ("reply", False)
    assert kind(b"Message-ID: <1.2.1700.JavaMail.zimbra@stttt.example>\r\n", own_domain="stttt.example") \
        == ("reply", False)
    assert kind(b"Message-ID: <9f3a.request@stttt.example>\r\n", own_domain="stttt.example") == ("auto", True)
    assert kind(b"Message-ID: <x@y.example>\r\nX-Dondoc-Key: kh/2026/t/u/ack\r\nAuto-Submitted: auto-replied\r\n") \
        == ("auto", True)
    assert kind(b"Message-ID: <sent-1@relay.example>\r\n", ours={"<sent-1@relay.example>"}) == ("auto", True)


def test_authentication_results_of_the_receiving_server():
    def reply(*results):
        return parse_reply(b"".join(b"Authentication-Results: " + r.encode() + b"\r\n" for r in results)
                           + HEAD + b"Subject: x\r\n\r\nx")
    assert auth_failed(reply("mx.stttt.example; spf=pass smtp.mailfrom=som.example; dkim=pass; dmarc=pass")) is None
    assert auth_failed(reply("mx.stttt.example; spf=fail smtp.mailfrom=som.example; dkim=none; dmarc=fail "
                             "(p=reject) header.from=som.example")) \
        == "xác thực người gửi không đạt: spf=fail, dmarc=fail"
    assert auth_failed(reply("mx.stttt.example; spf=softfail; dkim=pass")) is None
    forged = reply("mx.stttt.example; dkim=fail", "mx.stttt.example; dkim=pass")   # the newest is on top
    assert auth_failed(forged) == "xác thực người gửi không đạt: dkim=fail"
    below = reply("mx.stttt.example; spf=pass", "evil.example; spf=fail")          # written by the sender
    assert auth_failed(below) is None and auth_failed(below, "evil.example") is not None


@pytest.mark.parametrize("header,addr,problem", [
    ("Văn thư <vanthu@som.example>", "vanthu@som.example", None),
    ("\"vanthu@som.example\" <vanthu@som.example>", "vanthu@som.example", None),
    ("unit@x)<attacker@evil.example>", "", "nhiều hơn một địa chỉ"),
    ("\"vanthu@som.example\" <attacker@evil.example>", "", "nhiều hơn một địa chỉ"),
    ("a@som.example, b@evil.example", "", "nhiều hơn một địa chỉ"),
    ("Văn thư <vanthu@localhost>", "", "không hợp lệ"),
    ("Văn thư", "", "không có địa chỉ"),
])
def test_the_sender_must_be_one_real_address(header, addr, problem):
    r = parse_reply(f"From: {header}\r\nSubject: x\r\n\r\nx".encode())
    assert r.from_addr == addr and (problem in r.sender_problem if problem else r.sender_problem is None)


REPORTS = [
    "Đã đăng 15 tin, bài trên cổng thông tin điện tử.",
    "Trong năm 2026 đơn vị đã tổ chức 3 hội nghị tuyên truyền.",
    "Tin, bài: 15\nVăn bản: 4",
    "Kết quả: phát sóng 24 chương trình về học tập suốt đời.",
    "Đơn vị đã tuyên truyền 120 lượt trên loa truyền thanh cơ sở.",
    "Tổ chức 5 buổi nói chuyện chuyên đề với 350 người tham gia.",
    "Da dang 15 tin bai tren cong thong tin.",                    # typed without diacritics
    "Số liệu: 12 văn bản, 1.250 tin bài, 7 ấn phẩm.",
    "Tỷ lệ hoàn thành đạt 87,5%.",
    "Báo cáo nhanh: đã phát hành 2.000 tờ rơi.",
    ("Trong năm, đơn vị đã phối hợp với các cơ quan báo chí tuyên truyền sâu rộng về xây dựng xã hội học tập, "
     "lồng ghép "
     "nội dung học tập suốt đời vào các chương trình phát thanh, truyền hình hằng tuần và các buổi sinh hoạt chi bộ."),
    "Kính gửi Sở,\nĐơn vị báo cáo: đã đăng 40 tin bài, tổ chức 2 hội thảo.\nTrân trọng.",
    "Chuyên mục học tập suốt đời: 52 kỳ phát sóng.",
    "Thực hiện được 9 lớp bồi dưỡng cho 420 học viên.",
    "Em gửi báo cáo kèm theo. Ngoài ra đơn vị đã đăng 30 tin bài trên trang.",
]
COVER_NOTES = [
    "Em gửi báo cáo",
    "Đã nhận",
    "Kính gửi Sở, đơn vị gửi báo cáo kết quả thực hiện nhiệm vụ năm 2026.",
    "xin lỗi vì gửi muộn",
    "Gửi Sở báo cáo.",
    "Đơn vị gửi báo cáo theo Công văn số 123/STTTT-VP ngày 05/11/2026.",
    "Báo cáo kết quả năm 2026 (đính kèm).",
    "Em gửi lại báo cáo đã bổ sung ạ.",
    "Dạ em đã nhận được thư, sẽ gửi báo cáo trước ngày 05/12.",
    ("Kính gửi Sở Thông tin và Truyền thông, Ban Dân tộc tỉnh xin gửi báo cáo kết quả thực hiện nhiệm vụ năm 2026 theo "
     "yêu cầu tại Công văn số 123/STTTT-VP, đề nghị Sở xem xét tổng hợp. Trân trọng."),
    "Gửi kèm file báo cáo 6 tháng.",
    "Trung tâm gửi ảnh báo cáo.",
    "Cảm ơn Sở.",
    "Xin lỗi Sở vì chậm trễ, đơn vị gửi báo cáo năm 2026.",
    "Em gui bao cao a",
    "OK",
]


@pytest.mark.parametrize("text", REPORTS)
def test_a_report_in_the_body_reads_as_a_report(text):
    assert reads_as_report(text)


@pytest.mark.parametrize("text", COVER_NOTES)
def test_a_cover_note_does_not(text):
    assert not reads_as_report(text)


@pytest.mark.parametrize("text,mentions", [
    ("Báo cáo đính kèm.", True), ("Đơn vị gửi kèm báo cáo.", True), ("Xem file đính kèm", True),
    ("Số liệu kèm theo.", True), ("Please find the report attached.", True), ("em gui kem file", True),
    ("Đã đăng 15 tin bài.", False), ("Đã nhận", False), ("Kèm", False),
])
def test_mentions_an_attachment(text, mentions):
    assert mentions_attachment(text) is mentions
