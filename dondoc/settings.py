"""Settings from DONDOC_* environment variables and `.env`, read once at the entry point.

Read as pydantic-settings would (`BaseSettings` with `env_prefix="DONDOC_"`, `env_file=".env"`,
names in any case, keyword arguments first, then the environment, then `.env`), without
importing it: every command, `dondoc status` too, checks its settings, and pydantic-settings
costs a tenth of a second to import. A bad value raises pydantic's ValidationError naming the field.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

PREFIX = "dondoc_"


def environment(env_file: str | os.PathLike[str] | None = ".env") -> dict[str, str | None]:
    """The DONDOC_* variables, without the prefix and lower-cased: those of the process over
    those of `env_file` (python-dotenv's reading, as pydantic-settings does; imported only when
    the file exists). Side effect: reads the file."""
    found: dict[str, str | None] = {}
    path = Path(env_file).expanduser() if env_file is not None else None
    if path is not None and (path.is_file() or path.is_fifo()):
        from dotenv import dotenv_values
        found.update(dotenv_values(path))
    found.update(os.environ)
    return {k.lower().removeprefix(PREFIX): v for k, v in found.items() if k.lower().startswith(PREFIX)}


class SettingsMissing(ValueError):
    """A setting a command needs is not set: the message says which and how, in Vietnamese."""


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_default=True)

    def __init__(self, _env_file: str | os.PathLike[str] | None = ".env", **values: Any) -> None:
        """Keyword arguments over DONDOC_* variables over `_env_file` (None: no file) over the defaults."""
        super().__init__(**{**environment(_env_file), **values})

    config: Path = Field(Path("config/units.yaml"), description="the plan file")
    db: Path = Field(Path("var/dondoc.db"), description="the SQLite ledger")
    out: Path = Field(Path("var/out"), description="letters and reports written here")

    data: Path = Field(Path("var"), description="raw mail and attachments are kept here")
    inbox: str | None = Field(None, description="maildir:PATH for a local Maildir; else the IMAP settings")
    imap_host: str | None = None
    imap_port: int = 993
    imap_username: str | None = None
    imap_password: SecretStr | None = None
    imap_security: Literal["tls", "starttls", "none"] = "tls"
    imap_folder: str = "INBOX"
    imap_move_to: str | None = Field(None, description="move kept mail to this folder instead of flagging it seen")
    max_attachment_mb: int = Field(25, ge=1)

    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_connections: int = Field(4, ge=1, le=32, description="parallel SMTP connections")
    smtp_rate_per_minute: int = Field(0, ge=0, description="at most this many messages a minute (0: no limit)")
    smtp_attempts: int = Field(4, ge=1, description="tries per message on 4xx answers and connection errors")
    smtp_backoff: float = Field(2.0, ge=0, description="seconds before the second try, doubling after")
    smtp_timeout: float = Field(600.0, gt=0, description="seconds to wait for each SMTP answer; RFC 5321 allows "
                                "10 minutes for the end of DATA (connecting waits at most 60)")
    mail_from: str | None = Field(None, description="From address; defaults to the plan's issuer email")
    ack_ahead: int = Field(500, ge=0, description="when at least this many replies wait to be read, a second "
                           "process sends their acknowledgements while they are read (0: always)")
    accept_new_ledger: bool = Field(False, description="send although the output folder holds another ledger's "
                                    "letters (set by `dondoc run … --i-know-the-ledger-is-new`)")

    web_host: str = Field("127.0.0.1", description="the web page listens here; anything but loopback requires a login")
    web_port: int = Field(8080, ge=1, le=65535, description="the web page's port (`--web-port`)")
    web_accounts: Path = Field(Path("var/web-accounts"), description="the web page's accounts (`dondoc web "
                               "--add-account NAME`), one `name:scrypt$…` line each; kept outside the plan")

    def environ(self) -> dict[str, str]:
        """These settings as the DONDOC_* variables that give them back (secrets in clear: only
        for the environment of a process of ours, `dondoc.acker`)."""
        out = {}
        for name, value in self:
            if value is not None:
                out[f"DONDOC_{name.upper()}"] = str(value.get_secret_value() if isinstance(value, SecretStr) else value)
        return out

    def inbox_source(self):
        """The configured mailbox (a side effect: IMAP logs in here)."""
        from dondoc.inbox import ImapSource, MaildirSource
        if self.inbox and self.inbox.startswith("maildir:"):
            return MaildirSource(Path(self.inbox.removeprefix("maildir:")))
        if not self.imap_host:
            raise SettingsMissing("chưa đặt hộp thư để đọc thư trả lời: đặt DONDOC_INBOX=maildir:ĐƯỜNG-DẪN, "
                                  "hoặc DONDOC_IMAP_HOST cùng DONDOC_IMAP_USERNAME, DONDOC_IMAP_PASSWORD")
        return ImapSource(self.imap_host, self.imap_port, self.imap_username or "",
                          self.imap_password.get_secret_value() if self.imap_password else "",
                          self.imap_security, self.imap_folder, self.imap_move_to)

    def smtp(self):
        from dondoc.smtp import SmtpConfig
        return SmtpConfig(host=self.smtp_host, port=self.smtp_port, username=self.smtp_username,
                          password=self.smtp_password.get_secret_value() if self.smtp_password else None,
                          security=self.smtp_security, connections=self.smtp_connections,
                          rate_per_minute=self.smtp_rate_per_minute, attempts=self.smtp_attempts,
                          backoff=self.smtp_backoff, timeout=self.smtp_timeout)
