"""Read a unit's mail: `parse_reply(raw) -> Reply`, pure (bytes in, data out).

Decodes the charsets seen in Vietnamese mail (UTF-8, windows-1258, VISCII-era clients,
RFC 2047 and 2231, NFD text) into NFC text, turns HTML-only mail into text, strips quoted
text and signatures (Vietnamese quote headers included), lists attachments, and says what
kind of mail it is: a reply, an automatic message, an out-of-office, or a bounce (with the
addresses that failed). Never raises on malformed mail: what could not be read is listed
in `defects`.
"""
from __future__ import annotations

import binascii
import datetime as dt
import email
import email.errors
import email.message
import email.parser
import email.quoprimime
import re
import unicodedata
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.utils import getaddresses, parsedate_to_datetime
from html import unescape
from html.parser import HTMLParser

from models.rules import STAGES

_OOO_SUBJECT = re.compile(r"^(?:automatic reply|auto(?:matic)?[- ]?reply|out of (?:the )?office|vắng mặt|"
                          r"trả lời tự động|thư trả lời tự động|tự động trả lời|auto:)", re.IGNORECASE)


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
    bounces: tuple[Bounce, ...] = ()       # a bounce tied to no address has none: triage
    bounced_message_id: str | None = None  # our message a bounce is about
    defects: tuple[str, ...] = field(default=())
    own: bool = False                      # dondoc sent it: a loop, never a reply
    auth_results: tuple[str, ...] = ()     # Authentication-Results headers, newest first
    sender_problem: str | None = None      # why From gave no usable address (from_addr is then "")


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _firsts(msg) -> dict[str, str]:
    """Each header's first value by its lower-case name: one pass over the headers."""
    out: dict[str, str] = {}
    for k, v in msg.raw_items():
        out.setdefault(k.lower(), v)
    return out


def _header(msg, name: str, firsts: dict[str, str] | None = None) -> str:
    """A header decoded the way the sender meant it: adjacent encoded-words joined
    (policy.default would keep a space inside a split Vietnamese name), then NFC. `firsts`:
    the message's `_firsts`, when the caller reads several headers."""
    raw = (firsts if firsts is not None else _firsts(msg)).get(name.lower())
    if raw is None:
        return ""
    if not raw.isascii() and any("\udc80" <= ch <= "\udcff" for ch in raw):   # raw 8-bit (UTF-8), as phones send
        raw = raw.encode("ascii", "surrogateescape").decode("utf-8", "replace")
    if "=?" not in raw:   # no encoded-word: decode_header would give it back as it is
        return nfc(" ".join(raw.split()))
    text = _utf8_words(raw)
    if text is None:
        try:
            text = str(make_header(decode_header(raw)))
        except (LookupError, UnicodeError, ValueError, email.errors.HeaderParseError):   # a broken encoded-word
            text = raw
    return nfc(" ".join(text.split()))


_ENCODED_WORD = re.compile(r"=\?([^?]*?)\?([qQbB])\?(.*?)\?=", re.MULTILINE)   # email.header.ecre


