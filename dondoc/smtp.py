"""Send prepared messages over SMTP (aiosmtplib): a few reused connections in parallel, a
rate limit, retries with backoff on 4xx answers and connection errors.

Side effect: the network. What was accepted or refused is reported through callbacks; the
caller records it. No message is built here and nothing here reads the plan or the ledger.

Every failure has a scope. A refusal of the session (login, the sender address, a 5xx
before any recipient) is no letter's fault: the run stops at once (SessionRefused) and
the letters stay as they were. A refusal of a recipient or of one message's DATA belongs to
that letter only: 5xx fails it, 4xx leaves it for a later try, and the run goes on.
"""
from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import aiosmtplib
from aiosmtplib.email import parse_address, quote_address

T = TypeVar("T")


class DeliveryError(Exception):
    """A message that was not delivered. `permanent`: the server refused it for good (5xx);
    otherwise it may go through later (4xx, connection trouble). `session`: the refusal
    concerns the connection, the login or the sender, not this letter; `sent_maybe`: the
    connection was lost after the whole message was handed over, so it may have arrived."""

    def __init__(self, message: str, permanent: bool = False, session: bool = False, sent_maybe: bool = False):
        super().__init__(message)
        self.permanent = permanent
        self.session = session
        self.sent_maybe = sent_maybe


class SessionRefused(DeliveryError):
    """The server refused the session for good (wrong password, login required, sender
    refused): nothing can go out until a person fixes the settings. Nothing was marked."""

    def __init__(self, message: str):
        super().__init__(message, permanent=True, session=True)


class RunIncomplete(DeliveryError):
    """A run that went through but left letters it should have sent: refused for good, or
    refused for now. The message says what to do; `summary` is what the run did."""

    def __init__(self, message: str, summary: dict | None = None):
        super().__init__(message, permanent=False)
        self.summary = summary or {}


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None = None
    password: str | None = None     # from the environment only; never logged
    security: str = "starttls"      # starttls | tls | none
    connections: int = 4
    rate_per_minute: int = 0        # 0: no limit
    attempts: int = 4
    backoff: float = 2.0            # seconds before the 2nd attempt, doubling after
    timeout: float = 600.0          # per command; RFC 5321 allows 10 min for the end of DATA

    def __repr__(self) -> str:       # keep the password out of logs and tracebacks
        return f"SmtpConfig(host={self.host!r}, port={self.port}, security={self.security!r})"


@dataclass(frozen=True)
class Outgoing:
    key: str
    sender: str
    recipients: tuple[str, ...]
    data: bytes


class _RateLimit:
    """A token bucket holding one minute's worth of messages."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self.tokens = float(per_minute)
        self.last: float | None = None

    async def wait(self) -> None:
        if not self.per_minute:
            return
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            if self.last is not None:
                self.tokens = min(self.per_minute, self.tokens + (now - self.last) * self.per_minute / 60)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            await asyncio.sleep((1 - self.tokens) * 60 / self.per_minute)


_PLAIN = re.compile(r"[A-Za-z0-9._%+=-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")   # most addresses: nothing to check


def address_problem(address: str, smtputf8: bool = False) -> str | None:
    """Why `address` cannot be put on an SMTP command line, in Vietnamese; None when it can.
    A non-ASCII address needs the server's SMTPUTF8 extension (RFC 6531)."""
    if _PLAIN.fullmatch(address):
        return None   # what aiosmtplib's parse_address refuses (line breaks, brackets) cannot be in it
    try:
        parse_address(address)
    except ValueError:
        return f"địa chỉ {address!r} không hợp lệ cho thư điện tử"
    if not address.isascii() and not smtputf8:
        return (f"địa chỉ {address} có chữ có dấu (ký tự ngoài ASCII): thư không gửi tới được địa chỉ này "
                "(máy chủ không hỗ trợ SMTPUTF8); hãy dùng địa chỉ không dấu của đơn vị")
    return None


_SESSION_HINTS = {
    530: "máy chủ đòi đăng nhập, hãy đặt DONDOC_SMTP_USERNAME và DONDOC_SMTP_PASSWORD",
    535: "sai tên đăng nhập hoặc mật khẩu, kiểm tra DONDOC_SMTP_USERNAME và DONDOC_SMTP_PASSWORD",
    534: "máy chủ không nhận cách đăng nhập này, kiểm tra DONDOC_SMTP_SECURITY",
    538: "máy chủ chỉ cho đăng nhập qua kết nối mã hóa, hãy đặt DONDOC_SMTP_SECURITY=starttls hoặc tls",
}


