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


class _Scripted:
    """An aiosmtpd handler answering MAIL, RCPT and DATA as scripted per address (the sender,
    the recipient, the first recipient), hanging on the `hang` ones ("RCPT a@x.example"); it logs
    every command."""

    def __init__(self, answers: dict[str, str], hang: frozenset[str] = frozenset(), slow: float = 0):
        self.answers, self.hang, self.slow, self.log = answers, hang, slow, []

    async def _answer(self, command: str, address: str, default: str | None):
        self.log.append((command, address))
        if f"{command} {address}" in self.hang:
            await asyncio.Event().wait()   # until the client gives up and hangs up
        await asyncio.sleep(self.slow)     # a slow server: each answer takes this long
        return self.answers.get(f"{command} {address}", default)

    async def handle_MAIL(self, server, session, envelope, address, options):
        self.log.append(("OPTIONS", " ".join(options)))
        answer = await self._answer("MAIL", address, None)
        if answer is None:
            envelope.mail_from, answer = address, "250 OK"
        return answer

    async def handle_RCPT(self, server, session, envelope, address, options):
        answer = await self._answer("RCPT", address, None)
        if answer is None:
            envelope.rcpt_tos.append(address)
            answer = "250 OK"
        return answer

    async def handle_DATA(self, server, session, envelope):
        return await self._answer("DATA", envelope.rcpt_tos[0], "250 2.0.0 accepted")

    async def handle_RSET(self, server, session, envelope):
        self.log.append(("RSET", ""))
        return "250 OK"


def _outcomes(items, answers, hang=frozenset(), slow: float = 0):
    """send_all over one connection to a scripted aiosmtpd: (what `done` said per key, what
    send_all raised, the server's log)."""
    from aiosmtpd.controller import Controller

    from tests.servers import free_port
    handler = _Scripted(answers, frozenset(hang), slow)
    ctl = Controller(handler, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=True)
    ctl.start()
    outcomes, raised = {}, None

    def done(item, error, detail):
        outcomes[item.key] = ("sent", detail) if error is None else (
            type(error).__name__, error.permanent, error.session, error.sent_maybe, str(error))
    try:
        asyncio.run(send_all(items, SmtpConfig("127.0.0.1", ctl.port, security="none", connections=1, attempts=2,
                                               backoff=0, timeout=0.5), lambda item: True, done))
    except Exception as exc:   # noqa: BLE001 — what the run raised is part of the outcome
        raised = (type(exc).__name__, str(exc))
    finally:
        ctl.stop()
    return outcomes, raised, handler.log


_WIRE = b"Subject: t\r\n\r\nxin chao\r\n"


def _item(key: str, *recipients: str, sender: str = "dondoc@b.example") -> Outgoing:
    return Outgoing(key, sender, recipients, _WIRE)


def test_each_refusal_of_a_letter_is_that_letters_alone_and_the_connection_carries_the_next():
    outcomes, raised, log = _outcomes(
        [_item("partial", "a1@x.example", "a2@x.example"), _item("big", "b@x.example", sender="big@b.example"),
         _item("nobody", "c1@x.example", "c2@x.example"), _item("later", "d@x.example"),
         _item("data", "e@x.example"), _item("ok", "f@x.example", sender="vănthư@b.example")],
        {"RCPT a2@x.example": "550 5.1.1 no such user", "MAIL big@b.example": "552 5.3.4 too big",
         "RCPT c1@x.example": "550 5.1.1 no c1", "RCPT c2@x.example": "553 5.1.3 bad c2",
         "RCPT d@x.example": "450 4.2.1 busy", "DATA e@x.example": "554 5.6.0 rejected"})
    assert raised is None
    assert outcomes == {
        "partial": ("sent", "a2@x.example: 550 5.1.1 no such user"),
        "big": ("DeliveryError", True, False, False, "552 5.3.4 too big"),
        "nobody": ("DeliveryError", True, False, False,
                   "c1@x.example: 550 5.1.1 no c1; c2@x.example: 553 5.1.3 bad c2"),
        "later": ("DeliveryError", False, False, False, "d@x.example: 450 4.2.1 busy"),
        "data": ("DeliveryError", True, False, False, "554 5.6.0 rejected"),
        "ok": ("sent", ""),
    }
    options = [a for c, a in log if c == "OPTIONS"]
    assert options[0] == f"SIZE={len(_WIRE)}" and options[-1] == f"SIZE={len(_WIRE)} SMTPUTF8"
    assert log.count(("RSET", "")) == 5      # after big, nobody, later (twice: retried) and data
    assert ("MAIL", "vănthư@b.example") in log   # one connection all along, and the last went through