def _utf8_words(raw: str) -> str | None:
    """`str(make_header(decode_header(raw)))` for an ASCII header whose encoded-words are all
    UTF-8 (as Gmail, Outlook and phones write them), without the email package's Header and
    Charset objects: the same steps (whitespace between two encoded-words dropped, adjacent
    words of one charset joined, a space where encoded and plain text meet). None for any other
    header, or where the email package would raise: the caller then asks the email package."""
    if not raw.isascii():
        return None
    if not _ENCODED_WORD.search(raw):   # decode_header gives it back as it is
        return raw
    words: list[tuple[str, str | None]] = []   # (text, encoding) as decode_header splits them
    for line in raw.splitlines():
        parts = _ENCODED_WORD.split(line)
        words += [(parts[0].lstrip(), None)] if parts[0].lstrip() else []
        for i in range(1, len(parts), 4):
            if parts[i].lower() != "utf-8":
                return None
            words.append((parts[i + 2], parts[i + 1].lower()))
            if parts[i + 3]:
                words.append((parts[i + 3], None))
    drop = {n - 1 for n in range(2, len(words)) if words[n][1] and words[n - 2][1] and words[n - 1][0].isspace()}
    chunks: list[tuple[list[bytes], bool]] = []   # (pieces, encoded): decode_header's collapsed list
    for n, (word, encoding) in enumerate(words):
        if n in drop:
            continue
        if encoding == "q":
            data = email.quoprimime.header_decode(word).encode("latin-1")
        elif encoding == "b":
            try:
                data = binascii.a2b_base64((word + "==="[:4 - len(word) % 4] if len(word) % 4 else word).encode())
            except binascii.Error:   # the email package raises HeaderParseError
                return None
        else:
            data = word.encode("ascii")
        if chunks and chunks[-1][1] == bool(encoding):
            chunks[-1][0].extend((data,) if encoding else (b" ", data))
        else:
            chunks.append(([data], bool(encoding)))
    out: list[str] = []
    last_encoded, last_space = False, False
    for pieces, encoded in chunks:
        try:
            text = b"".join(pieces).decode("utf-8" if encoded else "ascii")
        except UnicodeDecodeError:
            return None
        if out:   # Header.__str__: a space where an encoded word meets plain text without one
            if last_encoded:
                if not encoded and not (text and _nonctext(text[0])):
                    out.append(" ")
            elif encoded and not last_space:
                out.append(" ")
        last_space, last_encoded = bool(text) and _nonctext(text[-1]), encoded
        out.append(text)
    return "".join(out)


def _nonctext(s: str) -> bool:
    return s.isspace() or s in ("(", ")", "\\")


def _ids(value: str) -> list[str]:
    return re.findall(r"<[^<>\s]+>", value or "")


def _filename(part) -> str | None:
    """The part's file name: RFC 2231, or RFC 2047 in a parameter (not standard, but common)."""
    filename = part.get_filename()
    if filename and "=?" in filename:
        filename = str(make_header(decode_header(filename)))
    return filename


_REMEMBERED: dict[tuple, str | None] = {}


def _remembered(read, part, *headers: str) -> str | None:
    """`read(part)`, for a `read` whose answer depends only on the first value of each of
    `headers` (a parameter such as the charset or the file name): worked out once for the same
    values, which most mail repeats (`text/plain; charset="utf-8"`). Short str values only; at
    most 4,096 remembered; an exception is raised again each time, never remembered."""
    values = tuple(part.get(h) for h in headers)
    if not all(v is None or isinstance(v, str) and len(v) <= 1000 for v in values):
        return read(part)
    key = (read, *values)
    if key not in _REMEMBERED:
        if len(_REMEMBERED) >= 4096:
            _REMEMBERED.clear()
        _REMEMBERED[key] = read(part)
    return _REMEMBERED[key]


def _payload(part):
    """`part.get_payload(decode=True)` of a leaf part. A base64 body of ASCII text has its line
    breaks dropped in one pass (the email package splits it into lines and joins them: the
    same bytes) and is decoded as the email package decodes it when it is whole (strict base64,
    no padding missing); anything else is the email package's."""
    payload = getattr(part, "_payload", None)
    if isinstance(payload, str) and payload.isascii() \
            and str(part.get("content-transfer-encoding", "")).lower() == "base64":
        data = payload.encode("ascii").translate(None, b"\r\n")
        if len(data) % 4 == 0:
            try:
                return binascii.a2b_base64(data, strict_mode=True)
            except binascii.Error:
                pass
    return part.get_payload(decode=True)


def _decode(part) -> str:
    payload = _payload(part) or b""
    charset = (_remembered(email.message.Message.get_content_charset, part, "content-type") or "utf-8").lower()
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


