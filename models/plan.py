"""The plan schema: what `config/units.yaml` may say, checked strictly.

Pure: no I/O. `models.loader.parse_plan` turns YAML text into a `Plan` and maps every
validation error back to the file position it came from.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from functools import cached_property
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.networks import validate_email
from pydantic_core import PydanticCustomError

from models.period import Schedule, parse_due

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")


def _one_line(value: str) -> str:
    # These values end up in mail headers (subject, display names, tags): a line break
    # there would let the YAML inject headers, so refuse it outright.
    if _CONTROL.search(value):
        raise ValueError("không được có dấu xuống dòng hay ký tự điều khiển "
                         "(giá trị này được dùng trong tiêu đề thư)")
    return unicodedata.normalize("NFC", value)


def _text(value: str) -> str:
    if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", value):
        raise ValueError("không được có ký tự điều khiển")
    return unicodedata.normalize("NFC", value.strip())


def _email(value: str) -> str:
    # The address goes into To:/Cc: headers, which RFC 5321 caps at 254 characters.
    if len(value) > 254:
        raise ValueError(f"địa chỉ email dài {len(value)} ký tự, quá 254 ký tự cho phép")
    try:
        address = _one_line(validate_email(value)[1])
    except PydanticCustomError:
        raise ValueError(f"{value[:80]!r} không phải là địa chỉ email hợp lệ") from None
    if not address.isascii():   # most mail servers refuse it (no SMTPUTF8), and dispatch could not send
        raise ValueError(f"{value[:80]!r}: địa chỉ email chỉ được gồm chữ không dấu (tên miền có dấu: viết dạng xn--)")
    return address


def _day_month(value: str) -> str:
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})", value)
    if not m:
        raise ValueError("cần ngày và tháng dạng DD/MM, ví dụ 05/12")
    day, month = int(m[1]), int(m[2])
    try:
        dt.date(2023, month, day)  # a non-leap year: 29/02 does not exist every year
    except ValueError:
        raise ValueError(f"{value} không phải ngày có trong mọi năm") from None
    return f"{day:02d}/{month:02d}"


def _full_date(value: str | dt.date) -> dt.date:
    if isinstance(value, dt.date):
        return value
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", value) if isinstance(value, str) else None
    if not m:
        raise ValueError("cần một ngày dạng DD/MM/YYYY, ví dụ 02/01/2026")
    try:
        return dt.date(int(m[3]), int(m[2]), int(m[1]))
    except ValueError:
        raise ValueError(f"{value} không phải ngày có thật") from None


def _clock(value: str | dt.time) -> dt.time:
    if isinstance(value, dt.time):
        return value
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", value) if isinstance(value, str) else None
    if not m or int(m[1]) > 23 or int(m[2]) > 59:
        raise ValueError("cần một giờ dạng HH:MM, ví dụ 07:30")
    return dt.time(int(m[1]), int(m[2]))


Id = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$",
                          description="lower-case letters, digits and dashes")]
Line = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_one_line)]
Text = Annotated[str, Field(min_length=1), AfterValidator(_text)]
Email = Annotated[str, AfterValidator(_email), Field(json_schema_extra={"format": "email"})]
DayMonth = Annotated[str, AfterValidator(_day_month)]
FullDate = Annotated[dt.date, BeforeValidator(_full_date)]
Clock = Annotated[dt.time, BeforeValidator(_clock)]
def _before(value: int) -> int:
    if value < 1:
        raise ValueError(f"{value} rơi vào hoặc sau hạn: số ngày tính lùi từ hạn "
                         "báo cáo, ít nhất là 1")
    if value > 366:
        raise ValueError(f"{value} ngày: sớm hơn hạn quá một năm")
    return value


BeforeDays = Annotated[int, AfterValidator(_before)]
PositiveDays = Annotated[int, Field(ge=1, le=366)]


# Mailbox providers anyone can sign up to: a unit that claimed one would take every sender there.
_PUBLIC_MAIL = {"gmail.com", "googlemail.com", "yahoo.com", "yahoo.com.vn", "ymail.com", "outlook.com",
                "outlook.com.vn", "hotmail.com", "live.com", "msn.com", "icloud.com", "me.com", "mac.com",
                "mail.ru", "zoho.com", "proton.me", "protonmail.com", "pm.me", "aol.com", "qq.com", "163.com",
                "126.com", "tutanota.com", "fastmail.com", "mail.com"}
# The same providers under country endings: yandex.ru, gmx.de, yahoo.co.uk, hotmail.fr …
_PUBLIC_MAIL_FAMILIES = ("yandex", "gmx", "hotmail", "outlook", "yahoo", "live", "gmail", "aol")


def _domain(value: str) -> str:
    domain = value.strip().lower().removeprefix("@").rstrip(".")
    if not re.fullmatch(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", domain):
        raise ValueError(f"{value[:80]!r} không phải tên miền thư hợp lệ (ví dụ: baodaknong.vn)")
    name, *suffix = domain.split(".")
    if domain in _PUBLIC_MAIL or (name in _PUBLIC_MAIL_FAMILIES and all(len(s) <= 3 for s in suffix)):
        raise ValueError(f"{domain} là dịch vụ thư công cộng: một đơn vị không thể nhận mọi người gửi từ đó; "
                         "hãy ghi địa chỉ cụ thể trong emails")
    return domain


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class DivisionHead(Strict):
    title: Line = Field(description="e.g. Trưởng phòng")
    name: Line


class Issuer(Strict):
    parent: Line = Field(description="parent body, e.g. UBND TỈNH ĐẮK NÔNG")
    name: Line = Field(description="issuing body in capitals, e.g. SỞ THÔNG TIN VÀ TRUYỀN THÔNG")
    short_name: Line = Field(description="the body's name in running text")
    code: Line = Field(description="issuer code in document numbers, e.g. STTTT")
    division: Line = Field(description="drafting division code, e.g. TTBCXB")
    division_name: Line
    place: Line = Field(description="place name of the date line, e.g. Đắk Nông")
    email: Email = Field(description="the collector's mailbox: Reply-To of every letter")
    secretariat_email: Email | None = Field(None, description="receives the daily digest (default: email)")
    phone: Line | None = None
    address: Line | None = None
    division_head: DivisionHead | None = Field(
        None, description="signs the internal escalation memo (default: the division's name, Trưởng phòng)")
    verp: bool = Field(True, description="each letter's envelope sender is its own signed bounce address "
                       "(email's local+b-TOKEN@domain); false when the mail server rewrites the envelope sender")


class Signer(Strict):
    authority: Line | None = Field(None, description="e.g. KT. GIÁM ĐỐC; none when the head signs in person")
    title: Line = Field(description="e.g. PHÓ GIÁM ĐỐC")
    name: Line
    email: Email = Field(description="receives escalations and the draft report")


class Person(Strict):
    title: Line = Field(description="e.g. Phó Giám đốc")
    name: Line
    email: Email


class PlanInfo(Strict):
    id: Id
    type: Line = "KẾ HOẠCH"
    title: Text = Field(description="the plan's own title (trích yếu)")
    number: Line | None = Field(None, description="e.g. 45/KH-STTTT, when registered")
    signed_on: FullDate | None = None
    implements: Text = Field(description="the document the plan implements, cited in letters")
    recipients: list[Line] = Field(min_length=1, description="the plan's Nơi nhận list")
    report_to: Line = Field(description="the body the issuer reports to, in running text, e.g. UBND tỉnh")
    letter_recipients: list[Line] = Field(default_factory=list,
                                          description="extra Nơi nhận lines of every letter, e.g. Ban Giám đốc (b/c)")
    proposals: list[Text] = Field(default_factory=list,
                                  description="section III (kiến nghị) of the yearly report")


class ContentItem(Strict):
    id: Line
    text: Text


class Unit(Strict):
    id: Id
    name: Line = Field(description="full name, as in Kính gửi")
    group: Id
    emails: list[Email] = Field(min_length=1)
    domains: list[Line] = Field(default_factory=list,
                                description="mail domains whose senders speak for the unit")
    contact: Line | None = None
    phone: Line | None = None
    head_email: Email | None = Field(None, description="the unit's head, copied on urging letters")

    @field_validator("domains")
    @classmethod
    def _own_domains(cls, domains: list[str]) -> list[str]:
        return [_domain(d) for d in domains]


class Indicator(Strict):
    id: Id
    name: Line
    unit: Line = Field(description="what is counted, e.g. tin, bài")
    kind: Literal["count", "percent", "decimal"] = Field(
        "count", description="count and decimal are summed; a percent is averaged (with min and max)")


class Assign(Strict):
    groups: list[Id] = Field(default_factory=list)
    units: list[Id] = Field(default_factory=list)

    @model_validator(mode="after")
    def _not_empty(self):
        if not self.groups and not self.units:
            raise ValueError("cần ít nhất một nhóm (groups) hoặc một đơn vị (units)")
        return self


class Event(Strict):
    name: Line
    start: DayMonth
    end: DayMonth | None = None


class Reminder(Strict):
    working_days_before: BeforeDays


class Urging(Strict):
    working_days_before: BeforeDays
    cc_head: bool = True


class Escalation(Strict):
    working_days_before: BeforeDays = 1


class Overdue(Strict):
    every_working_days: PositiveDays
    limit: Annotated[int, Field(ge=0)] | None = Field(None, description="at most this many notices")


class Policy(Strict):
    first_request_days_before: BeforeDays = Field(description="calendar days before the deadline")
    reminders: list[Reminder] = Field(default_factory=list)
    urging: Urging | None = None
    escalation: Escalation | None = None
    overdue: Overdue | None = None
    compile_working_days_after: PositiveDays = Field(
        description="the report is compiled this many working days after the deadline")

    @model_validator(mode="after")
    def _ordered(self):
        # Offsets count back from the deadline; one that is not strictly inside the
        # request window would fall after the deadline or before the first request.
        first = self.first_request_days_before
        for i, r in enumerate(self.reminders):
            if r.working_days_before >= first:
                raise ValueError(f"reminders[{i}] đến trước đề nghị báo cáo đầu tiên "
                                 f"({r.working_days_before} ngày làm việc ≥ {first} ngày)")
        return self


class Group(Strict):
    id: Id
    name: Line
    relation: Literal["subordinate", "peer", "internal"] = Field(
        "peer", description="peer: letters say \"đề nghị\"; subordinate (under the issuer): \"yêu cầu\"; "
                            "internal (a division of the issuer itself): no công văn, a plain email at each stage")
    policy: Policy | None = Field(None, description="the reminder policy of this group's units")


class Task(Strict):
    id: Id
    title: Line = Field(description="short subject, used after V/v in letters")
    text: Text = Field(description="the task in the plan's own words")
    content_items: list[Line] = Field(default_factory=list)
    assign: Assign
    exempt: list[Id] = Field(default_factory=list)
    indicators: list[Id] = Field(default_factory=list)
    due: Annotated[Schedule, BeforeValidator(parse_due)] = Field(
        description='deadlines: "05/12", ["15/06", "15/12"], {every: quarter, day: 20}, "20/10/2026"')
    event: Event | None = None
    policy: Policy | None = Field(None, description="overrides the plan's policy for this task")


class WorkingHours(Strict):
    start: Clock = dt.time(7, 30)
    end: Clock = dt.time(17, 0)

    @model_validator(mode="after")
    def _ordered(self):
        if self.end <= self.start:
            raise ValueError(f"giờ kết thúc {self.end:%H:%M} phải sau giờ bắt đầu {self.start:%H:%M}")
        return self


class CalendarConfig(Strict):
    timezone: Literal["Asia/Ho_Chi_Minh"] = "Asia/Ho_Chi_Minh"
    working_hours: WorkingHours = WorkingHours()
    days_off: list[FullDate] = Field(default_factory=list, description="one-off days off")
    working_days: list[FullDate] = Field(default_factory=list, description="make-up working days")


# (name, lowest, highest) of the five cron fields; weekday 7 is Sunday again, as in cron.
_CRON_FIELDS = (("phút", 0, 59), ("giờ", 0, 23), ("ngày", 1, 31), ("tháng", 1, 12), ("thứ", 0, 7))
_CRON_ITEM = re.compile(r"(?:\*|(\d+)(?:-(\d+))?)(?:/(\d+))?")


def _cron_field(text: str, name: str, low: int, high: int) -> None:
    for item in text.split(","):
        m = _CRON_ITEM.fullmatch(item)
        if not m:
            raise ValueError(f"trường {name} {text!r}: {item!r} không phải *, số, khoảng a-b hay bước /n")
        first, last, step = (int(g) if g is not None else None for g in m.groups())
        for v in (first, last):
            if v is not None and not low <= v <= high:
                raise ValueError(f"trường {name} {text!r}: {v} nằm ngoài khoảng {low}–{high}")
        if first is not None and last is not None and last < first:
            raise ValueError(f"trường {name} {text!r}: khoảng {first}-{last} bị ngược")
        if step is not None and not 1 <= step <= high:
            raise ValueError(f"trường {name} {text!r}: bước /{step} phải từ 1 đến {high}")


def _cron(value: str) -> str:
    fields = value.split()
    if len(fields) != 5:
        raise ValueError(f"{value[:80]!r} không phải dòng cron gồm năm trường (phút giờ ngày tháng thứ)")
    for text, (name, low, high) in zip(fields, _CRON_FIELDS, strict=True):
        _cron_field(text, name, low, high)
    return " ".join(fields)


Cron = Annotated[str, Field(max_length=200), AfterValidator(_cron)]


class Schedules(Strict):
    """When each flow runs under `dondoc serve`, as cron lines in the calendar's time zone.
    The flows themselves skip days off (and escalate skips hours outside working hours)."""
    dispatch: Cron = "0 8 * * 1-5"
    collect: Cron = "*/15 7-16 * * 1-5"
    escalate: Cron = "30 8 * * 1-5"
    report: Cron = "0 9 * * 1-5"     # builds and emails the report only on its compile day


class ReportSpec(Strict):
    period: Literal["year", "half-year", "quarter", "month"]
    compile_working_days_after: PositiveDays | None = Field(
        None, description="working days after the period's last deadline (default: the plan policy's)")

    @property
    def kind(self) -> str:
        return "half" if self.period == "half-year" else self.period


IssueMode = Literal["sign", "notice"]


class Issuing(Strict):
    """How the letters of each stage go out. `sign`: one công văn per stage and day, drafted,
    emailed to the secretariat and sent once `dondoc issue` registers it; `notice`: a plain
    reminder email from the drafting division citing the issued request, no công văn."""
    request: Literal["sign"] = "sign"
    reminder: IssueMode = "notice"
    urging: IssueMode = "sign"
    overdue: IssueMode = "sign"


class Plan(Strict):
    version: Annotated[int, Field(ge=1, le=1, description="schema version")] = 1
    plan: PlanInfo
    issuer: Issuer
    signer: Signer
    escalate_to: Person | None = Field(None, description="receives the escalations (default: the signer)")
    reports: list[ReportSpec] = Field(default_factory=lambda: [ReportSpec(period="year")], min_length=1)
    content_items: list[ContentItem] = Field(default_factory=list)
    indicators: list[Indicator] = Field(default_factory=list)
    groups: list[Group] = Field(min_length=1)
    units: list[Unit] = Field(min_length=1)
    tasks: list[Task] = Field(min_length=1)
    calendar: CalendarConfig = CalendarConfig()
    schedules: Schedules = Schedules()
    issuing: Issuing = Issuing()
    policy: Policy
    templates: Line | None = Field(None, description="folder whose templates override the shipped ones")

    # -- lookups ---------------------------------------------------------------------
    @cached_property
    def _by_id(self) -> dict[str, dict]:
        return {"unit": {u.id: u for u in self.units}, "task": {t.id: t for t in self.tasks}}

    def unit(self, unit_id: str) -> Unit:
        return self._by_id["unit"][unit_id]

    def task(self, task_id: str) -> Task:
        return self._by_id["task"][task_id]

    def has_unit(self, unit_id: str) -> bool:
        return unit_id in self._by_id["unit"]

    def policy_for(self, task: Task, unit: Unit | None = None) -> Policy:
        """The task's own policy, else the unit's group's, else the plan's."""
        group = self._groups.get(unit.group) if unit else None
        return task.policy or (group.policy if group else None) or self.policy

    @cached_property
    def _groups(self) -> dict[str, Group]:
        return {g.id: g for g in self.groups}

    @property
    def escalation_contact(self) -> Person:
        s = self.signer
        return self.escalate_to or Person(title=s.title.capitalize(), name=s.name, email=s.email)

    def group(self, group_id: str) -> Group:
        return self._groups[group_id]

    def mode(self, stage: str) -> str:
        """`sign` or `notice` for a unit stage (see `Issuing`); internal stages are neither."""
        return getattr(self.issuing, stage, "internal")

    def units_of(self, task: Task) -> list[Unit]:
        """Units the task is assigned to, in plan order, exempt ones included."""
        groups, named = set(task.assign.groups), set(task.assign.units)
        return [u for u in self.units if u.group in groups or u.id in named]

    @cached_property
    def digest(self) -> str:
        """A short hash of the plan's content: the ledger records it with each action."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def cross_check(plan: Plan) -> list[tuple[tuple, str]]:
    """Checks that span several parts of the plan; each problem as (path, message)."""
    problems: list[tuple[tuple, str]] = []

    def unique(items, section):
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            if item.id in seen:
                problems.append(((section, i, "id"),
                                 f"id {item.id!r} bị trùng (lần đầu ở {section}[{seen[item.id]}])"))
            seen.setdefault(item.id, i)
        return set(seen)

    group_ids = unique(plan.groups, "groups")
    unit_ids = unique(plan.units, "units")
    unique(plan.tasks, "tasks")
    indicator_ids = unique(plan.indicators, "indicators")
    item_ids = unique(plan.content_items, "content_items")

    home = plan.issuer.email.rsplit("@", 1)[-1].lower()
    internal = {g.id for g in plan.groups if g.relation == "internal"}
    for i, u in enumerate(plan.units):
        if u.group not in group_ids:
            problems.append((("units", i, "group"), f"không có nhóm {u.group!r}"))
        for j, e in enumerate(u.emails if u.group in internal else []):
            if (d := e.rsplit("@", 1)[-1].lower()) != home and not d.endswith("." + home):
                problems.append((("units", i, "emails", j), f"{e}: đơn vị thuộc nhóm nội bộ {u.group!r} phải có "
                                 f"địa chỉ thư của cơ quan ban hành (@{home}); nếu đơn vị ở ngoài cơ quan, đặt "
                                 "nhóm của nó relation: peer hoặc subordinate"))
    for i, t in enumerate(plan.tasks):
        refs = [("assign", "groups", group_ids, "nhóm"), ("assign", "units", unit_ids, "đơn vị"),
                ("exempt", None, unit_ids, "đơn vị"), ("indicators", None, indicator_ids, "chỉ tiêu"),
                ("content_items", None, item_ids, "nội dung")]
        for first, second, known, what in refs:
            values = getattr(t, first) if second is None else getattr(getattr(t, first), second)
            path = (first,) if second is None else (first, second)
            for j, v in enumerate(values):
                if v not in known:
                    problems.append((("tasks", i, *path, j), f"không có {what} {v!r}"))
        if not plan.units_of(t):
            problems.append((("tasks", i, "assign"), "nhiệm vụ không giao cho đơn vị nào"))
    return problems

