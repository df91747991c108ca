"""The reply form read back, pure: which cell answers which content item, the difficulties
and the proposals a unit wrote.

The form (templates/docx/reply-form.docx) marks every row it asks about with an id in square
brackets, as the indicator rows do (`[tin-bai]`): a content item's row carries `[nd:ID]`
(ID the plan's content item id), the difficulties row `[kho-khan]`, the proposals row
`[de-xuat]`. The answer is the row's last cell. A unit that deleted a marker is still read
when the row's label is the content item's text.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

ITEM_MARK = re.compile(r"\[nd:([^\]\s]+)\]")
FIELD_MARKS = {"kho-khan": "difficulties", "de-xuat": "proposals"}
_FIELD = re.compile(r"\[(kho-khan|de-xuat)\]")
# what people write in a cell that says nothing: dots, dashes, "không", "không có", "chưa có"
_NOTHING = re.compile(r"^[\s.\-–—_…/x]*$|^(?:không|khong|không có|khong co|chưa có|chua co|n/?a)[\s.]*$", re.IGNORECASE)


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split()).lower().rstrip(".")


def clean(text: str) -> str:
    """A cell's text: NFC, each line's spaces collapsed, empty lines dropped; "" for a cell
    that says nothing ("…", "-", "không", "không có")."""
    lines = [" ".join(line.split()) for line in unicodedata.normalize("NFC", text).splitlines()]
    text = "\n".join(line for line in lines if line)
    return "" if _NOTHING.match(text) else text


@dataclass(frozen=True)
class FormAnswers:
    items: dict[str, str] = field(default_factory=dict)   # content item id -> what the unit did
    difficulties: str = ""
    proposals: str = ""

    def __bool__(self) -> bool:
        return bool(self.items or self.difficulties or self.proposals)


def _answer(row: list[str], marked: int) -> str:
    """The row's last cell, when it is not the cell holding the marker (a spanned cell repeats)."""
    last = row[-1]
    return "" if len(row) <= marked + 1 or last == row[marked] else clean(last)


def read_form(tables: list[list[list[str]]], items: Mapping[str, str] | None = None) -> FormAnswers:
    """What the reply form's tables (rows of cell texts, as `dondoc.extract` gives them) say:
    per content item (by its `[nd:ID]` marker, else by its text in `items`, id -> text), the
    difficulties and the proposals. Empty answers are left out; a row read twice keeps its
    first non-empty answer. Pure."""
    by_text = {_norm(t): i for i, t in (items or {}).items()}
    out: dict[str, str] = {}
    fields: dict[str, str] = {}
    for table in tables:
        for row in table:
            for col, cell in enumerate(row[:-1]):
                if m := ITEM_MARK.search(cell):
                    target, key = out, m[1]
                elif m := _FIELD.search(cell):
                    target, key = fields, FIELD_MARKS[m[1]]
                elif _norm(cell) in by_text:
                    target, key = out, by_text[_norm(cell)]
                else:
                    continue
                answer = _answer(row, col)
                if answer and not target.get(key):
                    target[key] = answer
                break
    return FormAnswers(out, fields.get("difficulties", ""), fields.get("proposals", ""))


def is_form(tables: list[list[list[str]]]) -> bool:
    """Whether these tables are the reply form (some row carries one of its markers)."""
    return any(ITEM_MARK.search(c) or _FIELD.search(c) for t in tables for r in t for c in r)


TEXT_KEPT = 8_000   # characters of a report's own text kept with it (what the report quotes from)


def substance(answers: FormAnswers, texts: list[str], body: str, estimates=()) -> dict:
    """What is kept with a report (the ledger's `form` column): the form's answers, the
    report's own text (the attachments' text other than the form, else the reply's own
    text when it is the report: `body`), and the ids of the indicators given as estimates."""
    text = "\n".join(t.strip() for t in texts if t and t.strip()) or body.strip()
    out: dict = {}
    if answers.items:
        out["items"] = dict(answers.items)
    if answers.difficulties:
        out["difficulties"] = answers.difficulties
    if answers.proposals:
        out["proposals"] = answers.proposals
    if text:
        out["text"] = text[:TEXT_KEPT]
    if estimates:
        out["estimates"] = sorted(estimates)
    return out