# Where a reply's own words end. Each rule is a whole line (after stripping spaces and a leading
# "*" from bold HTML), checked top down; the text is cut at the first line that starts a
# quote, a forwarded message, a phone footer, a sign-off or a disclaimer. Linear in the text.
_WROTE_START = re.compile(r"^(?:Vào|On|Ngày|Le|Am)\b|<[^<>\s]+@[^<>\s]+>?", re.IGNORECASE)
_WROTE_END = re.compile(r"(?:đã viết|viết|wrote|a écrit|schrieb)\s*:\s*$", re.IGNORECASE)
_HEADER_FROM = re.compile(r"^\*?(?:Từ|From|Người gửi)\s*\*?:", re.IGNORECASE)
_HEADER_NEXT = re.compile(r"^\*?(?:Đã gửi|Gửi lúc|Sent|Date|Ngày|Thời gian|Đến|Tới|To|Chủ đề|Tiêu đề|Subject|Cc|"
                          r"Người nhận)\s*\*?:", re.IGNORECASE)
_SEPARATOR = re.compile(r"^(?:[-=_]{2,}\s*[^-=_]{0,40}?(?:original|forwarded|gốc|chuyển tiếp)[^-=_]{0,40}?\s*[-=_]{2,}"
                        r"|_{10,}|--)$", re.IGNORECASE)
_SENT_FROM = re.compile(r"^(?:Được gửi từ|Gửi từ|Sent from|Get Outlook for|Tải Outlook cho)\b", re.IGNORECASE)
_SIGN_OFF = re.compile(r"^(?:Trân trọng(?: cảm ơn)?|Thân ái|Thân mến|Kính thư|"
                       r"(?:Xin |Chân thành |Trân trọng )?c[ảá]m ơn|"
                       r"Kính chúc|Best regards|Kind regards|Regards|Best|Thanks|Thank you|Sincerely|Cheers)"
                       r"(?P<rest>.*)$", re.IGNORECASE)
_DISCLAIMER = re.compile(r"^(?:Lưu ý|Chú ý|Thông báo bảo mật|Tuyên bố miễn trừ|Miễn trừ trách nhiệm|Disclaimer|"
                         r"Confidentiality|CONFIDENTIAL|Notice|This (?:e-?mail|message)|Thư (?:điện tử )?này|"
                         r"Email này|Nội dung thư này)\b", re.IGNORECASE)
_DISCLAIMER_WORDS = re.compile(r"bảo mật|người nhận|confidential|intended|recipient|privileged|miễn trừ", re.IGNORECASE)
_SALUTATION = re.compile(r"^(?:(?P<strong>Kính gửi|Kính gởi|Kính thưa|Thưa|Kính chào|Xin chào|Dear)"
                         r"|Gửi|Gởi|Chào|Hi|Hello)"
                         r"\b.*?(?P<end>[,:!])?$", re.IGNORECASE)


def _salutation(line: str) -> bool:
    """`Kính gửi Sở TT&TT,` / `Dear all` (a strong opening, no full stop) or `Gửi anh Nam,` (a
    weak one, ending in `,` `:` `!`), at most twelve words."""
    m = _SALUTATION.match(line)
    return bool(m and len(line.split()) <= 12 and (m["end"] or m["strong"] and not line.endswith(".")))


def _cut_at(lines: list[str], i: int) -> bool:
    """Whether line `i` starts what is not the sender's own words (see the rules above)."""
    line = lines[i]
    if _SEPARATOR.match(line) or _SENT_FROM.match(line) and len(line.split()) <= 8:
        return True
    if _WROTE_START.search(line):   # "Vào …, X <a@b> đã viết:" over up to three lines (the address wraps)
        joined = line
        for nxt in lines[i + 1:i + 3]:
            if _WROTE_END.search(joined):
                break
            joined += " " + nxt
        if _WROTE_END.search(joined) and len(joined) < 400:
            return True
    if _HEADER_FROM.match(line) and any(_HEADER_NEXT.match(x) for x in lines[i + 1:i + 5]):
        return True
    m = _SIGN_OFF.match(line)
    if m and len(m["rest"].split()) <= 3 and i > 0:
        return True
    return bool(_DISCLAIMER.match(line) and _DISCLAIMER_WORDS.search(" ".join(lines[i:i + 4])))


