"""Read a unit's mail: `parse_reply(raw) -> Reply`, pure (bytes in, data out).

Decodes the charsets seen in Vietnamese mail (UTF-8, windows-1258, VISCII-era clients,
RFC 2047 and 2231, NFD text) into NFC text, turns HTML-only mail into text, strips quoted
text and signatures (Vietnamese quote headers included), lists attachments, and says what
kind of mail it is: a reply, an automatic message, an out-of-office, or a bounce (with the
addresses that failed). Never raises on malformed mail: what could not be read is listed
in `defects`.
"""
from __future__ import annotations

import datetime as dt
import email
import re
import unicodedata
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.utils import getaddresses, parsedate_to_datetime
from html import unescape
from html.parser import HTMLParser

from mailparser_reply import EmailReplyParser
from mailparser_reply.constants import MAIL_LANGUAGES, QUOTED_MATCH_INCLUDE

# Vietnamese for mail-parser-reply (it ships none): Gmail's "Vào …, … <a@b> đã viết:" (the
# address may wrap), Outlook's header block, the usual sign-offs and "sent from" lines.
MAIL_LANGUAGES.setdefault("vi", {
    "wrote_header": r"^(" + QUOTED_MATCH_INCLUDE + r"Vào\s(?:.+?\s?.+?)\s?đã viết:)$",
    "from_header": r"((?:(?:^|\n|\n" + QUOTED_MATCH_INCLUDE
                   + r")[* ]*(?:Từ|Đã gửi|Gửi|Đến|Tới|Chủ đề|Tiêu đề|Ngày|Cc|From|Sent|To|Subject|Date):[ *]*"
                   r"(?:\s{,2}).*){2,}(?:\n.*){,1})",
    "disclaimers": [r"Lưu ý:", r"Thông báo bảo mật:"],
    "signatures": ["Trân trọng", "Thân ái", "Kính thư", "Trân trọng cảm ơn"],
    "sent_from": r"Được gửi từ|Gửi từ iPhone|Gửi từ điện thoại|Sent from my",
})
_REPLY_PARSER = EmailReplyParser(languages=["vi", "en"])
_FORWARD = re.compile(r"^-{5,}\s*(?:Forwarded message|Thư được chuyển tiếp|Tin nhắn gốc|Original Message)\s*-{5,}",
                      re.I | re.M)
_OOO_SUBJECT = re.compile(r"^(?:automatic reply|auto(?:matic)?[- ]?reply|out of (?:the )?office|vắng mặt|"
                          r"trả lời tự động|thư trả lời tự động|tự động trả lời|auto:)", re.I)


@dataclass(frozen=True)
class Attachment:
    filename: str          # as the sender named it, decoded (never used as a path as is)
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Bounce:
    address: str
    status: str            # e.g. 5.1.1
    action: str
    diagnostic: str


@dataclass(frozen=True)
class Reply:
    message_id: str | None
    refs: tuple[str, ...]  # In-Reply-To, then References, newest last
    subject: str
    from_addr: str
    from_name: str
    date: dt.datetime | None
    text: str              # the whole text part, decoded
    reply_text: str        # without quoted text and signature
    attachments: tuple[Attachment, ...]
    kind: str              # reply | auto | ooo | bounce
    bounces: tuple[Bounce, ...] = ()
    bounced_message_id: str | None = None
    defects: tuple[str, ...] = field(default=())


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _header(msg, name: str) -> str:
    """A header decoded the way the sender meant it: adjacent encoded-words joined
    (policy.default would keep a space inside a split Vietnamese name), then NFC."""
    raw = next((v for k, v in msg.raw_items() if k.lower() == name.lower()), None)
    if raw is None:
        return ""
    if any("\udc80" <= ch <= "\udcff" for ch in raw):   # raw 8-bit (UTF-8) in a header, as phones send
        raw = raw.encode("ascii", "surrogateescape").decode("utf-8", "replace")
    try:
        text = str(make_header(decode_header(raw)))
    except (LookupError, UnicodeError, ValueError):
        text = raw
    return nfc(" ".join(text.split()))


def _ids(value: str) -> list[str]:
    return re.findall(r"<[^<>\s]+>", value or "")


def _decode(part) -> str:
    payload = part.get_payload(decode=True) or b""
    charset = (part.get_content_charset() or "utf-8").lower()
    for cs in (charset, "utf-8", "cp1258", "latin-1"):
        try:
            return nfc(payload.decode(cs))
        except (LookupError, UnicodeDecodeError):
            continue
    return ""


class _HtmlText(HTMLParser):
    """HTML to text; quoted blocks (blockquote, Gmail's and Outlook's quote containers) are left out."""
    BLOCK = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "table"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.stack: list[bool] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        quoted = tag in ("blockquote", "style", "script", "head") or "gmail_quote" in (a.get("class") or "") \
            or (a.get("id") or "").startswith(("divRplyFwdMsg", "appendonsend"))
        if tag not in ("br", "img", "meta", "hr", "input"):
            self.stack.append(quoted)
            self.skip += quoted
        if tag in self.BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag):
        if tag in ("br", "img", "meta", "hr", "input"):
            return
        if self.stack:
            self.skip -= self.stack.pop()
        if tag in self.BLOCK:
            self.out.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.out.append(data)