def _session(exc: Exception, cfg: SmtpConfig, sender: str | None = None) -> DeliveryError:
    """Classify a failure of the connection, the login or MAIL FROM."""
    where = f"máy chủ thư {cfg.host}:{cfg.port}"
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        said = f"{exc.code} {exc.message}"
        if exc.code < 500:
            return DeliveryError(f"{where} tạm từ chối: {said}", permanent=False, session=True)
        hint = _SESSION_HINTS.get(exc.code) or (
            f"máy chủ không nhận địa chỉ gửi {sender}, kiểm tra DONDOC_MAIL_FROM và quyền gửi của tài khoản"
            + (" (máy chủ chỉ nhận đúng địa chỉ của tài khoản: đặt `verp: false` trong mục issuer của kế hoạch)"
               if sender and "+b-" in sender else "")
            if isinstance(exc, aiosmtplib.SMTPSenderRefused) else "kiểm tra cấu hình DONDOC_SMTP_*")
        return SessionRefused(f"{where} từ chối phiên gửi ({said}): {hint}; thư chưa gửi vẫn chờ, "
                              "sửa xong thì chạy lại")
    if isinstance(exc, (OSError, asyncio.TimeoutError)):   # SMTPServerDisconnected, timeouts are OSErrors too
        return DeliveryError(f"{type(exc).__name__}: {exc}", permanent=False, session=True)
    # e.g. no AUTH or STARTTLS offered: a configuration that no retry will fix
    return SessionRefused(f"{where}: {exc}; kiểm tra DONDOC_SMTP_SECURITY, DONDOC_SMTP_USERNAME; "
                          "thư chưa gửi vẫn chờ, sửa xong thì chạy lại")