def own_text(text: str) -> str:
    """The sender's own words in a reply's text, NFC: the text is cut at the first line that
    starts a quote header (Gmail's `Vào …, X <a@b> đã viết:` or `On … wrote:`, the address
    may wrap onto the next lines; an Outlook header block `Từ:/From:` followed by
    `Đã gửi:/Sent:/Đến:/To:/Chủ đề:/Subject:`), a separator (`-----Original Message-----`,
    `-------- Tin nhắn gốc --------`, forwarded-message lines, `____`, `--`), a phone footer
    (`Được gửi từ iPhone của tôi`, `Sent from my iPhone`), a sign-off line (`Trân trọng`,
    `Thân ái`, `Trân trọng cảm ơn`, `Best regards`… followed by at most three words, not
    the first line) or a disclaimer (`Lưu ý:`/`Disclaimer`… within four lines of words such
    as `bảo mật`, `người nhận`, `confidential`); `>` quoted lines and leading salutation
    lines (`Kính gửi …,`, `Dear …,`: at most twelve words, not ending in a full stop) are
    left out. Never raises; linear in the length of the text."""
    lines = [line.strip().strip("\u200b\xa0").strip() for line in nfc(text).replace("\r\n", "\n").split("\n")]
    lines = [line for line in lines if not line.startswith(">")]
    for i in range(len(lines)):
        if lines[i] and _cut_at(lines, i):
            lines = lines[:i]
            break
    while lines and (not lines[0] or _salutation(lines[0])):
        lines.pop(0)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


strip_quotes = own_text   # the former name


_BOUNCE_SUBJECT = re.compile(r"^(?:undeliver|delivery status notification|mail delivery fail|delivery failure|"
                             r"failure notice|returned mail|non-?delivery|"
                             r"không (?:thể )?(?:gửi|chuyển|phát) (?:được )?thư|thư bị trả lại)", re.IGNORECASE)
_BOUNCE_BODY = re.compile(r"This is the qmail-send program|I'm afraid I wasn't able to deliver|"
                          r"could not be delivered to one or more|Delivery has failed to these recipients|"
                          r"wasn't delivered to|following address(?:\(es\))? failed|permanent fatal errors",
                          re.IGNORECASE)
_DELAYED = re.compile(r"\bdelay(?:ed)?\b|will (?:continue to )?retry|warning:", re.IGNORECASE)
# Where a text bounce starts quoting the original message (qmail, exim, Exchange, sendmail).
_ORIGINAL_AT = re.compile(r"Below this line is a copy of the message|This is a copy of the message|"
                          r"Original message headers:|-{3,} ?Original message|-{3,} ?The header of the original|"
                          r"Returned message|----- Transcript of session", re.IGNORECASE)
_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")
_BOUNCE_TEXT = 200_000   # what a bounce's text is read for addresses and the original's headers
_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


def _recipients(headers) -> set[str]:
    return {a.lower() for _, a in getaddresses([str(v) for k in ("To", "Cc") for v in headers.get_all(k, [])]) if a}


def _text_bounces(notice: str, original, skip: set[str]) -> tuple[Bounce, ...]:
    """Addresses a human-readable bounce names as failed: those of the notice (the text before
    the quoted original), not the bounce's own sender and recipient; when the original's
    recipients are known, only those. Status: the first x.y.z code after the address, else
    4.0.0 for a delay notice and 5.0.0 otherwise."""
    wanted = _recipients(original) if original is not None else set()
    delayed = bool(_DELAYED.search(notice))
    out: dict[str, Bounce] = {}
    for m in _ADDRESS.finditer(notice):
        address = m[0].strip(".").lower()
        if address in skip or address in out or wanted and address not in wanted \
                or address.split("@")[0] in ("mailer-daemon", "postmaster"):
            continue
        after = notice[m.end():m.end() + 300]
        code = _STATUS.search(after)
        status = code[1] if code else ("4.0.0" if delayed else "5.0.0")
        line = next((x.strip() for x in after.splitlines() if x.strip(" :<>")), "")
        out[address] = Bounce(address, status, "delayed" if delayed else "failed", " ".join(line.split())[:300])
    return tuple(out.values())