def html_to_text(html: str) -> str:
    p = _HtmlText()
    try:
        p.feed(html)
        p.close()
    except Exception:   # malformed HTML: fall back to dropping the tags
        return nfc(unescape(re.sub(r"<[^>]+>", " ", html)))
    lines = [" ".join(line.split()) for line in "".join(p.out).splitlines()]
    return nfc(re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip())


def strip_quotes(text: str) -> str:
    """The sender's own words: quoted replies, forwarded chains and signatures removed."""
    text = _FORWARD.split(text, 1)[0]
    try:
        replies = _REPLY_PARSER.read(text).replies
        latest = replies[0].body if replies else text
    except Exception:   # a pathological body: keep it whole rather than lose it
        latest = text
    lines = [line for line in latest.splitlines() if not line.lstrip().startswith(">")]
    return "\n".join(lines).strip()


def _bounces(msg) -> tuple[tuple[Bounce, ...], str | None]:
    found, original = [], None
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            for block in part.get_payload():
                rcpt = block.get("Final-Recipient") or block.get("Original-Recipient")
                if not rcpt:
                    continue
                address = str(rcpt).split(";", 1)[-1].strip().strip("<>").lower()
                found.append(Bounce(address, str(block.get("Status", "")).strip(), str(block.get("Action", "")).strip(),
                                    " ".join(str(block.get("Diagnostic-Code", "")).split())))
        elif ctype in ("message/rfc822", "text/rfc822-headers") and original is None:
            inner = part.get_payload()[0] if ctype == "message/rfc822" else email.message_from_string(_decode(part))
            ids = _ids(str(inner.get("Message-ID", "")))
            original = ids[0] if ids else None
    return tuple(found), original


def _kind(msg, subject: str, sender: str, own_domain: str | None) -> str:
    h = {k.lower(): str(v).strip().lower() for k, v in msg.raw_items()}
    if msg.get_content_type() == "multipart/report" and "delivery-status" in h.get("content-type", "") \
            or sender.split("@")[0] in ("mailer-daemon", "postmaster"):
        return "bounce"
    auto = h.get("auto-submitted", "no")
    if "x-ms-exchange-inbox-rules-loop" in h or "x-autoreply" in h or "x-autorespond" in h \
            or auto.startswith("auto-replied") or _OOO_SUBJECT.match(subject):
        return "ooo"
    message_id = _ids(h.get("message-id", ""))
    if auto != "no" or h.get("precedence") in ("bulk", "junk", "list", "auto_reply") \
            or h.get("return-path", "x") == "<>" or "list-unsubscribe" in h or "x-loop" in h \
            or (own_domain and message_id and message_id[0].rstrip(">").endswith("@" + own_domain)):
        return "auto"
    return "reply"


def parse_reply(raw: bytes, own_domain: str | None = None) -> Reply:
    """Everything dondoc needs from one message. `own_domain`: mail whose Message-ID is in
    our domain is our own coming back (a loop), hence automatic."""
    # compat32 parsing: policy.default builds a header object for every header it is asked
    # about, which was most of the time spent here; _header() decodes what we read.
    msg = email.message_from_bytes(raw)
    defects = [type(d).__name__ for d in msg.defects]
    subject = _header(msg, "Subject")
    name, addr = next(iter(getaddresses([_header(msg, "From")])), ("", ""))
    try:
        date = parsedate_to_datetime(_header(msg, "Date")) if _header(msg, "Date") else None
        if date is not None and date.tzinfo is None:
            date = date.replace(tzinfo=dt.timezone.utc)
    except (TypeError, ValueError):
        date, defects = None, defects + ["bad Date"]
    plain, html, attachments = [], [], []
    for part in msg.walk():
        if part.is_multipart() or part.get_content_type().startswith("message/"):
            continue
        try:
            filename = part.get_filename()
            if filename and "=?" in filename:   # RFC 2047 in a parameter: not standard, but common
                filename = str(make_header(decode_header(filename)))
        except Exception:
            filename, defects = None, defects + ["bad filename"]
        disposition = part.get_content_disposition()
        ctype = part.get_content_type()
        if filename or disposition == "attachment":
            try:
                data = part.get_payload(decode=True) or b""
            except Exception:
                data, defects = b"", defects + [f"unreadable part {ctype}"]
            attachments.append(Attachment(nfc(filename or f"untitled.{ctype.split('/')[-1]}"), ctype, data))
        elif ctype == "text/plain":
            plain.append(_decode(part))
        elif ctype == "text/html":
            html.append(_decode(part))
    text = "\n".join(plain) if any(p.strip() for p in plain) else "\n".join(map(html_to_text, html))
    kind = _kind(msg, subject, addr.lower(), own_domain)
    bounces, original = _bounces(msg) if kind == "bounce" else ((), None)
    message_ids = _ids(_header(msg, "Message-ID"))
    refs = _ids(_header(msg, "References")) + _ids(_header(msg, "In-Reply-To"))
    return Reply(message_ids[0] if message_ids else None, tuple(dict.fromkeys(refs)), subject, addr.lower(),
                 nfc(name), date, text, strip_quotes(text), tuple(attachments), kind, bounces, original,
                 tuple(defects))
