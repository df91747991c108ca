"""Per-letter bounce addresses (VERP), pure: sign and check them.

Each letter goes out with its own envelope sender (MAIL FROM, which the receiving server
writes as Return-Path), `<local>+b-<n>-<mac>@<domain>`: `local@domain` is the collector's
mailbox (plus-addressing delivers there), `n` the letter's number in the ledger (base 36)
and `mac` an HMAC-SHA256 over that number and the letter's Message-ID, under a secret only
the ledger knows, truncated to 64 bits and written in lower-case base32 (a local part
survives servers that fold case). A bounce sent back to such an address names its letter
even when it returns none of its headers; nobody without the secret can make one up, and
a number that came to name another letter (a rebuilt table) no longer verifies.

No I/O and no secret in any repr: the secret is given, the letter's Message-ID is looked
up by the caller (`Verp.check`'s `message_id_of`).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass, field

TAG = "b"                     # the sub-address marks a bounce address: local+b-…
MAC_BYTES = 8


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


@dataclass(frozen=True)
class Checked:
    """What a bounce address says: `message_id` of the letter it proves, or `problem` (in
    Vietnamese) when it has our shape but does not verify."""
    message_id: str | None = None
    problem: str | None = None


@dataclass(frozen=True)
class Verp:
    """Bounce addresses of the mailbox `mailbox` (local@domain), signed with `secret`."""
    secret: bytes = field(repr=False)
    mailbox: str

    def _mac(self, number: int, message_id: str) -> str:
        digest = hmac.new(self.secret, f"verp1:{number}:{message_id}".encode(), hashlib.sha256).digest()
        return base64.b32encode(digest[:MAC_BYTES]).decode("ascii").rstrip("=").lower()

    def _parts(self) -> tuple[str, str]:
        local, _, domain = self.mailbox.rpartition("@")
        return local.split("+", 1)[0], domain.lower()

    def address(self, number: int, message_id: str) -> str:
        """The envelope sender of letter `number` (its ledger row number) whose Message-ID
        is `message_id`."""
        local, domain = self._parts()
        return f"{local}+{TAG}-{_base36(number)}-{self._mac(number, message_id)}@{domain}"

    def ours(self, address: str) -> bool:
        """Whether `address` has the shape of one of our bounce addresses (signed or not)."""
        local, domain = self._parts()
        return re.fullmatch(rf"{re.escape(local)}\+{TAG}-[^@]*@{re.escape(domain)}", address.strip().lower(),
                            re.IGNORECASE) is not None

    def check(self, address: str, message_id_of: Callable[[int], str | None]) -> Checked:
        """Whether `address` is a bounce address this secret signed; `message_id_of(n)` gives
        the Message-ID of letter `n` (None when there is none). Not our shape at all: an empty
        Checked."""
        if not self.ours(address):
            return Checked()
        local, domain = self._parts()
        token = address.strip().lower()[len(local) + len(TAG) + 2:-len(domain) - 1]
        m = re.fullmatch(r"([0-9a-z]{1,12})-([a-z2-7]{13})", token)
        if not m:
            return Checked(problem=f"địa chỉ trả lỗi {address} có mã sai dạng (giả hoặc bị sửa)")
        number = int(m[1], 36)
        message_id = message_id_of(number)
        if message_id is None or not hmac.compare_digest(self._mac(number, message_id), m[2]):
            return Checked(problem=f"địa chỉ trả lỗi {address} có chữ ký không đúng (giả, hoặc của một sổ cái khác)")
        return Checked(message_id)


def checker(secret: bytes, mailboxes, message_id_of: Callable[[int], str | None]) -> Callable[[str], Checked]:
    """One check for the bounce addresses of every mailbox in `mailboxes` (the issuers' emails)."""
    verps = [Verp(secret, m) for m in dict.fromkeys(mailboxes)]

    def check(address: str) -> Checked:
        return next((v.check(address, message_id_of) for v in verps if v.ours(address)), Checked())
    return check