def _bounces(msg, text: str) -> tuple[tuple[Bounce, ...], str | None]:
    """The failed addresses and our original Message-ID: from a standard DSN
    (message/delivery-status) when there is one, else from the notice's text; the original
    from an attached message/rfc822 or text/rfc822-headers part, else from the headers a text
    bounce (qmail, exim) quotes after its notice. No address: ()."""
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
            payload = part.get_payload()
            original = payload[0] if ctype == "message/rfc822" and payload else email.message_from_string(_decode(part))
    text = text[:_BOUNCE_TEXT]
    notice = text
    quoted = _ORIGINAL_AT.search(text)
    if quoted:   # the notice ends on the line before; the original's headers start on the next line
        notice = text[:text.rfind("\n", 0, quoted.start()) + 1]
        if original is None:
            after = text.find("\n", quoted.end())
            original = email.message_from_string(text[after + 1:].lstrip("\r\n") if after >= 0 else "")
    ids = _ids(str(original.get("Message-ID", ""))) if original is not None else []
    if not ids:   # a Message-ID line anywhere in what the bounce quotes
        m = re.search(r"^\s*Message-ID:\s*(<[^<>\s]+>)", text, re.IGNORECASE | re.MULTILINE)
        ids = _ids(m[1]) if m else []
    if not found:
        skip = {a.lower() for _, a in getaddresses(msg.get_all("From", []) + msg.get_all("To", []))}
        if original is not None:
            skip |= {a.lower() for _, a in getaddresses(original.get_all("From", []))}
        found = list(_text_bounces(notice, original, skip))
    return tuple(found), ids[0] if ids else None


def _looks_like_bounce(msg, h: dict, subject: str, sender: str, text: str) -> bool:
    return msg.get_content_type() == "multipart/report" and "delivery-status" in h.get("content-type", "") \
        or sender.split("@")[0] in ("mailer-daemon", "postmaster") \
        or bool(_BOUNCE_SUBJECT.match(subject)) \
        or _bounce_body(text[:4000])


# A piece of each _BOUNCE_BODY phrase made only of characters that ignoring case matches to
# themselves and their ASCII capitals alone (no i, s or k: ı, İ, ſ and the Kelvin sign match
# those): a text the pattern matches has one of them once lower-cased.
_BOUNCE_HINTS = ("program", "able to", "could not", "ed to the", "n't del", "ollow", "permanent fatal")


def _bounce_body(text: str) -> bool:
    """`_BOUNCE_BODY.search(text)`, without running the pattern over text that has none of its phrases."""
    low = text.lower()
    return any(h in low for h in _BOUNCE_HINTS) and _BOUNCE_BODY.search(text) is not None


_OUR_ID = re.compile(r"<[0-9a-z]+\.(?:" + "|".join(STAGES) + r")@([^<>\s]+)>")


def is_own(msg, own_domain: str | None, ours=()) -> bool:
    """Whether dondoc itself sent this message (a loop): it carries our `X-Dondoc-Key`
    header, or its Message-ID is one we sent (`ours`), or has the shape of ours
    (`<token.stage@own_domain>`). A From address in our domain alone is not ours: the
    Sở's own units (its IT centre) write from that domain."""
    if msg.get("X-Dondoc-Key") is not None:
        return True
    ids = _ids(str(msg.get("Message-ID", "")))
    if not ids:
        return False
    m = _OUR_ID.fullmatch(ids[0].lower())
    return ids[0] in ours or bool(own_domain and m and m[1] == own_domain.lower())


