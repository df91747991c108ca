"""Reading replies, pure: literal messages in, data out."""
from __future__ import annotations

import io
import zipfile

import pytest

from models.inbound import match_reply, safe_filename, vet
from models.keys import Key
from models.mailparse import parse_reply

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
    ("x" * 300 + ".docx", "x" * 115 + ".docx"),
    ("", "tep-dinh-kem"),
])
def test_attachment_names_cannot_leave_their_folder(name, safe):
    assert safe_filename(name) == safe


def test_attachments_are_vetted():
    assert vet("a.exe", b"MZ") == "loại tệp .exe không được nhận"
    assert vet("a.pdf", b"x" * 2048, __import__("models.inbound").inbound.Limits(max_bytes=1024)).startswith("tệp quá lớn")
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