def _classify(exc: Exception) -> DeliveryError:
    """Classify a refusal of one letter (its recipients, its DATA)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        words = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        return DeliveryError(words, permanent=all(c >= 500 for c in codes))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return DeliveryError(f"{exc.code} {exc.message}", permanent=exc.code >= 500)
    return DeliveryError(f"{type(exc).__name__}: {exc}", permanent=False)


class _Watch:
    """The per-command timeout of the commands one worker task sends in its transactions, kept
    by one timer for the task instead of aiosmtplib's `asyncio.wait_for` on every answer (a
    future, a timer and one more turn of the loop each). `ask` awaits one answer; when the
    timer finds it waiting `timeout` seconds, it cancels that wait, and `ask` raises what
    aiosmtplib raises on its own timeout (SMTPReadTimeoutError), the connection closed."""

    def __init__(self, timeout: float):
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("_Watch belongs to a task")
        self.loop, self.task, self.timeout, self.fired = asyncio.get_running_loop(), task, timeout, False
        self.since: float | None = None    # when the answer now awaited was asked for
        self.timer = self.loop.call_later(timeout, self._check)

    def _check(self) -> None:
        now = self.loop.time()
        due = None if self.since is None or self.fired else self.since + self.timeout
        if due is not None and now >= due - 0.001:   # the loop may run a timer a hair early
            self.fired, due = True, None
            self.task.cancel()
        self.timer = self.loop.call_at(now + max(self.timeout, 0.01) if due is None else due, self._check)

    async def ask(self, client: aiosmtplib.SMTP, answer: Awaitable[T]) -> T:
        self.since = self.loop.time()
        try:
            return await answer
        except asyncio.CancelledError:
            if not self.fired or self.task.uncancel() > 0:
                raise   # not (only) the timeout: a cancellation from outside goes on
            client.close()   # its answer may still come: the connection is out of step
            raise aiosmtplib.SMTPReadTimeoutError("Timed out waiting for server response") from None
        finally:
            self.since, self.fired = None, False

    def stop(self) -> None:
        self.timer.cancel()


def _path(address: str, encoding: str) -> bytes:
    """`<address>` for MAIL FROM or RCPT TO, as aiosmtplib's `quote_address` writes it: a plain
    address (`_PLAIN`) is already what its parsing returns, so it is not parsed again."""
    if _PLAIN.fullmatch(address):
        return b"<" + address.encode("ascii") + b">"
    return quote_address(address).encode(encoding)


async def _transaction(client: aiosmtplib.SMTP, item: Outgoing, cfg: SmtpConfig, watch: _Watch,
                       ready: Callable[[], None]) -> str:
    """MAIL, RCPT and DATA for one item. Returns the refusals of some recipients (the rest
    got it); raises DeliveryError scoped to the session or to the letter.

    MAIL and RCPT are the commands aiosmtplib's `mail()` and `rcpt()` write, with the same
    answers turned into the same exceptions, through its `execute_command` (which closes the
    connection on a timeout, a loss or a 421): the addresses were checked here already, and
    parsing each again there cost more than the rest of the command."""
    addresses = (item.sender, *item.recipients)
    utf8 = client.supports_extension("smtputf8")
    problems = [p for a in addresses if (p := address_problem(a, utf8))]
    if problems:
        raise DeliveryError("; ".join(problems), permanent=True)
    options = [b"SMTPUTF8"] if not all(a.isascii() for a in addresses) else []
    encoding = "utf-8" if options else "ascii"
    if client.supports_extension("size"):
        options.insert(0, b"SIZE=%d" % len(item.data))
    try:
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()
        answer = await watch.ask(client, client.execute_command(b"MAIL", b"FROM:" + _path(item.sender, encoding),
                                                                *options, timeout=None))
        if answer.code != 250:
            raise aiosmtplib.SMTPSenderRefused(answer.code, answer.message, item.sender)
    except aiosmtplib.SMTPSenderRefused as exc:
        if exc.code == 552:   # RFC 1870: this message is too big; the session is fine
            await _reset(client)
            raise DeliveryError(f"{exc.code} {exc.message}", permanent=True) from None
        raise _session(exc, cfg, item.sender) from None
    except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
        raise _session(exc, cfg, item.sender) from None
    refused: list[aiosmtplib.SMTPRecipientRefused] = []
    try:
        for address in item.recipients:
            answer = await watch.ask(client, client.execute_command(b"RCPT", b"TO:" + _path(address, encoding),
                                                                    timeout=None))
            if answer.code == 421:      # the server is closing the connection
                raise _session(aiosmtplib.SMTPRecipientRefused(answer.code, answer.message, address), cfg)
            if answer.code not in (250, 251):
                refused.append(aiosmtplib.SMTPRecipientRefused(answer.code, answer.message, address))
    except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
        raise _session(exc, cfg) from None
    if len(refused) == len(item.recipients):
        await _reset(client)
        raise _classify(aiosmtplib.SMTPRecipientsRefused(refused))
    try:
        await _data(client, item.data, cfg, watch, ready)
    except aiosmtplib.SMTPResponseException as exc:
        if exc.code == 421:
            raise _session(exc, cfg) from None
        await _reset(client)
        raise _classify(exc) from None
    except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
        why = (f"hết {cfg.timeout:g} giây chờ máy chủ nhận thư (DONDOC_SMTP_TIMEOUT)"
               if isinstance(exc, (asyncio.TimeoutError, aiosmtplib.SMTPTimeoutError))
               else f"{type(exc).__name__}: {exc}")
        raise DeliveryError(why, permanent=False, sent_maybe=True) from None
    return "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in refused)


def wire_ready(data: bytes) -> bool:
    """Whether `data` is already as DATA carries it: every line ends in CRLF, none starts with
    a period (letters.mime writes messages so). Byte counts only: no copy, no regex."""
    crlf = data.count(b"\r\n")
    return (data.endswith(b"\r\n") and data.count(b"\n") == crlf == data.count(b"\r")
            and not data.startswith(b".") and b"\n." not in data)


async def _data(client: aiosmtplib.SMTP, data: bytes, cfg: SmtpConfig, watch: _Watch,
                ready: Callable[[], None]) -> None:
    """DATA with `data`, `ready()` called just before the message's end is written (the server
    can accept it only from then on). A message already in wire form is written as it is:
    aiosmtplib's `data()` would make two regex passes over every message (line ends, period
    quoting), as costly as building it; anything else goes through `data()`, which normalises it."""
    if client.protocol is None or not wire_ready(data):
        ready()
        await client.data(data, timeout=cfg.timeout)
        return
    start = await watch.ask(client, client.execute_command(b"DATA", timeout=None))
    if start.code != 354:
        raise aiosmtplib.SMTPDataError(start.code, start.message)
    ready()
    try:
        client.protocol.write(data + b".\r\n")   # one write, one system call
        answer = await watch.ask(client, client.protocol.read_response(timeout=None))
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
        client.close()
        raise
    if answer.code != 250:
        raise aiosmtplib.SMTPDataError(answer.code, answer.message)


async def _reset(client: aiosmtplib.SMTP) -> None:
    """RSET after a refused transaction, so the connection can carry the next one."""
    try:
        await client.rset()
    except (TimeoutError, aiosmtplib.SMTPException, OSError):
        client.close()


async def send_all(items: AsyncIterator[Outgoing] | list[Outgoing], cfg: SmtpConfig,
                   claim: Callable[[Outgoing], bool],
                   done: Callable[[Outgoing, DeliveryError | None, str], None],
                   ready: Callable[[], None] = lambda: None) -> None:
    """Send every item. Before each send `claim(item)` must return True (the ledger's
    conditional update); after, `done(item, error, detail)` reports the outcome, at once,
    message by message. `ready()` is called before the end of each message is written, so the
    caller can make the outcomes reported so far durable first (a connection's next message
    cannot be accepted before its last one is recorded). A letter's 4xx is retried up to
    `cfg.attempts` times with backoff; a loss of the connection after the whole message was
    handed over is not retried in the run (the message may have arrived). `done` gets an
    error with `session=True` for an item the session failed on: it was not the letter's fault.

    Raises SessionRefused as soon as the server refuses the session for good, and
    DeliveryError(permanent=False) when it could not be reached after every attempt; in
    both cases the remaining items are left untouched, once the workers have stopped."""
    queue: asyncio.Queue = asyncio.Queue(maxsize=cfg.connections * 4)
    limit = _RateLimit(cfg.rate_per_minute)
    stop: list[DeliveryError] = []
    room: list[asyncio.Future] = []   # the producer waiting for a place in the full queue

    def freed(*_) -> None:
        """A worker took an item, or stopped: the producer waiting for room looks again."""
        if room and not room[0].done():
            room[0].set_result(None)

    async def connect() -> aiosmtplib.SMTP:
        tls = cfg.security == "tls"
        client = aiosmtplib.SMTP(hostname=cfg.host, port=cfg.port, use_tls=tls, timeout=cfg.timeout,
                                 start_tls=cfg.security == "starttls",
                                 tls_context=ssl.create_default_context() if cfg.security != "none" else None)
        try:
            await client.connect(timeout=min(cfg.timeout, 60))
            if client.is_ehlo_or_helo_needed:    # the extensions (SIZE, SMTPUTF8) are known from here on
                await client.ehlo()
            if cfg.username:
                await client.login(cfg.username, cfg.password or "")
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise _session(exc, cfg) from None
        return client

    async def worker() -> None:
        client: aiosmtplib.SMTP | None = None
        watch = _Watch(cfg.timeout)
        try:
            while True:
                item = await queue.get()
                freed()
                if item is None:
                    return
                if stop or not claim(item):
                    continue
                error: DeliveryError | None = None
                for attempt in range(cfg.attempts):
                    if attempt:
                        await asyncio.sleep(cfg.backoff * 2 ** (attempt - 1))
                    try:
                        if client is None or not client.is_connected:
                            client = await connect()
                        await limit.wait()
                        detail = await _transaction(client, item, cfg, watch, ready)
                    except DeliveryError as exc:
                        error = exc
                        if client is not None and (exc.session or exc.sent_maybe):
                            client.close()
                            client = None
                        if exc.permanent or exc.sent_maybe or stop:
                            break
                        continue
                    done(item, None, detail)   # recorded now, before the next message
                    error = None
                    break
                if error is not None:
                    done(item, error, "")
                    if error.session:
                        stop.append(error)     # stop: the next run sends the rest
        finally:
            watch.stop()
            if client is not None and client.is_connected:
                try:
                    await client.quit()
                except (TimeoutError, aiosmtplib.SMTPException, OSError):
                    client.close()

    workers = [asyncio.create_task(worker()) for _ in range(cfg.connections)]
    for w in workers:
        w.add_done_callback(freed)

    async def put(item) -> None:
        while queue.full():   # a worker that died on a bug must not leave the producer waiting forever
            if all(w.done() for w in workers):
                await asyncio.gather(*workers)
                raise RuntimeError("every SMTP worker stopped")
            room[:] = [asyncio.get_running_loop().create_future()]
            await room[0]
        queue.put_nowait(item)

    async def each():
        if isinstance(items, list):
            for item in items:
                yield item
        else:
            async for item in items:
                yield item

    try:
        async for item in each():
            if stop:
                break              # build no more letters for a run that cannot send them
            await put(item)
    finally:
        for _ in workers:
            await put(None)   # one stop mark per worker, whichever takes it
        await asyncio.gather(*workers)
    refused = next((e for e in stop if isinstance(e, SessionRefused)), None)
    if refused:
        raise refused
    if stop:
        raise DeliveryError(f"không kết nối được máy chủ thư {cfg.host}:{cfg.port}: {stop[0]} "
                            "(thư chưa gửi vẫn chờ, lần chạy sau sẽ gửi)", permanent=False)