def _kind(msg, subject: str, sender: str, text: str, own: bool) -> str:
    h = {k.lower(): str(v).strip().lower() for k, v in msg.raw_items()}
    if own:
        return "auto"
    if _looks_like_bounce(msg, h, subject, sender, text):
        return "bounce"
    auto = h.get("auto-submitted", "no")
    if "x-ms-exchange-inbox-rules-loop" in h or "x-autoreply" in h or "x-autorespond" in h \
            or auto.startswith("auto-replied") or _OOO_SUBJECT.match(subject):
        return "ooo"
    if auto != "no" or h.get("precedence") in ("bulk", "junk", "list", "auto_reply") \
            or h.get("return-path", "x") == "<>" or "list-unsubscribe" in h or "x-loop" in h:
        return "auto"
    return "reply"


_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_FROM = re.compile(rf"(?:(?P<name>[^\s()<>@,:;.\"\[\]\\]+(?: [^\s()<>@,:;.\"\[\]\\]+)*) )?"
                         rf"<(?P<addr>{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>"
                         rf"|(?P<bare>{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)")


def _addresses(value: str) -> list[tuple[str, str]]:
    """`getaddresses([value])`; for the usual From (`Tên <a@b.c>` or `a@b.c`, the name's words
    one space apart with none of the address specials, a dot-atom address) without the
    character-by-character address parser."""
    m = _PLAIN_FROM.fullmatch(value)
    if m is None:
        return getaddresses([value])
    return [(m["name"] or "", m["addr"])] if m["addr"] else [("", m["bare"])]


def _sender(from_header: str) -> tuple[str, str, str | None]:
    """(name, address, problem) of a From header. The address must be the only one in the
    header (display names included: `"unit@x" <attacker@evil>` names two), have one `@`, a
    non-empty local part and a dotted domain; otherwise the address is "" and `problem`
    says why, in Vietnamese."""
    pairs = [(n, a) for n, a in _addresses(from_header) if n or a]
    named = {a.lower().strip(".") for a in _ADDRESS.findall(from_header)}
    if not pairs or "@" not in pairs[0][1]:
        return (pairs[0][0] if pairs else ""), "", "thư không có địa chỉ người gửi"
    name, addr = pairs[0][0], pairs[0][1].lower()
    local, _, domain = addr.partition("@")
    if len(pairs) > 1 or len(named - {addr}) > 0:
        return name, "", f"ô người gửi có nhiều hơn một địa chỉ: {from_header[:200]}"
    if not local or "@" in domain or "." not in domain.strip(".") or not re.fullmatch(r"[a-z0-9.-]+", domain) \
            or re.search(r"[\s<>()\[\]\\,;:\"]", local):
        return name, "", f"địa chỉ người gửi không hợp lệ: {addr[:200]}"
    return name, addr, None


def auth_failed(reply: Reply, authserv_id: str | None = None) -> str | None:
    """Why the receiving server's checks of the sender failed (`spf=fail`, `dkim=fail`,
    `dmarc=fail`), or None. Reads the `Authentication-Results` headers of `reply`, newest
    first: those of `authserv_id` (our server's name) when given, else only the newest one,
    since any header below it may have been written by the sender."""
    results = [r for r in reply.auth_results
               if authserv_id is None or r.split(";", 1)[0].strip().lower() == authserv_id.lower()]
    failed = []
    for result in results[:1] if authserv_id is None else results:
        failed += [f"{m[1].lower()}=fail"
                   for m in re.finditer(r"\b(spf|dkim|dmarc)\s*=\s*fail\b", result, re.IGNORECASE)]
    return "xác thực người gửi không đạt: " + ", ".join(dict.fromkeys(failed)) if failed else None


_HEAD_END = re.compile(rb"\n\r?\n")
_HEADERS = email.parser.Parser()
_MAX_DEPTH = 8
_BARE_CR = re.compile(rb"\r(?!\n)")   # a CR that ends a line by itself
_NAME = re.compile(r"[\041-\071\073-\176]+")   # a header name, as the email package's parser takes it


