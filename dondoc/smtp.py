"""Send prepared messages over SMTP (aiosmtplib): a few reused connections in parallel, a
rate limit, retries with backoff on 4xx answers and connection errors.

Side effect: the network. What was accepted or refused is reported through callbacks; the
caller records it. No message is built here and nothing here reads the plan or the ledger.
"""
from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aiosmtplib


class DeliveryError(Exception):
    """A message that was not delivered. `permanent`: the server refused it for good (5xx);
    otherwise it may go through later (4xx, connection trouble) and is retried."""

    def __init__(self, message: str, permanent: bool):
        super().__init__(message)
        self.permanent = permanent


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
    timeout: float = 60.0

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


def _classify(exc: Exception) -> DeliveryError:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        words = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        return DeliveryError(words, permanent=all(c >= 500 for c in codes))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return DeliveryError(f"{exc.code} {exc.message}", permanent=exc.code >= 500)
    return DeliveryError(f"{type(exc).__name__}: {exc}", permanent=False)


async def send_all(items: AsyncIterator[Outgoing] | list[Outgoing], cfg: SmtpConfig,
                   claim: Callable[[Outgoing], bool],
                   done: Callable[[Outgoing, DeliveryError | None, str], None]) -> None:
    """Send every item. Before each send `claim(item)` must return True (the ledger's
    conditional update); after, `done(item, error, detail)` reports the outcome.

    When the server cannot be reached after every attempt, the remaining items are left
    untouched and DeliveryError(permanent=False) is raised once the workers have stopped."""
    queue: asyncio.Queue = asyncio.Queue(maxsize=cfg.connections * 4)
    limit = _RateLimit(cfg.rate_per_minute)
    unreachable: list[DeliveryError] = []

    async def connect() -> aiosmtplib.SMTP:
        tls = cfg.security == "tls"
        client = aiosmtplib.SMTP(hostname=cfg.host, port=cfg.port, use_tls=tls, timeout=cfg.timeout,
                                 start_tls=True if cfg.security == "starttls" else False,
                                 tls_context=ssl.create_default_context() if cfg.security != "none" else None)
        await client.connect()
        if cfg.username:
            await client.login(cfg.username, cfg.password or "")
        return client

    async def worker() -> None:
        client: aiosmtplib.SMTP | None = None
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                if unreachable or not claim(item):
                    continue
                error: DeliveryError | None = None
                for attempt in range(cfg.attempts):
                    if attempt:
                        await asyncio.sleep(cfg.backoff * 2 ** (attempt - 1))
                    try:
                        if client is None or not client.is_connected:
                            client = await connect()
                        await limit.wait()
                        refused, _ = await client.sendmail(item.sender, list(item.recipients), item.data)
                        detail = "; ".join(f"{a}: {r.code} {r.message}" for a, r in refused.items())
                        done(item, None, detail)
                        error = None
                        break
                    except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
                        error = _classify(exc)
                        connection_lost = not isinstance(exc, aiosmtplib.SMTPResponseException)
                        if client is not None and connection_lost:
                            client.close()
                            client = None
                        if error.permanent:
                            break
                if error is not None:
                    done(item, error, "")
                    if not error.permanent and client is None:
                        unreachable.append(error)   # stop: the next run sends the rest
        finally:
            if client is not None and client.is_connected:
                try:
                    await client.quit()
                except aiosmtplib.SMTPException:
                    client.close()

    workers = [asyncio.create_task(worker()) for _ in range(cfg.connections)]

    async def put(item) -> None:
        while True:   # a worker that died on a bug must not leave the producer waiting forever
            try:
                return await asyncio.wait_for(queue.put(item), 1)
            except asyncio.TimeoutError:
                if all(w.done() for w in workers):
                    await asyncio.gather(*workers)
                    raise RuntimeError("every SMTP worker stopped") from None

    try:
        if isinstance(items, list):
            for item in items:
                await put(item)
        else:
            async for item in items:
                await put(item)
    finally:
        for _ in workers:
            await put(None)   # one stop mark per worker, whichever takes it
        await asyncio.gather(*workers)
    if unreachable:
        raise DeliveryError(f"SMTP server {cfg.host}:{cfg.port} unreachable: {unreachable[0]}", permanent=False)
