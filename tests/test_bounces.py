"""Bounce decisions, pure: signed per-letter bounce addresses (models/verp.py) and what a
bounce proves (models.inbound.judge_bounce)."""
from __future__ import annotations

from models.inbound import addressed_to, judge_bounce
from models.mailparse import parse_reply
from models.verp import Checked, Verp, checker

SECRET = bytes(range(32))
BOX = "dondoc@stttt.example"
OURS = "<abc.request@stttt.example>"
LETTERS = {7: OURS, 8: "<def.request@stttt.example>"}


def dsn(to: str, final: str = "vanthu@som.example", returned: str = "", status: str = "5.1.1") -> bytes:
    original = f"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {returned}\r\n\r\n" if returned else ""
    return (f"Delivered-To: {to}\r\nFrom: MAILER-DAEMON@mx.som.example\r\nTo: {to}\r\nSubject: Undelivered\r\n"
            'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
            "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.som.example\r\n\r\n"
            f"Final-Recipient: rfc822; {final}\r\nAction: failed\r\nStatus: {status}\r\n\r\n{original}--b--\r\n"
            ).encode()


def judge(raw: bytes, sent=(OURS,)):
    check = checker(SECRET, [BOX], LETTERS.get)
    return judge_bounce(parse_reply(raw), addressed_to(raw), set(sent), check)


def test_a_bounce_address_is_lower_case_short_and_names_its_letter():
    verp = Verp(SECRET, BOX)
    address = verp.address(7, OURS)
    local = address.split("@")[0]
    assert address.endswith("@stttt.example") and local.startswith("dondoc+b-7-")
    assert address == address.lower() and len(local) <= 64
    assert verp.check(address, LETTERS.get) == Checked(OURS)
    assert verp.check(address.upper(), LETTERS.get) == Checked(OURS)        # a server that folds case
    assert verp.address(8, LETTERS[8]) != address
    assert "SECRET" not in repr(verp) and str(list(SECRET)) not in repr(verp) and "secret" not in repr(verp)


def test_a_forged_or_moved_token_does_not_verify():
    verp = Verp(SECRET, BOX)
    address = verp.address(7, OURS)
    local, domain = address.split("@")
    assert verp.check(f"{local[:-1]}{'a' if local[-1] != 'a' else 'b'}@{domain}", LETTERS.get).problem
    assert verp.check(address.replace("-7-", "-8-"), LETTERS.get).problem               # another letter's number
    assert verp.check(address, {7: "<other@stttt.example>"}.get).problem             # the row now holds another letter
    assert Verp(b"another ledger", BOX).check(address, LETTERS.get).problem
    assert verp.check("dondoc+b-%@stttt.example", LETTERS.get).problem
    assert verp.check("dondoc@stttt.example", LETTERS.get) == Checked()              # not a bounce address at all
    assert verp.check("dondoc+b-7-x@other.example", LETTERS.get) == Checked()


def test_a_bounce_to_a_valid_address_proves_its_letter_without_the_returned_headers():
    verdict = judge(dsn(Verp(SECRET, BOX).address(7, OURS), final="forward@gmail.example"))
    assert (verdict.status, verdict.message_id, verdict.anywhere) == ("bounce", OURS, True)
    assert [b.address for b in verdict.failed] == ["forward@gmail.example"]


def test_a_delay_notice_to_a_valid_address_marks_nothing():
    verdict = judge(dsn(Verp(SECRET, BOX).address(7, OURS), status="4.4.1").replace(b"Action: failed",
                                                                                     b"Action: delayed"))
    assert verdict.status == "bounce" and verdict.failed == ()


def test_a_forged_token_goes_to_triage_even_with_our_message_id():
    forged = Verp(b"guess", BOX).address(7, OURS)
    verdict = judge(dsn(forged, returned=OURS))
    assert verdict.status == "triage" and "chữ ký không đúng" in verdict.reason


def test_a_valid_address_with_another_letter_of_ours_returned_goes_to_triage():
    verdict = judge(dsn(Verp(SECRET, BOX).address(8, LETTERS[8]), returned=OURS), sent=(OURS, LETTERS[8]))
    assert verdict.status == "triage" and verdict.message_id == LETTERS[8] and "mã của thư khác" in verdict.reason


def test_without_a_bounce_address_the_returned_message_id_must_be_ours():
    assert judge(dsn(BOX, returned=OURS)).status == "bounce"
    assert judge(dsn(BOX, returned=OURS)).anywhere is False            # the caller checks the address too
    assert judge(dsn(BOX, returned="<x@evil.example>")).status == "triage"
    assert judge(dsn(BOX)).status == "triage"


def test_the_delivered_addresses_are_read_from_the_header_block_only():
    raw = (b"Delivered-To: A@x.example\r\nX-Original-To: b@x.example\r\nEnvelope-To: c@x.example\r\n"
           b"To: \"Ten\" <d@x.example>, a@x.example\r\n\r\nTo: e@x.example\r\n")
    assert addressed_to(raw) == ("a@x.example", "b@x.example", "c@x.example", "d@x.example")