def message_from_bytes(raw: bytes) -> email.message.Message:
    """`email.message_from_bytes(raw)` (compat32), the same tree, faster for the usual mail:
    a multipart message is cut at its boundaries with byte searches, each part's header block
    is read by `_head` and only the parts' own bytes are decoded to text (a 50 KB attachment
    is one slice, not 700 lines each matched against a boundary pattern compiled for this
    message). Mail of any other shape (message/* parts, a missing boundary, bare CR line
    ends, a header block the parser finds a defect in…) is parsed by the email package."""
    if b"\r" not in raw or _BARE_CR.search(raw) is None:
        msg = _fast(raw, 0)
        if msg is not None:
            return msg
    return email.message_from_bytes(raw)


def _text(data: bytes) -> str:
    """Bytes as the email package reads them: ASCII, any other byte as a surrogate escape."""
    return data.decode("ascii") if data.isascii() else data.decode("ascii", "surrogateescape")


def _head(head: str) -> email.message.Message | None:
    """The Message (no payload yet) of a header block that ends in a line end and has no empty
    line and no bare CR: what `email.parser.Parser().parsestr(head, headersonly=True)` gives
    when it finds no defect, or None for any other shape (a line that is no header, a first
    line that continues none, a `From ` envelope line), which the caller hands to the email
    package. Each header is kept as the parser keeps it (compat32 `header_source_parse`):
    the value after `:` without its leading spaces and tabs, its continuation lines with their
    line ends, the last line end dropped."""
    if head.count("\r") != head.count("\r\n"):   # a bare CR ends a line for the parser
        return None
    msg = email.message.Message()
    lines = head.split("\n")
    if lines.pop() != "":
        return None
    name, value = "", []   # the header being read: its name, its value's lines
    for line in lines:
        if line[:1] in (" ", "\t"):
            if not name:
                return None
            value.append(line)
            continue
        if name:
            msg.set_raw(name, "\n".join(value).rstrip("\r\n"))
        i = line.find(":")
        if i <= 0 or line.startswith("From ") or not _NAME.fullmatch(line, 0, i):
            return None
        name, value = line[:i], [line[i + 1:].lstrip(" \t")]
    if name:
        msg.set_raw(name, "\n".join(value).rstrip("\r\n"))
    return msg


def _fast(data: bytes, depth: int) -> email.message.Message | None:
    """The Message of the raw bytes `data` (see `message_from_bytes`), or None when it is not of
    the plain shape."""
    if data.startswith((b"\n", b"\r\n")):
        head, body = "", data[1 if data[:1] == b"\n" else 2:]
    else:
        end = _HEAD_END.search(data)
        if end is None:
            return None
        head, body = _text(data[:end.start() + 1]), data[end.end():]
    msg = _head(head) if head else None
    if msg is None:
        msg = _HEADERS.parsestr(head, headersonly=True)
        if msg.defects or msg.get_payload():
            return None
    maintype = msg.get_content_maintype()
    if maintype == "message" or depth > _MAX_DEPTH:
        return None
    if maintype != "multipart":
        msg.set_payload(_text(body))
        return msg
    boundary = _remembered(email.message.Message.get_boundary, msg, "content-type")
    if not boundary or msg.get_content_subtype() == "digest" \
            or msg.get("Content-Transfer-Encoding", "7bit").lower() not in ("7bit", "8bit", "binary"):
        return None
    try:
        sep = ("--" + boundary).encode("ascii", "surrogateescape")
    except UnicodeEncodeError:   # a boundary no line of the bytes can carry
        return None
    found = []     # (where the boundary line starts, where the next line starts, closing)

    def line_at(i: int) -> int:   # where the next line that starts with `sep` starts, or -1
        j = body.find(b"\n" + sep, i)
        return j + 1 if j >= 0 else -1
    at = 0 if body.startswith(sep) else line_at(0)
    while at >= 0:
        line_end = body.find(b"\n", at)
        after = body[at + len(sep):len(body) if line_end < 0 else line_end].rstrip(b"\r")
        closing = after.startswith(b"--")
        if not (after[2:] if closing else after).strip(b" \t"):
            found.append((at, len(body) if line_end < 0 else line_end + 1, closing))
            if closing:
                break
        at = line_at(at + len(sep))
    if not found or not found[-1][2]:
        return None
    parts: list[email.message.Message | str] = []
    for (_, start, _), (stop, _, _) in zip(found, found[1:], strict=False):
        chunk = body[start:stop]
        chunk = chunk[:-2] if chunk.endswith(b"\r\n") else chunk[:-1] if chunk.endswith(b"\n") else chunk
        part = _fast(chunk, depth + 1)
        if part is None:
            return None
        parts.append(part)
    msg.set_payload(parts)
    preamble = body[:found[0][0]]
    msg.preamble = _text(preamble[:-2] if preamble.endswith(b"\r\n") else preamble.rstrip(b"\n")) if preamble else None
    msg.epilogue = _text(body[found[-1][1]:])
    return msg


