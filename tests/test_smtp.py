"""The sender's own rules: the rate limit, and which answers are retried."""
from __future__ import annotations

import asyncio

import aiosmtplib
import pytest

from dondoc.smtp import (
    Outgoing,
    SessionRefused,
    SmtpConfig,
    _classify,
    _RateLimit,
    _session,
    address_problem,
    send_all,
    wire_ready,
)


def test_the_rate_limit_lets_a_minutes_worth_through_then_holds():
    async def run():
        limit = _RateLimit(3)
        for _ in range(3):
            await asyncio.wait_for(limit.wait(), 0.5)          # within the minute's allowance
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(limit.wait(), 0.2)          # the fourth waits ~20 s for a token
    asyncio.run(run())


@pytest.mark.parametrize("exc,permanent", [
    (aiosmtplib.SMTPResponseException(451, "4.7.1 try later"), False),
    (aiosmtplib.SMTPResponseException(552, "5.3.4 too big"), True),
    (aiosmtplib.SMTPServerDisconnected("gone"), False),
    (ConnectionRefusedError(111, "refused"), False),
    (aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(550, "no such user", "a@b.example")]), True),
    (aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(450, "mailbox busy", "a@b.example")]), False),
])
def test_only_transient_answers_are_retried(exc, permanent):
    assert _classify(exc).permanent is permanent


def test_the_password_never_shows_in_a_repr():
    cfg = SmtpConfig("mail.example", 587, "vanthu", "bi-mat-123")
    assert "bi-mat-123" not in repr(cfg) and "bi-mat-123" not in str(cfg)


@pytest.mark.parametrize("exc,refused", [
    (aiosmtplib.SMTPAuthenticationError(535, "5.7.8 bad credentials"), True),
    (aiosmtplib.SMTPSenderRefused(530, "5.7.0 authentication required", "a@b.example"), True),
    (aiosmtplib.SMTPSenderRefused(550, "5.7.1 not allowed", "a@b.example"), True),
    (aiosmtplib.SMTPSenderRefused(451, "4.3.0 later", "a@b.example"), False),
    (aiosmtplib.SMTPException("No suitable authentication method found"), True),
    (aiosmtplib.SMTPServerDisconnected("gone"), False),
])
def test_a_session_refused_for_good_stops_and_a_temporary_one_is_retried(exc, refused):
    error = _session(exc, SmtpConfig("mail.example", 25), "a@b.example")
    assert error.session and isinstance(error, SessionRefused) is refused
    assert ("thư chưa gửi vẫn chờ" in str(error)) is refused


def _send(items, enable_utf8: bool):
    """send_all against a real aiosmtpd, with or without SMTPUTF8; returns (outcomes, accepted)."""
    from aiosmtpd.controller import Controller

    from tests.conftest import Mailbox
    from tests.servers import free_port
    box = Mailbox()
    ctl = Controller(box, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=enable_utf8)
    ctl.start()
    outcomes = {}
    try:
        asyncio.run(send_all(items, SmtpConfig("127.0.0.1", ctl.port, security="none", connections=1, backoff=0),
                             lambda item: True, lambda item, error, detail: outcomes.setdefault(item.key, error)))
    finally:
        ctl.stop()
    return outcomes, box


def test_an_address_with_diacritics_fails_that_message_unless_the_server_takes_smtputf8():
    data = b"From: a@b.example\r\nTo: x@y.example\r\nSubject: t\r\n\r\nxin chao\r\n"
    items = [Outgoing("one", "dondoc@b.example", ("vănthư@ubnd.example",), data),
             Outgoing("two", "dondoc@b.example", ("vanthu@ubnd.example",), data)]
    outcomes, box = _send(items, enable_utf8=False)
    assert outcomes["two"] is None and len(box.accepted) == 1          # the next one still goes
    assert outcomes["one"].permanent and not outcomes["one"].session
    assert "vănthư@ubnd.example có chữ có dấu" in str(outcomes["one"]) and "SMTPUTF8" in str(outcomes["one"])
    outcomes, box = _send(items, enable_utf8=True)
    assert outcomes == {"one": None, "two": None} and len(box.accepted) == 2


def test_a_plain_address_passes_without_parsing_and_any_other_is_parsed_as_aiosmtplib_does():
    from aiosmtplib.email import parse_address
    plain = ["vanthu@ubnd.daknong.example", "dondoc+b-123-abcdef0123@stttt.daknong.example", "a.b_c%d=e-f@x-y.vn"]
    for address in plain:   # the fast path says only what aiosmtplib's own parsing would
        assert address_problem(address) is None and parse_address(address) == address
    for other in ("a@b.example>\r\nRCPT TO:<x@y.example", "a b@c.example", '"x\ny"', "Văn thư <a@b.example>"):
        try:   # anything else gets aiosmtplib's own verdict
            parse_address(other)
            refused = False
        except ValueError:
            refused = True
        assert ("không hợp lệ" in (address_problem(other, smtputf8=True) or "")) == refused, other
    assert address_problem("a b@c.example")   # one of them refused
    assert "SMTPUTF8" in (address_problem("vănthư@ubnd.example") or "")


def test_a_message_in_wire_form_is_written_as_is_and_any_other_is_normalised_first():
    wire = b"Subject: t\r\n\r\nxin ch\xc3\xa0o\r\n"
    loose = b"Subject: t\n\n. a line that begins with a period\nxin chao"
    assert wire_ready(wire) and not wire_ready(loose)
    assert not wire_ready(b"Subject: t\r\n\r\n.x\r\n") and not wire_ready(b"a\rb\r\n")
    items = [Outgoing("wire", "dondoc@b.example", ("a@y.example",), wire),
             Outgoing("loose", "dondoc@b.example", ("a@y.example",), loose)]
    outcomes, box = _send(items, enable_utf8=False)
    assert outcomes == {"wire": None, "loose": None}
    assert box.raw[0] == wire                      # byte for byte
    assert box.raw[1] == b"Subject: t\r\n\r\n. a line that begins with a period\r\nxin chao\r\n"
