"""The sender's own rules: the rate limit, and which answers are retried."""
from __future__ import annotations

import asyncio

import aiosmtplib
import pytest

from dondoc.smtp import SmtpConfig, _classify, _RateLimit


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