def parse_reply(raw: bytes, own_domain: str | None = None, ours=()) -> Reply:
    """Everything dondoc needs from one message. Mail dondoc sent itself coming back (see
    `is_own`: our header, one of `ours` Message-IDs, or our Message-ID shape in
    `own_domain`) is `own` and automatic."""
    # compat32 parsing: policy.default builds a header object for every header it is asked
    # about, which was most of the time spent here; _header() decodes what we read.
    msg = message_from_bytes(raw)
    defects = [type(d).__name__ for d in msg.defects]
    firsts = _firsts(msg)
    subject = _header(msg, "Subject", firsts)
    name, addr, problem = _sender(_header(msg, "From", firsts))
    try:
        date_text = _header(msg, "Date", firsts)
        date = parsedate_to_datetime(date_text) if date_text else None
        if date is not None and date.tzinfo is None:
            date = date.replace(tzinfo=dt.UTC)
    except (TypeError, ValueError):
        date, defects = None, defects + ["bad Date"]
    plain, html, attachments = [], [], []
    for part in msg.walk():
        if part.is_multipart() or part.get_content_type().startswith("message/"):
            continue
        try:
            filename = _remembered(_filename, part, "content-disposition", "content-type")
        except Exception:
            filename, defects = None, defects + ["bad filename"]
        disposition = part.get_content_disposition()
        ctype = part.get_content_type()
        if filename or disposition == "attachment":
            try:
                payload = _payload(part)   # bytes (or None) for a leaf part
                data = payload if isinstance(payload, bytes) else b""
            except Exception:
                data, defects = b"", defects + [f"unreadable part {ctype}"]
            attachments.append(Attachment(nfc(filename or f"untitled.{ctype.split('/')[-1]}"), ctype, data))
        elif ctype == "text/plain":
            plain.append(_decode(part))
        elif ctype == "text/html":
            html.append(_decode(part))
    text = "\n".join(plain) if any(p.strip() for p in plain) else "\n".join(map(html_to_text, html))
    own = is_own(msg, own_domain, ours)
    kind = _kind(msg, subject, addr, text, own)
    bounces, original = _bounces(msg, text) if kind == "bounce" else ((), None)
    message_ids = _ids(_header(msg, "Message-ID", firsts))
    refs = _ids(_header(msg, "References", firsts)) + _ids(_header(msg, "In-Reply-To", firsts))
    auth = tuple(" ".join(str(v).split()) for v in msg.get_all("Authentication-Results", []))
    return Reply(message_ids[0] if message_ids else None, tuple(dict.fromkeys(refs)), subject, addr,
                 nfc(name), date, text, own_text(text), tuple(attachments), kind, bounces, original,
                 tuple(defects), own, auth, problem)