@pytest.mark.parametrize("answers,hang,expected,raised", [
    ({"MAIL dondoc@b.example": "550 5.7.1 not allowed"}, (),
     ("SessionRefused", True, True, False), "SessionRefused"),
    ({"MAIL dondoc@b.example": "451 4.3.0 later"}, (), ("DeliveryError", False, True, False), "DeliveryError"),
    ({"RCPT a@x.example": "421 4.3.2 closing"}, (), ("DeliveryError", False, True, False), "DeliveryError"),
    ({}, ("RCPT a@x.example",), ("DeliveryError", False, True, False), "DeliveryError"),
])
def test_a_refusal_or_silence_of_the_session_stops_the_run_and_leaves_the_rest(answers, hang, expected, raised):
    outcomes, got, log = _outcomes([_item("one", "a@x.example"), _item("two", "b@x.example")], answers, hang)
    assert got is not None and got[0] == raised
    assert list(outcomes) == ["one"] and outcomes["one"][:4] == expected   # "two" never tried
    assert ("RCPT", "b@x.example") not in log
    if hang:
        assert outcomes["one"][4] == "SMTPReadTimeoutError: Timed out waiting for server response"


def test_a_slow_server_answering_each_command_within_the_timeout_gets_every_letter():
    outcomes, raised, log = _outcomes([_item("one", "a@x.example"), _item("two", "b@x.example")], {}, slow=0.2)
    assert raised is None and outcomes == {"one": ("sent", ""), "two": ("sent", "")}   # 6 answers, 1.2 s > 0.5 s


def test_a_server_silent_after_the_whole_message_may_have_it_so_it_is_not_sent_again_in_the_run():
    outcomes, raised, log = _outcomes([_item("one", "a@x.example"), _item("two", "b@x.example")], {},
                                      hang={"DATA a@x.example"})
    assert raised is None and outcomes["two"] == ("sent", "")
    assert outcomes["one"] == ("DeliveryError", False, False, True,
                               "hết 0.5 giây chờ máy chủ nhận thư (DONDOC_SMTP_TIMEOUT)")
    assert log.count(("DATA", "a@x.example")) == 1     # not tried again


def test_a_plain_address_goes_on_the_command_line_as_aiosmtplib_would_write_it():
    import random

    from aiosmtplib.email import quote_address

    from dondoc.smtp import _PLAIN, _path
    rnd, tried = random.Random(5321), 0
    for _ in range(20000):   # dots leading, trailing, doubled; %, +, =, - anywhere
        address = ("".join(rnd.choice("aZ09._%+=-") for _ in range(rnd.randint(1, 8))) + "@"
                   + "".join(rnd.choice("az09-.") for _ in range(rnd.randint(3, 10))))
        if _PLAIN.fullmatch(address):
            tried += 1
            assert _path(address, "ascii") == quote_address(address).encode() == f"<{address}>".encode()
    assert tried > 1000
    assert _path("Văn thư <vănthư@ubnd.example>", "utf-8") == "<vănthư@ubnd.example>".encode()


def test_a_worker_that_dies_on_a_bug_stops_the_run_with_that_bug_instead_of_leaving_it_waiting():
    from aiosmtpd.controller import Controller

    from tests.servers import free_port
    ctl = Controller(_Scripted({}), hostname="127.0.0.1", port=free_port())
    ctl.start()

    def done(item, error, detail):
        raise KeyError(f"bug after {item.key}")
    items = [_item(f"k{i}", "a@x.example") for i in range(40)]   # more than the queue holds
    try:
        with pytest.raises(KeyError, match="bug after k"):
            asyncio.run(asyncio.wait_for(send_all(items, SmtpConfig("127.0.0.1", ctl.port, security="none",
                                                                     connections=2), lambda item: True, done), 20))
    finally:
        ctl.stop()
